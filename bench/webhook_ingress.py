"""Webhook acknowledgement latency and sustained rate of a real `smsdesk serve`, on loopback.

For each offered rate (default 100 and 300 req/s, each for 30 s: issue 15's matrix; 1,000 is
optional), a fresh server is started as users run it: `python -m app.cli serve` of this
checkout, embedded mode (SQLite, console provider, the worker child), the AI layer on with the
shipped knowledge, prompts and flows (named explicitly: the server runs in a scratch folder; a
run whose AI failed to load is refused). It is sent distinct, genuinely signed Twilio
inbound-SMS webhooks on a fixed schedule:
open loop, request i leaves at t0 + i/rate whatever happened to the earlier ones, so a slow
server meets more load, not less. Latency is measured from the scheduled instant to the end of
the answer (no coordinated omission); the time from the actual write is reported too.

Afterwards the run waits for every job to finish and checks the database: messages lost
(acknowledged with 200 but not stored), duplicated (stored or processed more than once).

At `--stop-rate` (default 300 req/s) a fraction of the texts are STOPs from customers who have
replies queued (set up before the clock starts: a question, then replies queued through the
integrator API, held in the queue by a send job of the same customer that is not due yet).
STOP-to-suppression latency is measured from the instant the STOP was sent to the consent
event's `processed_at` and to the `cancelled` steps of the queued replies (timestamps written
in the transactions that commit them; client and server share the machine's clock). Then the
held queues are released and the run checks that none of those replies was sent.

The baseline, measured in the same run: the same rates with `SMSDESK_BOT=off` (people only,
no AI CPU in the worker). `ratios_to_baseline` in the JSON is AI-on over bot-off per rate: what
the AI's work costs the acknowledgements (issue 15: it starved them).

The load generator is a small HTTP/1.1 keep-alive client on asyncio streams: measured on this
machine, httpx2 spends 0.8-1.2 ms of CPU per request (a whole core at 1,000 req/s, on a 2-core
machine shared with the server), this client about 0.15 ms.

    python bench/webhook_ingress.py [--rates 100,300] [--seconds 30] [--baseline off|none]
                                    [--json OUT.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import httpx2
from sqlalchemy import Engine, create_engine, func, update
from sqlmodel import Session, col, select
from twilio.request_validator import RequestValidator

from app.storage import make_engine
from app.storage.tables import (
    ComplianceDecision,
    ConsentEvent,
    Job,
    Message,
    MessageStatus,
    OutboxEntry,
)

REPO = Path(__file__).resolve().parents[1]
SERVE = [sys.executable, "-m", "app.cli", "serve"]
"""The server of this checkout (`smsdesk serve` as users run it, from this repository's code)."""
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
API_KEY = "bench-api-key-0123456789"
BUSINESS_NUMBER = "+14155550100"
SMS_PATH = "/webhooks/twilio/sms"
TARGETS = [{"rate": 100, "ack_p99_ms": 20.0}, {"rate": 300, "ack_p99_ms": 50.0}]
"""Issue 15, embedded mode with the AI on: ack p99 per offered rate (30 s each)."""
STOP_P99_MS = 1000.0
"""STOP-to-suppression p99 while the backlog is there."""
QUESTIONS = [
    "What time do you open?",
    "Is my order ready for pickup?",
    "Can I move my appointment to Friday at 3pm?",
    "Do you have the blue one in a medium",
    "I was charged twice, can you refund one",
    "Thanks! See you tomorrow",
]
AREA_CODES = ["212", "310", "415", "617", "312", "206", "303", "512", "404", "305"]
REPLY_BODY = "Acme: your order is ready for pickup. Reply STOP to opt out."
HOLD_PREFIX = "bench-hold:"
STOP_AREA = "+1646555"  # the customers who text STOP (their sends are held until the end)
HELD_KEYS = f"send|default|{STOP_AREA}"


# --------------------------------------------------------------------------- the server


class Server:
    """`smsdesk serve` in a subprocess on a free loopback port, with its own data directory."""

    def __init__(
        self,
        workdir: Path,
        *,
        workers: int | None,
        log_level: str,
        worker_process: bool,
        bot: str,
    ) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.workdir = workdir
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite:///{workdir / 'data' / 'smsdesk.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMSDESK_")}
        env |= {
            "SMSDESK_ENV": "test",
            "SMSDESK_DATA_DIR": str(workdir / "data"),
            "SMSDESK_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "SMSDESK_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "SMSDESK_PUBLIC_BASE_URL": self.base_url,
            "SMSDESK_API_KEYS": API_KEY,
            "SMSDESK_LOG_LEVEL": log_level,
            "SMSDESK_WORKER_PROCESS": str(worker_process).lower(),
            "SMSDESK_BOT": bot,
            # The server runs in a scratch folder: the shipped knowledge, prompts and flows are
            # named explicitly (relative defaults would not be found there).
            "SMSDESK_KNOWLEDGE_DIR": str(REPO / "knowledge"),
            "SMSDESK_CANNED_RESPONSES_FILE": str(REPO / "knowledge" / "canned_responses.yaml"),
            "SMSDESK_PROMPTS_DIR": str(REPO / "prompts"),
            "SMSDESK_FLOWS_DIR": str(REPO / "flows"),
            "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), env.get("PYTHONPATH")))),
        }
        if workers is not None:
            env["SMSDESK_WORKERS"] = str(workers)
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 300.0) -> None:
        self._log = (self.workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [*SERVE, "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"smsdesk serve exited:\n{self.log_tail()}")
            with contextlib.suppress(httpx2.HTTPError):
                health = httpx2.get(self.base_url + "/healthz", timeout=1.0)
                state = health.json() if health.status_code == 200 else {}
                # A run "with the AI" whose AI failed to load would measure people-only
                # processing: refuse it, with the server's reason.
                if str(state.get("ai", "")).startswith("failed"):
                    self.stop()
                    raise RuntimeError(f"the server's AI layer failed: {state['ai']}")
                # Workers ready and the AI loaded (or off): start-up does not skew the run.
                if state.get("workers") == "ready" and state.get("ai") in ("ready", "off"):
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"smsdesk serve not healthy within {timeout} s:\n{self.log_tail()}")

    def cpu_seconds(self) -> float | None:
        """User + system CPU the server process has used (Linux), or None."""
        if self.process is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / "server.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- the load


@dataclass
class Webhook:
    """One prepared, signed delivery."""

    sid: str
    phone: str
    body: str
    data: bytes
    is_stop: bool = False


def signed_webhook(server: Server, sid: str, phone: str, body: str) -> Webhook:
    form = {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0",
        "ToCity": "SAN FRANCISCO", "FromZip": "94105", "SmsSid": sid, "FromState": "CA",
        "SmsStatus": "received", "FromCity": "SAN FRANCISCO", "Body": body,
        "FromCountry": "US", "To": BUSINESS_NUMBER, "ToZip": "94103", "NumSegments": "1",
        "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": phone, "ApiVersion": "2010-04-01",
    }  # fmt: skip
    signature = RequestValidator(AUTH_TOKEN).compute_signature(server.base_url + SMS_PATH, form)
    content = urlencode(form).encode()
    head = (
        f"POST {SMS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "User-Agent: TwilioProxy/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(content)}\r\n\r\n"
    )
    return Webhook(sid, phone, body, head.encode() + content, is_stop=body == "STOP")


def new_sid() -> str:
    return "SM" + uuid.uuid4().hex


def customer(i: int) -> str:
    """A distinct customer number per request (100,000 before any repeats)."""
    return f"+1{AREA_CODES[i % len(AREA_CODES)]}555{(i // len(AREA_CODES)) % 10_000:04d}"


def stop_customer(j: int) -> str:
    return f"{STOP_AREA}{j:04d}"


class Pool:
    """Keep-alive HTTP/1.1 connections to the server, at most `size` at once."""

    def __init__(self, port: int, size: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(size)
        self.opened = 0

    async def exchange(self, data: bytes, timeout: float) -> tuple[int | str, float]:
        """Send one request; (status or error name, perf_counter when it was written).

        A kept-alive connection the server closed while it sat idle (uvicorn's keep-alive
        timeout) fails before any byte of the answer: the request is sent again on a new
        connection, as every HTTP client does (the server never read it)."""
        await self.slots.acquire()
        written = time.perf_counter()
        connection = None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    reused = bool(self.idle)
                    if reused:
                        connection = self.idle.pop()
                    else:
                        connection = await asyncio.open_connection("127.0.0.1", self.port)
                        self.opened += 1
                    reader, writer = connection
                    written = time.perf_counter()
                    try:
                        writer.write(data)
                        head = await reader.readuntil(b"\r\n\r\n")
                    except (asyncio.IncompleteReadError, ConnectionError) as exc:
                        stale = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
                        if reused and stale:
                            writer.close()
                            connection = None
                            continue
                        raise
                    break
                status = int(head.split(b" ", 2)[1])
                length, close = 0, False
                for line in head.lower().split(b"\r\n")[1:]:
                    if line.startswith(b"content-length:"):
                        length = int(line[15:])
                    elif line.startswith(b"connection:") and b"close" in line:
                        close = True
                await reader.readexactly(length)
            if close:
                writer.close()
            else:
                self.idle.append(connection)
            return status, written
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if connection is not None:
                connection[1].close()
            return ("timeout" if isinstance(exc, TimeoutError) else type(exc).__name__), written
        finally:
            self.slots.release()

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


@dataclass
class Outcome:
    scheduled: float
    written: float = 0.0
    written_wall: float = 0.0
    done: float = 0.0
    result: int | str = "not sent"


async def open_loop(
    port: int, hooks: Sequence[Webhook], rate: float, *, connections: int, timeout: float
) -> tuple[list[Outcome], float, int]:
    """Send hooks[i] at t0 + i/rate; returns the outcomes, t0 and connections opened."""
    pool = Pool(port, connections)
    t0 = time.perf_counter() + 0.1
    outcomes = [Outcome(t0 + i / rate) for i in range(len(hooks))]
    # perf_counter -> wall clock, to compare send instants with database timestamps.
    wall_offset = time.time() - time.perf_counter()

    async def one(i: int) -> None:
        outcome = outcomes[i]
        outcome.result, outcome.written = await pool.exchange(hooks[i].data, timeout)
        outcome.written_wall = outcome.written + wall_offset
        outcome.done = time.perf_counter()

    tasks = []
    for i, outcome in enumerate(outcomes):
        delay = outcome.scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    pool.close()
    return outcomes, t0, pool.opened


def run_loop(coroutine: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


# --------------------------------------------------------------------------- the database


class Database:
    """The server's SQLite file: reads that never take its write lock, writes with its engine."""

    def __init__(self, url: str) -> None:
        self.reader: Engine = create_engine(url, connect_args={"timeout": 60})
        self.writer: Engine = make_engine(url)

    def close(self) -> None:
        self.reader.dispose()
        self.writer.dispose()

    def busy_jobs(self, *, ignore_holds: bool) -> int:
        """Jobs pending or running; `ignore_holds`: leaving out the held customers' sends."""
        query = select(func.count()).where(col(Job.state).in_(("pending", "running")))
        if ignore_holds:
            query = query.where(~col(Job.key).startswith(HELD_KEYS))
        with Session(self.reader) as session:
            return int(session.exec(query).one())

    def wait_idle(self, seconds: float, *, ignore_holds: bool = False) -> float | None:
        """Seconds until no job is pending or running; None if `seconds` ran out first."""
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            if self.busy_jobs(ignore_holds=ignore_holds) == 0:
                return time.monotonic() - start
            time.sleep(0.25)
        return None

    def hold_sends(self, phones: Sequence[str]) -> None:
        """One not-yet-due send job per customer: their later sends queue behind it."""
        now = datetime.now(UTC)
        with Session(self.writer) as session:
            for phone in phones:
                session.add(
                    Job(
                        kind="send_outbound",
                        key=f"send|default|{phone}",
                        payload={"message_id": str(uuid.uuid4())},  # none: a no-op when run
                        dedupe_key=HOLD_PREFIX + phone,
                        run_after=now + timedelta(hours=1),
                        created_at=now,
                    )
                )
            session.commit()

    def release_holds(self) -> None:
        with Session(self.writer) as session:
            session.exec(  # type: ignore[call-overload]
                update(Job)
                .where(col(Job.dedupe_key).startswith(HOLD_PREFIX))
                .values(run_after=datetime.now(UTC))
            )
            session.commit()

    def integrity(self, sids: set[str], acknowledged: set[str]) -> dict[str, int]:
        """Lost, duplicated and unprocessed texts among `sids`."""
        with Session(self.reader) as session:
            stored = Counter(
                session.exec(
                    select(Message.provider_message_id).where(
                        Message.direction == "inbound", Message.provider == "twilio"
                    )
                ).all()
            )
            processed_twice = session.exec(
                select(func.count()).select_from(
                    select(MessageStatus.message_id)
                    .where(MessageStatus.status == "processed")
                    .group_by(col(MessageStatus.message_id))
                    .having(func.count() > 1)
                    .subquery()
                )
            ).one()
            decided_twice = session.exec(
                select(func.count()).select_from(
                    select(ComplianceDecision.provider_message_id)
                    .where(ComplianceDecision.direction == "inbound")
                    .group_by(col(ComplianceDecision.provider_message_id))
                    .having(func.count() > 1)
                    .subquery()
                )
            ).one()
            unprocessed = session.exec(
                select(Message.provider_message_id).where(
                    Message.direction == "inbound", Message.status != "processed"
                )
            ).all()
        return {
            "stored": sum(1 for sid in sids if stored[sid] >= 1),
            "lost": sum(1 for sid in acknowledged if stored[sid] == 0),
            "duplicated": sum(1 for sid in sids if stored[sid] > 1)
            + int(processed_twice)
            + int(decided_twice),
            "stored_unacknowledged": sum(1 for sid in sids - acknowledged if stored[sid] >= 1),
            "unprocessed": sum(1 for sid in unprocessed if sid in sids),
        }

    def suppression(
        self, stops: Sequence[Webhook], sent_wall: dict[str, float]
    ) -> tuple[list[float], list[float], int]:
        """Per STOP: seconds from sending to the opt-out event, and to its queue cancelled;
        and how many STOPs are missing either."""
        ids = [f"twilio:{hook.sid}" for hook in stops]
        with Session(self.reader) as session:
            events = dict(
                session.exec(
                    select(ConsentEvent.provider_message_id, ConsentEvent.processed_at).where(
                        col(ConsentEvent.provider_message_id).in_(ids),
                        ConsentEvent.event_type == "opt_out",
                    )
                ).all()
            )
            rows = session.exec(
                select(Message.idempotency_key, MessageStatus.at)
                .join(MessageStatus, col(MessageStatus.message_id) == col(Message.id))
                .where(
                    col(Message.idempotency_key).startswith("bench-reply:"),
                    MessageStatus.status == "cancelled",
                )
            ).all()
        cancelled: dict[str, datetime] = {}
        for key, at in rows:
            phone = str(key).split(":")[1]
            cancelled[phone] = max(at, cancelled.get(phone, at))
        to_ledger, to_cancelled, missing = [], [], 0
        for hook in stops:
            event = events.get(f"twilio:{hook.sid}")
            done = cancelled.get(hook.phone)
            if event is None or done is None or hook.sid not in sent_wall:
                missing += 1
                continue
            to_ledger.append(event.timestamp() - sent_wall[hook.sid])
            to_cancelled.append(done.timestamp() - sent_wall[hook.sid])
        return to_ledger, to_cancelled, missing

    def replies_sent(self, phones: Sequence[str]) -> tuple[int, int]:
        """Queued replies of the STOP customers that reached the provider, and confirmations."""
        with Session(self.reader) as session:
            rows = session.exec(
                select(OutboxEntry.idempotency_key).where(col(OutboxEntry.to_number).in_(phones))
            ).all()
        replies = sum(1 for key in rows if key.startswith("bench-reply:"))
        confirmations = sum(1 for key in rows if key.startswith("opt_out_confirmation:"))
        return replies, confirmations


# --------------------------------------------------------------------------- one level


def percentiles(values: Sequence[float], scale: float = 1.0) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] * scale, 2)

    return {
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": round(ordered[-1] * scale, 2),
        "mean": round(sum(ordered) / len(ordered) * scale, 2),
    }


def post_many(server: Server, hooks: Sequence[Webhook], concurrency: int = 8) -> None:
    """Deliver set-up webhooks (not measured), each until it is acknowledged."""

    async def run() -> None:
        pool = Pool(server.port, concurrency)
        pending = list(hooks)
        for _ in range(5):
            results = await asyncio.gather(*(pool.exchange(h.data, 15.0) for h in pending))
            pending = [h for h, (result, _) in zip(pending, results, strict=True) if result != 200]
            if not pending:
                break
            await asyncio.sleep(0.5)
        pool.close()
        if pending:
            raise RuntimeError(f"{len(pending)} set-up webhooks were never acknowledged")

    run_loop(run())


def queue_replies(server: Server, phones: Sequence[str], per_phone: int) -> int:
    """Replies queued through the integrator API; how many the API accepted as queued."""
    queued = 0
    with httpx2.Client(base_url=server.base_url, timeout=30.0) as client:
        for phone in phones:
            for k in range(per_phone):
                response = client.post(
                    "/api/v1/messages/outbound",
                    json={
                        "to": phone,
                        "body": REPLY_BODY,
                        "category": "reply",
                        "idempotency_key": f"bench-reply:{phone}:{k}",
                    },
                    headers={"Authorization": f"Bearer {API_KEY}"},
                )
                queued += response.status_code == 202 and response.json()["status"] == "queued"
    return queued


@dataclass
class Level:
    rate: float
    seconds: float
    stops: int
    bot: str
    report: dict[str, Any] = field(default_factory=dict)


def run_level(level: Level, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="smsdesk-bench-"))
    server = Server(workdir, workers=args.workers, log_level=args.log_level,
                    worker_process=args.worker_process, bot=level.bot)  # fmt: skip
    server.start()
    database = Database(server.database_url)
    try:
        return _measure(level, args, rng, server, database)
    finally:
        database.close()
        server.stop()
        if args.keep:
            print(f"  kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _measure(
    level: Level,
    args: argparse.Namespace,
    rng: random.Random,
    server: Server,
    database: Database,
) -> dict[str, Any]:
    # Warm-up (not measured): first requests pay for imports and caches.
    warm = [
        signed_webhook(server, new_sid(), customer(90_000 + i), QUESTIONS[0]) for i in range(50)
    ]
    stop_phones = [stop_customer(j) for j in range(level.stops)]
    queued = 0
    if level.stops:
        database.hold_sends(stop_phones)
        warm += [signed_webhook(server, new_sid(), p, QUESTIONS[1]) for p in stop_phones]
    post_many(server, warm)
    if database.wait_idle(args.drain_timeout, ignore_holds=True) is None:
        raise RuntimeError("warm-up did not finish")
    if level.stops:
        queued = queue_replies(server, stop_phones, args.replies_per_stop)

    count = round(level.rate * level.seconds)
    stop_at = set(rng.sample(range(count), level.stops)) if level.stops else set()
    stop_iter = iter(stop_phones)
    hooks = [
        signed_webhook(server, new_sid(), next(stop_iter), "STOP")
        if i in stop_at
        else signed_webhook(server, new_sid(), customer(i), QUESTIONS[i % len(QUESTIONS)])
        for i in range(count)
    ]
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    outcomes, t0, opened = run_loop(
        open_loop(server.port, hooks, level.rate, connections=args.max_connections,
                  timeout=args.timeout)
    )  # fmt: skip
    cpu_after = server.cpu_seconds()
    drained = database.wait_idle(args.drain_timeout, ignore_holds=True)
    drain_seconds = None if drained is None else round(time.monotonic() - started, 2)

    acked = [o for o in outcomes if o.result == 200]
    errors = Counter(str(o.result) for o in outcomes if o.result != 200)
    last = max((o.done for o in acked), default=t0)
    sids = {h.sid for h in hooks}
    acknowledged = {h.sid for h, o in zip(hooks, outcomes, strict=True) if o.result == 200}
    report: dict[str, Any] = {
        "bot": level.bot,
        "offered_rate": level.rate,
        "seconds": level.seconds,
        "requests": count,
        "acknowledged": len(acked),
        "errors": dict(errors),
        "achieved_rate": round(len(acked) / max(last - t0, 1e-9), 1),
        "send_rate": round(count / max(outcomes[-1].written - t0, 1e-9), 1),
        "ack_latency_ms": percentiles([o.done - o.scheduled for o in acked], 1000),
        "ack_latency_from_write_ms": percentiles([o.done - o.written for o in acked], 1000),
        "client_send_lag_ms": percentiles([o.written - o.scheduled for o in outcomes], 1000),
        "connections_opened": opened,
        "server_cpu_seconds": (
            round(cpu_after - cpu_before, 2) if cpu_before is not None and cpu_after else None
        ),
        "processing_finished_after_s": drain_seconds,
        **database.integrity(sids, acknowledged),
        "stop": None,
    }
    if level.stops:
        stops = [h for h in hooks if h.is_stop]
        sent_wall = {
            h.sid: o.written_wall for h, o in zip(hooks, outcomes, strict=True) if h.is_stop
        }
        to_ledger, to_cancelled, missing = database.suppression(stops, sent_wall)
        database.release_holds()
        database.wait_idle(args.drain_timeout)
        replies_sent, confirmations = database.replies_sent(stop_phones)
        report["stop"] = {
            "stops": len(stops),
            "replies_queued_before": queued,
            "to_ledger_ms": percentiles(to_ledger, 1000),
            "to_queue_cancelled_ms": percentiles(to_cancelled, 1000),
            "missing": missing,
            "queued_replies_sent_after_stop": replies_sent,
            "confirmations_sent": confirmations,
        }
    return report


# --------------------------------------------------------------------------- report


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def print_table(results: Sequence[dict[str, Any]]) -> None:
    header = (
        f"{'bot':>4} {'offered/s':>9} {'achieved/s':>10} {'acked':>7} {'errors':>7} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>9} {'max ms':>9} {'lost':>5} {'dup':>4} "
        f"{'drained s':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        lat = r["ack_latency_ms"]
        print(
            f"{r['bot']:>4} {r['offered_rate']:>9,.0f} {r['achieved_rate']:>10,.1f} "
            f"{r['acknowledged']:>7,} {sum(r['errors'].values()):>7,} {_ms(lat['p50']):>8} "
            f"{_ms(lat['p95']):>8} {_ms(lat['p99']):>9} {_ms(lat['max']):>9} {r['lost']:>5} "
            f"{r['duplicated']:>4} {r['processing_finished_after_s'] or '-':>9}"
        )
    for r in results:
        if r["stop"]:
            s = r["stop"]
            ledger, cancelled = s["to_ledger_ms"], s["to_queue_cancelled_ms"]
            print(
                f"STOP-to-suppression, bot {r['bot']}, at {r['offered_rate']:,.0f}/s "
                f"({s['stops']} STOPs): ledger p50 {_ms(ledger['p50'])} ms, p99 "
                f"{_ms(ledger['p99'])} ms; queue cancelled p50 {_ms(cancelled['p50'])} ms, p99 "
                f"{_ms(cancelled['p99'])} ms; queued replies sent after STOP: "
                f"{s['queued_replies_sent_after_stop']}, missing: {s['missing']}"
            )


def _ratio(value: float | None, baseline: float | None) -> float | None:
    return None if value is None or not baseline else round(value / baseline, 2)


def ratios(measured: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    """The AI run's figures over the baseline's at the same rate (1.0: the AI costs nothing)."""
    return {
        "ack_p50": _ratio(measured["ack_latency_ms"]["p50"], baseline["ack_latency_ms"]["p50"]),
        "ack_p99": _ratio(measured["ack_latency_ms"]["p99"], baseline["ack_latency_ms"]["p99"]),
        "achieved_rate": _ratio(measured["achieved_rate"], baseline["achieved_rate"]),
        "processing_finished_after": _ratio(
            measured["processing_finished_after_s"], baseline["processing_finished_after_s"]
        ),
    }


def verdict(results: Sequence[dict[str, Any]], bot: str) -> dict[str, Any]:
    """The issue's targets against the runs with `bot`."""
    found: dict[str, Any] = {"targets": TARGETS}
    for target in TARGETS:
        level = next(
            (r for r in results if r["bot"] == bot and r["offered_rate"] == target["rate"]), None
        )
        if level is None:
            continue
        p99 = level["ack_latency_ms"]["p99"]
        name = f"{target['rate']:g}/s"
        found[name] = {
            "ack_p99_ms": p99,
            "ack_p99_met": (p99 or math.inf) < target["ack_p99_ms"],
            "complete": level["lost"] == level["duplicated"] == level["unprocessed"] == 0
            and level["processing_finished_after_s"] is not None,
        }
        if level["stop"]:
            stop = level["stop"]
            worst = max(
                stop["to_ledger_ms"]["p99"] or math.inf,
                stop["to_queue_cancelled_ms"]["p99"] or math.inf,
            )
            found[name] |= {"stop_p99_ms": worst, "stop_p99_met": worst < STOP_P99_MS}
    return found


def build_report(results: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The JSON of the levels run so far, with the verdict and the ratios to the baseline."""
    baseline = {r["offered_rate"]: r for r in results if r["bot"] != args.bot}
    return {
        "suite": "webhook_ingress",
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
        },
        "config": {
            "database": "sqlite",
            "execution_mode": "inprocess",
            "provider": "console",
            "workers": args.workers or "default",
            "worker_process": args.worker_process,
            "bot": args.bot,
            "baseline": f"bot {args.baseline}" if baseline else None,
            "server_log_level": args.log_level,
            "seconds": args.seconds,
            "timeout_s": args.timeout,
            "max_connections": args.max_connections,
            "stop_rate": args.stop_rate,
            "stop_fraction": args.stop_fraction,
            "replies_per_stop": args.replies_per_stop,
            "client": "asyncio streams, HTTP/1.1 keep-alive, open loop",
            "latency_from": "scheduled send instant",
        },
        "verdict": verdict(results, args.bot),
        "ratios_to_baseline": {
            f"{rate:g}/s": ratios(r, baseline[rate])
            for r in results
            if r["bot"] == args.bot and (rate := r["offered_rate"]) in baseline
        },
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,300", help="offered req/s, comma-separated "
                        "(1000 is the scale-out target, optional here)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of each rate")
    parser.add_argument("--stop-rate", type=float, default=300.0,
                        help="the rate at which STOPs are mixed in (0: none)")  # fmt: skip
    parser.add_argument("--stop-fraction", type=float, default=0.05)
    parser.add_argument("--replies-per-stop", type=int, default=2)
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument("--timeout", type=float, default=15.0, help="Twilio's webhook timeout")
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument("--workers", type=int, default=None, help="SMSDESK_WORKERS (default: app)")
    parser.add_argument(
        "--bot",
        choices=["ai", "off"],
        default="ai",
        help="SMSDESK_BOT of the measured runs: the AI layer (as shipped) or people only",
    )
    parser.add_argument(
        "--baseline",
        choices=["off", "none"],
        default="off",
        help="the same rates again with SMSDESK_BOT=off, measured in this run: the ratios say "
        "what the AI's CPU and writes cost the acknowledgements (none: skip it)",
    )
    parser.add_argument(
        "--worker-process",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="SMSDESK_WORKER_PROCESS: jobs in a child of the server (default) or on its loop",
    )
    parser.add_argument("--log-level", default="warning", help="server log level (access log off)")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep each level's data directory")
    parser.add_argument(
        "--json", type=Path, default=REPO / "bench" / "results" / "webhook_ingress.json"
    )
    args = parser.parse_args()
    rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    rng = random.Random(args.seed)
    bots = [args.bot] + ([] if args.baseline == "none" or args.bot == "off" else ["off"])

    results: list[dict[str, Any]] = []
    for bot in bots:
        for rate in rates:
            stops = (
                max(1, round(rate * args.seconds * args.stop_fraction))
                if args.stop_rate and rate == args.stop_rate
                else 0
            )
            print(f"bot {bot}: offering {rate:,.0f} req/s for {args.seconds:g} s ...", flush=True)
            results.append(run_level(Level(rate, args.seconds, stops, bot), args, rng))
            report = build_report(results, args)  # written after each level: a long run
            args.json.parent.mkdir(parents=True, exist_ok=True)  # stopped early keeps its part
            args.json.write_text(json.dumps(report, indent=2) + "\n")
    report = build_report(results, args)
    print()
    print_table(results)
    print(json.dumps({"verdict": report["verdict"], "ratios": report["ratios_to_baseline"]}))
    print(f"written {args.json}")


if __name__ == "__main__":
    main()

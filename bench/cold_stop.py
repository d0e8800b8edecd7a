"""STOP-to-suppression from a cold start and with a broken knowledge folder (issue 13).

For each scenario a fresh `smsdesk serve` is started as an operator starts it (embedded mode,
its jobs in the supervised worker child, SQLite, the AI layer on), and genuinely signed Twilio
webhooks are sent from the moment it answers `/healthz` with 200: for each of `--stops`
customers a question (which needs the AI) and right behind it, in the same conversation, a STOP,
paced at `--rate` customers a second, and a question from another customer who sends no STOP
(with a broken knowledge folder it must reach a person).

* `cold`: the real AI layer loads (encoder, heads, knowledge index) while the texts arrive.
  The models are trained and the index built once before the trials (a server restarted on
  its data directory loads them from disk): what is measured is a process's cold start.
* `broken`: the knowledge folder's `intents.yaml` is not valid YAML, so the AI never loads.

STOP-to-suppression is the time from sending the STOP to its opt-out event's `processed_at`
(committed in the ledger; client and server share the machine's clock). It includes the
worker child's own start (importing the app) for the STOPs sent before it runs. The run also
records when `/healthz` first said `workers: ready` and the AI state, how many STOPs were sent
while the AI was not ready, and that every question was either held for the AI or handed to a
person (`ai_unavailable`), never lost.

    python bench/cold_stop.py [--stops 60] [--rate 1.5] [--repeats 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "cold_stop.json"
SMSDESK = Path(sys.executable).with_name("smsdesk")
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
BUSINESS = "+14155550100"
TARGET_P99_SECONDS = 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _train(data_dir: Path) -> float:
    """Train the intent model and build the index once (what a first-ever start does)."""
    env = _env(data_dir, REPO / "knowledge", data_dir / "prepare.db", 8000)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", "from app.ai.models import AiModels; from app.config import "
         "Settings; AiModels.load(Settings())"],
        env=env, check=True, cwd=data_dir, timeout=900,
    )  # fmt: skip
    return time.monotonic() - started


def _env(data_dir: Path, knowledge: Path, database: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSDESK_")}
    return env | {
        "SMSDESK_ENV": "test",
        "SMSDESK_BOT": "ai",
        "SMSDESK_WORKER_PROCESS": "true",  # as `smsdesk serve` runs outside tests
        "SMSDESK_DATA_DIR": str(data_dir),
        "SMSDESK_DATABASE_URL": f"sqlite:///{database}",
        "SMSDESK_KNOWLEDGE_DIR": str(knowledge),
        "SMSDESK_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SMSDESK_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "SMSDESK_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SMSDESK_PORT": str(port),
        "SMSDESK_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def _broken_knowledge(root: Path) -> Path:
    folder = root / "broken-knowledge"
    if not folder.exists():
        shutil.copytree(REPO / "knowledge", folder)
        (folder / "intents.yaml").write_text("intents: [this is not: valid yaml\n")
    return folder


class HealthWatch(threading.Thread):
    """Polls /healthz and notes when the workers and the AI first reached each state."""

    def __init__(self, base: str, started: float) -> None:
        super().__init__(daemon=True)
        self.base, self.started = base, started
        self.first: dict[str, float] = {}
        self.last: dict[str, Any] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx2.Client(timeout=5.0) as client:
            while not self.stop.is_set():
                with contextlib.suppress(httpx2.HTTPError, ValueError):
                    self.last = client.get(self.base + "/healthz").json()
                    for key in ("workers", "ai"):
                        state = f"{key}:{str(self.last.get(key)).split(':')[0]}"
                        self.first.setdefault(state, time.monotonic() - self.started)
                self.stop.wait(0.1)

    def ai_ready(self) -> bool:
        return str(self.last.get("ai")) == "ready"

    def phase(self) -> str:
        """before_workers (the worker child still starting), ai_loading, ai_failed, ai_ready."""
        if self.last.get("workers") != "ready":
            return "before_workers"
        return f"ai_{str(self.last.get('ai')).split(':')[0]}"


def trial(scenario: str, root: Path, data_dir: Path, *, stops: int, rate: float) -> dict[str, Any]:
    knowledge = _broken_knowledge(root) if scenario == "broken" else REPO / "knowledge"
    database = root / f"{scenario}-{secrets.token_hex(4)}.db"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (root / f"{database.stem}.log").open("wb")
    started = time.monotonic()
    server = subprocess.Popen(
        [str(SMSDESK), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(data_dir, knowledge, database, port), cwd=root, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    watch: HealthWatch | None = None
    try:
        with httpx2.Client(timeout=15.0) as client:
            while True:
                if server.poll() is not None or time.monotonic() - started > 120:
                    raise RuntimeError(f"server did not start ({scenario})")
                with contextlib.suppress(httpx2.HTTPError):
                    if client.get(base + "/healthz").status_code == 200:
                        break
                time.sleep(0.05)
            up = time.monotonic() - started
            watch = HealthWatch(base, started)
            watch.start()
            validator = RequestValidator(AUTH_TOKEN)
            sent: dict[str, float] = {}
            phase: dict[str, str] = {}
            while_loading = 0
            for n in range(stops):
                phone = f"+1415555{n:04d}"
                texts = [(phone, "What time do you open on Saturday?"), (phone, "STOP")]
                texts.append((f"+1415556{n:04d}", "Do you deliver on Sundays?"))  # no STOP
                for phone, body in texts:
                    sid = "SM" + secrets.token_hex(16)
                    form = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid,
                            "AccountSid": ACCOUNT_SID, "From": phone, "To": BUSINESS,
                            "Body": body, "NumMedia": "0", "ApiVersion": "2010-04-01"}  # fmt: skip
                    url = base + "/webhooks/twilio/sms"
                    headers = {
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": validator.compute_signature(url, form),
                    }
                    at = time.time()
                    response = client.post(url, content=urlencode(form), headers=headers)
                    assert response.status_code == 200, response.text
                    if body == "STOP":
                        sent[f"twilio:{sid}"] = at
                        phase[f"twilio:{sid}"] = watch.phase()
                        while_loading += not watch.ai_ready()
                time.sleep(1.0 / rate)
        engine = create_engine(f"sqlite:///{database}", connect_args={"timeout": 30})
        deadline = time.monotonic() + 120
        events: dict[str, datetime] = {}
        while time.monotonic() < deadline and len(events) < len(sent):
            with engine.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT provider_message_id, processed_at FROM consent_events "
                        "WHERE event_type = 'opt_out'"
                    )
                ).all()
            events = {pmid: _instant(at) for pmid, at in rows if pmid in sent}
            time.sleep(0.1)
        latencies = [events[pmid].timestamp() - at for pmid, at in sent.items() if pmid in events]
        by_phase: dict[str, list[float]] = {}
        for pmid, at in sent.items():
            if pmid in events:
                by_phase.setdefault(phase[pmid], []).append(events[pmid].timestamp() - at)
        if scenario == "broken":  # every question is settled once the AI has failed
            settle_by = time.monotonic() + 120
            while time.monotonic() < settle_by and not str(watch.last.get("ai")).startswith(
                "failed"
            ):
                time.sleep(0.1)
            _wait_settled(engine, deadline=settle_by)
        with engine.connect() as connection:
            statuses = dict(
                connection.execute(
                    text(
                        "SELECT status, count(*) FROM messages WHERE direction = 'inbound' "
                        "AND body <> 'STOP' GROUP BY status"
                    )
                ).all()
            )
            handed = connection.execute(
                text("SELECT count(*) FROM handoff_queue WHERE reasons LIKE '%ai_unavailable%'")
            ).scalar_one()
        engine.dispose()
        assert watch is not None
        return {
            "scenario": scenario,
            "stops": len(sent),
            "stops_suppressed": len(latencies),
            "stops_sent_while_ai_not_ready": while_loading,
            "server_answered_after_seconds": round(up, 2),
            "health_first_seen_seconds": {k: round(v, 2) for k, v in watch.first.items()},
            "ai_state_at_end": watch.last.get("ai"),
            "questions_by_status": statuses,
            "questions_handed_off_ai_unavailable": int(handed),
            "suppression_seconds": percentiles(latencies),
            "suppression_seconds_by_phase": {
                name: percentiles(values) | {"stops": len(values)}
                for name, values in sorted(by_phase.items())
            },
            "worker_restarts": _restarts(root / f"{database.stem}.log"),
        }
    finally:
        if watch is not None:
            watch.stop.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


def _wait_settled(engine: Any, *, deadline: float) -> None:
    sql = text(
        "SELECT count(*) FROM messages WHERE direction = 'inbound' AND status <> 'processed'"
    )
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(sql).scalar_one() == 0:
                return
        time.sleep(0.1)


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _restarts(log: Path) -> int:
    return log.read_text(errors="replace").count("worker.process_died")


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 3)

    return {"p50": rank(0.5), "p95": rank(0.95), "p99": rank(0.99), "max": round(ordered[-1], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=60)
    parser.add_argument("--rate", type=float, default=1.5, help="customers a second")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenarios", default="cold,broken")
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="smsdesk-cold-stop-"))
    data_dir = root / "data"
    data_dir.mkdir()
    scenarios = [s for s in args.scenarios.split(",") if s]
    trials: list[dict[str, Any]] = []
    try:
        prepare = _train(data_dir) if "cold" in scenarios else None
        for repeat in range(args.repeats):
            for scenario in scenarios:
                result = trial(scenario, root, data_dir, stops=args.stops, rate=args.rate)
                result["repeat"] = repeat
                trials.append(result)
                print(json.dumps(result))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    summary: dict[str, Any] = {}
    for scenario in scenarios:
        runs = [t for t in trials if t["scenario"] == scenario]
        p99s = [t["suppression_seconds"]["p99"] for t in runs]
        worst = max((p for p in p99s if p is not None), default=None)
        loading = [
            t["suppression_seconds_by_phase"]
            .get(f"ai_{'failed' if scenario == 'broken' else 'loading'}", {})
            .get("p99")
            for t in runs
        ]
        summary[scenario] = {
            "p99_seconds_once_workers_ran": loading,
            "p50_seconds": [t["suppression_seconds"]["p50"] for t in runs],
            "p99_seconds": p99s,
            "stops_not_suppressed": sum(t["stops"] - t["stops_suppressed"] for t in runs),
            "stops_sent_while_ai_not_ready": sum(t["stops_sent_while_ai_not_ready"] for t in runs),
            "target_p99_met": worst is not None and worst < TARGET_P99_SECONDS,
        }
    report = {
        "benchmark": "STOP-to-suppression from a cold start and with a broken knowledge folder",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "stops_per_trial": args.stops,
        "customers_per_second": args.rate,
        "target_p99_seconds": TARGET_P99_SECONDS,
        "prepare_models_seconds": None if prepare is None else round(prepare, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "note": "one `smsdesk serve` (server + worker child) on SQLite; the load "
            "generator shares the machine",
        },
        "summary": summary,
        "trials": trials,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

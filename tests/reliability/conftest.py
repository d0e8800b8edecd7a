"""Reliability fixtures: a REAL `smsdesk serve` process on loopback, on SQLite or PostgreSQL.

The server is the installed console script run as a subprocess with its own data directory and
database, exactly as an operator starts it; tests talk to it over HTTP with genuinely signed
Twilio webhooks and read the outcome straight from its database. It can be SIGKILLed and
restarted on the same database. Every wait here is bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import httpx2
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, func, select

from app.storage import make_engine
from app.storage.tables import Job, Message, MessageStatus
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, SMS_WEBHOOK, sign

SMS_PATH = "/webhooks/twilio/sms"
API_KEY = "reliability-test-key-0123456789"
BUSINESS_NUMBER = "+14155550100"
BRAND = "default"
_SMSDESK = Path(sys.executable).with_name("smsdesk")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_sid() -> str:
    """A fresh Twilio message SID (SM + 32 hex digits)."""
    return "SM" + secrets.token_hex(16)


def eventually(check: Callable[[], bool], *, seconds: float, what: str) -> None:
    """Poll `check` every 50 ms until it holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached within {seconds} s: {what}")


class SmsdeskServer:
    """`smsdesk serve` as a subprocess on 127.0.0.1; start, SIGKILL, restart on the same data."""

    def __init__(
        self, workdir: Path, *, database_url: str | None = None, extra_env: Mapping[str, str] = {}
    ) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "server.log"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._database_url = database_url
        self.extra_env = dict(extra_env)
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    @property
    def database_url(self) -> str:
        """The database the server uses (SQLite: the default file in the data directory)."""
        return self._database_url or f"sqlite:///{self.data_dir / 'smsdesk.db'}"

    def environment(self) -> dict[str, str]:
        """The process environment: ours, without any SMSDESK_* setting of the caller."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMSDESK_")}
        env |= {
            "SMSDESK_ENV": "test",
            # Delivery semantics here; the AI layer has its own tests (and loads for seconds).
            "SMSDESK_BOT": "off",
            "SMSDESK_DATA_DIR": str(self.data_dir),
            "SMSDESK_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "SMSDESK_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "SMSDESK_PUBLIC_BASE_URL": self.base_url,
            "SMSDESK_PORT": str(self.port),
            "SMSDESK_API_KEYS": API_KEY,
            # What `smsdesk serve` does outside tests: jobs run in its supervised child process.
            "SMSDESK_WORKER_PROCESS": "true",
            "PYTHONUNBUFFERED": "1",
        }
        if self._database_url is not None:
            env["SMSDESK_DATABASE_URL"] = self._database_url
        return env | self.extra_env

    def start(self, timeout: float = 45.0) -> None:
        """Start the server and wait until GET /healthz answers 200."""
        assert self.process is None, "already running"
        self.starts += 1
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== start {self.starts} =====\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            [str(_SMSDESK), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.environment(),
            cwd=self.workdir,  # no stray .env from the repository
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self._reap()
                raise RuntimeError(f"smsdesk serve exited with {code}:\n{self.log_tail()}")
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(self.url("/healthz"), timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"smsdesk serve not healthy within {timeout} s:\n{self.log_tail()}")

    def url(self, path: str) -> str:
        """An absolute URL on this server."""
        return self.base_url + path

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash or an OOM kill would do."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self._reap()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it takes too long."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self._reap()

    def _reap(self) -> None:
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 60) -> str:
        """The end of the server's output (for failure messages)."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Twilio:
    """Twilio's side of the wire: genuinely signed inbound-SMS webhooks to one server."""

    def __init__(self, server: SmsdeskServer) -> None:
        self.server = server

    @staticmethod
    def form(sid: str, phone: str, body: str) -> dict[str, str]:
        """A real inbound-SMS payload from `phone`."""
        return {**SMS_WEBHOOK, "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid,
                "From": phone, "To": BUSINESS_NUMBER, "Body": body}  # fmt: skip

    def signed(self, form: Mapping[str, str]) -> tuple[str, dict[str, str], bytes]:
        """URL, headers and body of the POST Twilio would make."""
        url = self.server.url(SMS_PATH)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(url, form, AUTH_TOKEN),
        }
        return url, headers, urlencode(form).encode()

    def post(self, form: Mapping[str, str], timeout: float = 15.0) -> httpx2.Response:
        """One delivery (raises on a transport error)."""
        url, headers, body = self.signed(form)
        return httpx2.post(url, content=body, headers=headers, timeout=timeout)

    async def apost(self, client: httpx2.AsyncClient, form: Mapping[str, str]) -> int | str:
        """One delivery: the HTTP status, or the name of the transport error (no answer)."""
        url, headers, body = self.signed(form)
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx2.TransportError as exc:
            return type(exc).__name__
        return response.status_code

    def deliver_until_acknowledged(self, form: Mapping[str, str], attempts: int = 5) -> int:
        """Re-send like Twilio retries a failed webhook until it gets 200; how many tries."""
        for attempt in range(1, attempts + 1):
            with contextlib.suppress(httpx2.TransportError):
                if self.post(form).status_code == 200:
                    return attempt
            time.sleep(0.2 * attempt)
        raise AssertionError(f"delivery {form['MessageSid']} never acknowledged")


def api_reply(server: SmsdeskServer, phone: str, key: str) -> httpx2.Response:
    """Queue a reply to `phone` through the integrator API (a body the content rules pass)."""
    return httpx2.post(
        server.url("/api/v1/messages/outbound"),
        json=reply_request(phone, key),
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=15.0,
    )


def reply_request(phone: str, key: str) -> dict[str, str]:
    """The integrator's request body for one reply."""
    body = "Acme: your order is ready for pickup. Reply STOP to opt out."
    return {"to": phone, "body": body, "category": "reply", "idempotency_key": key}


class Probe:
    """Reads (and, for test set-up, writes) the server's database directly."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        # Reads use a plain engine (no BEGIN IMMEDIATE on SQLite: they never take the write
        # lock from the server); writes use the app's engine, with its busy timeout.
        self.reader: Engine = (
            create_engine(url, connect_args={"timeout": 30})
            if self.dialect == "sqlite"
            else make_engine(url)
        )
        self.writer: Engine = make_engine(url)

    def close(self) -> None:
        """Release every connection (before the database is dropped)."""
        self.reader.dispose()
        self.writer.dispose()

    def session(self) -> Session:
        """A read session."""
        return Session(self.reader, expire_on_commit=False)

    def scalar(self, sql: str, **params: Any) -> Any:
        """One value of a raw SQL query."""
        with self.reader.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def job_states(self) -> dict[str, int]:
        """How many jobs are in each state."""
        with self.session() as session:
            rows = session.exec(select(Job.state, func.count()).group_by(col(Job.state))).all()
        return {state: int(n) for state, n in rows}

    def busy_jobs(self) -> int:
        """Jobs not finished yet (pending, including backing off, or running)."""
        states = self.job_states()
        return states.get("pending", 0) + states.get("running", 0)

    def wait_idle(self, seconds: float = 30.0) -> None:
        """Wait until every job is done or failed for good."""
        eventually(lambda: self.busy_jobs() == 0, seconds=seconds, what="all jobs finished")

    def inbound(self, sid: str) -> list[Message]:
        """Stored inbound messages with this Twilio SID (0 or 1, if nothing is duplicated)."""
        with self.session() as session:
            return list(
                session.exec(
                    select(Message).where(
                        Message.provider == "twilio", Message.provider_message_id == sid
                    )
                ).all()
            )

    def steps(self, message_id: uuid.UUID) -> list[MessageStatus]:
        """A message's status history, oldest first."""
        with self.session() as session:
            return list(
                session.exec(
                    select(MessageStatus)
                    .where(MessageStatus.message_id == message_id)
                    .order_by(col(MessageStatus.id))
                ).all()
            )

    def processed(self, sid: str) -> bool:
        """The inbound message with this SID is stored and processed."""
        found = self.inbound(sid)
        return len(found) == 1 and found[0].status == "processed"


def _pg_database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (the server migrates it at start), dropped after."""
    name = f"smsdesk_rel_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The database the server runs on."""
    return str(request.param)


@pytest.fixture
def server_env() -> dict[str, str]:
    """Extra SMSDESK_* settings of the server (parametrize it to change them)."""
    return {}


@pytest.fixture
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, server_env: dict[str, str]
) -> Iterator[SmsdeskServer]:
    """A running `smsdesk serve` (embedded execution mode) on a fresh database of its own."""
    databases: Iterator[str] | None = None
    url: str | None = None
    if backend == "postgres":
        databases = _pg_database(request.getfixturevalue("pg_admin_url"))
        url = next(databases)
    instance = SmsdeskServer(tmp_path, database_url=url, extra_env=server_env)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        if databases is not None:
            with contextlib.suppress(StopIteration):
                next(databases)
        # Shown by pytest only when the test fails.
        print(f"--- server log ({instance.log_path}) ---\n{instance.log_tail(80)}")


@pytest.fixture
def probe(server: SmsdeskServer) -> Iterator[Probe]:
    """Direct access to the running server's database."""
    instance = Probe(server.database_url)
    yield instance
    instance.close()


@pytest.fixture
def twilio(server: SmsdeskServer) -> Twilio:
    """Signed webhooks to the running server."""
    return Twilio(server)

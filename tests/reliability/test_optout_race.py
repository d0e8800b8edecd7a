"""STOP hammered against bot, agent and API sends: after the opt-out commits, only its
confirmation reaches the provider (IN-2, TIME-3; issue 13).

For each of 1,000 customers (100 in the fast suite), at the same moment: a question (the bot
answers it), the STOP, an agent's reply and an integrator's API send. Everything goes through
the real app (the integrator routes over ASGI, its embedded workers) plus a second job engine
on its own connection pool, as a second worker process would be, on a real SQLite file and a
real PostgreSQL database. The provider is a fake that, the moment a text reaches it, reads in a
fresh transaction whether the number's opt-out is committed: any text but the confirmation
after that is a violation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine
from sqlmodel import Session, col, func, select

import app.runtime as runtime_module
from app.channels.base import OutboundSms, SendResult
from app.compliance.ledger import ConsentLedger
from app.config import Settings
from app.main import create_app
from app.outbound.agent import send_agent_reply
from app.pipeline.decision import Answer, Decided, Reply
from app.pipeline.responder import ResponderRequest
from app.runtime import build_runtime
from app.storage import make_engine
from app.storage.tables import Conversation, Job, Message
from tests.reliability.conftest import eventually

pytestmark = pytest.mark.xdist_group("reliability")

KEY = "race-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
BRAND = "default"
BUSINESS_NUMBER = "+18005550199"
REPLY = "Acme: your order is ready for pickup. Reply STOP to opt out."


def phone(n: int) -> str:
    """The n-th customer's number (New York area code: nothing here depends on the hour)."""
    return f"+1212555{n:04d}"


class AnsweringBot:
    """The bot answers every question it is given (no models: the race is about sends)."""

    def respond(self, request: ResponderRequest) -> Decided:
        return Decided(Reply((Answer("race", REPLY),)), {"entries": ["race"], "draft": REPLY})


@dataclass
class ConsentCheckingProvider:
    """The SMS provider: at the moment a text arrives, is its number's opt-out committed?"""

    reader: Engine
    name: str = "console"
    received: list[tuple[str, str, bool]] = field(default_factory=list)
    """(number, purpose, opt-out already committed) per text, in arrival order."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, sms: OutboundSms) -> SendResult:
        with Session(self.reader) as session:  # a fresh transaction: only what is committed
            opted_out = (
                ConsentLedger.consent(
                    ConsentLedger(self.reader), session, brand=BRAND, phone=sms.to_number
                ).state.status
                == "opted_out"
            )
            message = session.get(Message, sms.message_id)
            purpose = message.purpose if message is not None else "?"
        with self._lock:
            self.received.append((sms.to_number, purpose or "?", opted_out))
            count = len(self.received)
        return SendResult(f"RACE{count:08d}")

    def violations(self) -> list[tuple[str, str]]:
        """Texts other than the confirmation that arrived after the opt-out was committed."""
        return [
            (number, purpose)
            for number, purpose, opted_out in self.received
            if opted_out and purpose != "opt_out_confirmation"
        ]


def _reader(engine: Engine) -> Engine:
    # SQLite: a plain engine, so the provider's reads never queue for the write lock.
    if engine.dialect.name == "sqlite":
        return create_engine(engine.url, connect_args={"timeout": 30})
    return make_engine(engine.url.render_as_string(hide_password=False))


@pytest.fixture
def provider(engine: Engine) -> Iterator[ConsentCheckingProvider]:
    reader = _reader(engine)
    yield ConsentCheckingProvider(reader)
    reader.dispose()


def _busy_jobs(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(Job).where(col(Job.state).in_(("pending", "running")))
        ).one()


# 1,000 customers is what issue 13 asks for (minutes on SQLite's one writer: `slow`); the
# 100-customer run keeps the race in the fast suite.
@pytest.mark.parametrize(
    "numbers",
    [
        pytest.param(100, id="100"),
        pytest.param(1000, id="1000", marks=[pytest.mark.slow, pytest.mark.soak]),
    ],
)
def test_no_text_but_the_confirmation_reaches_the_provider_after_an_opt_out(
    numbers: int,
    engine: Engine,
    settings: Settings,
    provider: ConsentCheckingProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configured = settings.model_copy(
        update={
            "database_url": engine.url.render_as_string(hide_password=False),
            "api_keys": [SecretStr(KEY)],
            "workers": 4,
        }
    )
    # The app's runtime sends through the checking provider and answers with the bot above.
    monkeypatch.setattr(runtime_module, "make_sender", lambda _s, _e: provider)
    monkeypatch.setattr(runtime_module, "make_responder", lambda _s: AnsweringBot())
    # A second worker: its own job engine and connection pool, as `smsdesk worker` would have.
    second_engine = make_engine(configured.db_url)
    second = build_runtime(configured, engine=second_engine)
    stop_second = threading.Event()

    def second_worker() -> None:
        while not stop_second.is_set():
            if not second.jobs.run_one():  # type: ignore[attr-defined]
                stop_second.wait(0.01)

    worker = threading.Thread(target=second_worker, daemon=True)
    with TestClient(create_app(configured)) as client:
        worker.start()
        runtime = client.app.state.runtime  # type: ignore[attr-defined]

        def customer(n: int, body: str) -> None:
            response = client.post(
                "/api/v1/messages/inbound",
                json={
                    "provider_message_id": f"{body}-{n}",
                    "from": phone(n),
                    "to": BUSINESS_NUMBER,
                    "body": body,
                },
                headers=AUTH,
            )
            assert response.status_code == 202, response.text

        def question(n: int) -> None:
            customer(n, "Is my order ready?")

        def stop(n: int) -> None:
            customer(n, "STOP")

        def integrator(n: int) -> None:
            response = client.post(
                "/api/v1/messages/outbound",
                json={
                    "to": phone(n),
                    "body": REPLY,
                    "category": "reply",
                    "idempotency_key": f"api-{n}",
                },
                headers=AUTH,
            )
            # Queued, or refused because the opt-out is already in the ledger.
            assert response.status_code in (202, 409), response.text

        def agent(n: int) -> None:
            # The agent answers the customer's question: wait (bounded) until it is stored, or
            # on a busy machine no agent reply might take part in the race at all.
            conversation = None
            for _ in range(500):
                with Session(runtime.engine, expire_on_commit=False) as session:
                    conversation = session.exec(
                        select(Conversation).where(Conversation.phone_e164 == phone(n))
                    ).first()
                if conversation is not None:
                    break
                time.sleep(0.01)
            if conversation is None:
                return
            send_agent_reply(
                runtime.engine,
                runtime.compliance,
                conversation=conversation,
                body=REPLY,
                key=f"agent-{n}",
                provider=provider.name,
                schedule=True,  # at night the reply waits out quiet hours (and meets the STOP)
            )

        with ThreadPoolExecutor(max_workers=6) as pool:
            # Each STOP comes a few customers later than that customer's question: some texts
            # leave before it, some race it, some are queued behind it.
            tasks = sorted(
                [(n, task, n) for n in range(numbers) for task in (question, integrator, agent)]
                + [(n + n % 24, stop, n) for n in range(numbers)],
                key=lambda item: item[0],
            )
            started = time.monotonic()
            for future in [pool.submit(task, n) for _, task, n in tasks]:
                future.result()
            print(f"requests: {time.monotonic() - started:.1f} s")
        eventually(
            lambda: _busy_jobs(runtime.engine) == 0,
            seconds=120 + numbers * 0.6,  # a bound for loaded CI machines, not a target
            what="every job finished",
        )
        print(f"jobs: {time.monotonic() - started:.1f} s")
        stop_second.set()
        worker.join(timeout=30)
    second_engine.dispose()

    violations = provider.violations()
    purposes = [purpose for _, purpose, _ in provider.received]
    print(
        f"{numbers} numbers, {len(provider.received)} texts to the provider, "
        f"{len(violations)} after a committed opt-out: {violations[:5]}"
    )
    assert violations == []
    # Every customer opted out and was told so exactly once...
    confirmations = [n for n, p, _ in provider.received if p == "opt_out_confirmation"]
    assert sorted(confirmations) == sorted(phone(n) for n in range(numbers))
    ledger = ConsentLedger(engine)
    with ledger.session() as session:
        assert all(
            ledger.consent(session, brand=BRAND, phone=phone(n)).state.status == "opted_out"
            for n in range(numbers)
        )
    # ...and the race was real: every kind of text took part, some left before the opt-out,
    # others were stopped by it.
    with Session(engine) as session:
        outcomes = session.exec(
            select(Message.purpose, Message.status, func.count())
            .where(Message.direction == "outbound")
            .group_by(col(Message.purpose), col(Message.status))
        ).all()
    print(sorted(outcomes, key=str))
    queued = {purpose for purpose, _, _ in outcomes}
    assert {"reply", "agent", "api", "opt_out_confirmation"} <= queued
    assert any(p != "opt_out_confirmation" for p in purposes)
    assert any(status in ("cancelled", "blocked") for _, status, _ in outcomes)

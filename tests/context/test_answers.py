"""The responder answers a customer's own order, appointment and membership from the number on
file, through the real pipeline (real models, a real database, the demo customers); anything
it cannot tie to the number goes to a person, and the general questions keep their answers."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app import clock
from app.ai.models import AiModels
from app.ai.responder import AiResponder
from app.channels.base import InboundSms
from app.config import Settings
from app.context.demo import seed_customers
from app.pipeline.ingress import accept_inbound
from app.runtime import Runtime, build_runtime
from app.storage.tables import AiDecision, HandoffItem, OutboxEntry
from tests.conftest import REPO

TUESDAY_MORNING = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 11:00 in New York
MAYA = "+12125550100"  # demo customer 0: order AC10100 shipped (UPS), a tune-up, Club Monthly
SAM = "+12125550101"  # demo customer 1: order AC10101 processing, an older delivered AC9101
NOBODY = "+12025550188"  # no record
_sids = itertools.count(1)


def ai_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(env="test", data_dir=data_dir, knowledge_dir=REPO / "knowledge", **overrides)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(TUESDAY_MORNING) as stopped:
        yield stopped


def make_runtime(
    engine: Engine, ai_models: AiModels, data_dir: Path, **settings: object
) -> Runtime:
    configured = ai_settings(data_dir, **settings)
    return build_runtime(
        configured, engine=engine, responder=AiResponder(configured, models=ai_models)
    )


@pytest.fixture
def runtime(
    sqlite_engine: Engine, ai_models: AiModels, ai_data_dir: Path, frozen: clock.FrozenClock
) -> Iterator[Runtime]:
    seed_customers(
        sqlite_engine, brand="default", timezone="America/New_York", location="Acme Downtown"
    )
    yield make_runtime(sqlite_engine, ai_models, ai_data_dir)


def text(runtime: Runtime, body: str, *, phone: str) -> tuple[list[str], list[list[str]]]:
    """Text `body` from `phone`; what was sent back to that number, and the open queue items."""
    sms = InboundSms(
        provider="twilio",
        provider_message_id=f"SM{next(_sids):032d}",
        from_number=phone,
        to_number="+18005550199",
        body=body,
        received_at=clock.now(),
    )
    accept_inbound(runtime.engine, sms, brand="default")
    runtime.jobs.drain()
    with Session(runtime.engine) as session:
        replies = [
            e.body
            for e in session.exec(
                select(OutboxEntry)
                .where(OutboxEntry.to_number == phone)
                .order_by(col(OutboxEntry.id))
            )
        ]
        items = [i.reasons for i in session.exec(select(HandoffItem))]
    return replies, items


def last_record(engine: Engine) -> dict[str, object]:
    with Session(engine) as session:
        decision = session.exec(select(AiDecision).order_by(col(AiDecision.id).desc())).first()
        assert decision is not None
        return decision.record


@pytest.mark.parametrize("question", ["where's my order?", "did my order ship", "wheres my stuff"])
def test_where_is_my_order_is_answered_with_their_latest_order(
    runtime: Runtime, question: str
) -> None:
    replies, items = text(runtime, question, phone=MAYA)
    assert items == []
    (reply,) = replies
    assert "Maya" in reply and "AC10100" in reply and "has shipped with UPS" in reply
    assert "https://track.example.com/AC10100" in reply
    assert reply.startswith("Acme: ")  # MSG-2 on a first text, as for any reply
    assert last_record(runtime.engine)["entry_id"] == "context:order"


def test_the_latest_of_several_orders_is_the_one_answered(runtime: Runtime) -> None:
    (reply,), _ = text(runtime, "where is my order", phone=SAM)
    assert "AC10101" in reply and "being packed" in reply and "AC9101" not in reply


def test_an_order_id_of_theirs_is_answered_and_one_not_theirs_goes_to_a_person(
    runtime: Runtime,
) -> None:
    (reply,), _ = text(runtime, "where is order AC10100", phone=MAYA)
    assert "AC10100" in reply
    for other in ("where is order AC99999", "where is order AC10101"):  # nobody's / Sam's
        replies, items = text(runtime, other, phone=MAYA)
        assert items and "account_specific" in items[-1]
        assert not any("AC10101" in r or "packed" in r for r in replies[1:])


def test_a_number_with_no_record_goes_to_a_person(runtime: Runtime) -> None:
    replies, items = text(runtime, "where's my order?", phone=NOBODY)
    assert items == [["account_specific"]]
    assert all("AC1" not in r for r in replies)
    assert "look at your account" in replies[0]  # the account acknowledgement


def test_when_is_my_appointment_and_when_does_my_club_renew(runtime: Runtime) -> None:
    (reply,), _ = text(runtime, "when is my appointment?", phone=MAYA)
    # Demo customer 0: a bike tune-up on the next weekday, 10am local.
    assert "bike tune-up" in reply and "Wed Mar 11 at 10am" in reply and "Acme Downtown" in reply
    replies, items = text(runtime, "when does my club renew", phone=MAYA)
    assert items == []
    assert "Acme Club Monthly membership is active and renews on" in replies[-1]


def test_general_questions_keep_their_knowledge_base_answers(runtime: Runtime) -> None:
    (reply,), items = text(runtime, "how long does standard shipping take", phone=MAYA)
    assert items == []
    assert "AC10100" not in reply
    assert str(last_record(runtime.engine)["entry_id"]).startswith("shipping")


def test_without_any_customer_records_order_questions_keep_the_general_answer(
    sqlite_engine: Engine, ai_models: AiModels, ai_data_dir: Path, frozen: clock.FrozenClock
) -> None:
    runtime = make_runtime(sqlite_engine, ai_models, ai_data_dir)
    (reply,), items = text(runtime, "where's my order?", phone=MAYA)
    assert items == [] and "acme.com/orders" in reply


class _Failing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def test_a_customer_system_that_is_down_hands_off_as_context_unavailable(
    sqlite_engine: Engine, ai_models: AiModels, ai_data_dir: Path, frozen: clock.FrozenClock
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        runtime = make_runtime(
            sqlite_engine, ai_models, ai_data_dir, context_url=url, context_retries=1
        )
        try:
            replies, items = text(runtime, "where's my order?", phone=MAYA)
            assert items == [["context_unavailable"]]
            assert "look at your account" in replies[0]
            # Compliance never asks it: a STOP is confirmed as ever.
            replies, _ = text(runtime, "STOP", phone=MAYA)
            assert "unsubscribed" in replies[-1].casefold()
        finally:
            runtime.close()
    finally:
        server.shutdown()
        server.server_close()

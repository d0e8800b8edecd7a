"""Compliance rules only the pipeline can show (audit of issue 13): AI-3 (an opted-out customer
asking in words to get texts again is told once to text START, stays opted out and gets nothing
else), TIME-2 (the confirmation's 5-minute window) and PROV-1/PROV-2 (one confirmation when the
provider answers keywords itself)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app import clock
from app.channels.base import InboundSms
from app.config import Settings
from app.pipeline.decision import Answer, Decided, Reply
from app.pipeline.ingress import accept_inbound
from app.pipeline.responder import ResponderRequest
from app.runtime import Runtime, build_runtime
from app.storage.tables import Message

PHONE = "+12125550124"
TUESDAY_11AM = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
_ids = itertools.count(1)


class EchoResponder:
    """Answers every passed text: any text of its own after the instruction would show."""

    def respond(self, request: ResponderRequest) -> Decided:
        text = f"Acme: you said {request.body!r}."
        return Decided(Reply((Answer("echo", text),)), {"entries": ["echo"], "draft": text})


@pytest.fixture(autouse=True)
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(TUESDAY_11AM) as stopped:
        yield stopped


@pytest.fixture
def runtime(engine: Engine, settings: Settings) -> Iterator[Runtime]:
    yield build_runtime(settings, engine=engine, responder=EchoResponder())


def sms(body: str) -> InboundSms:
    return InboundSms(
        provider="twilio",
        provider_message_id=f"SMres{next(_ids):029d}",
        from_number=PHONE,
        to_number="+18005550199",
        body=body,
        received_at=clock.now(),
    )


def outbox(engine: Engine) -> list[str]:
    """Every text queued for the customer, sent or not."""
    with Session(engine) as session:
        return [
            m.body
            for m in session.exec(
                select(Message)
                .where(Message.direction == "outbound")
                .order_by(col(Message.created_at))
            )
        ]


@pytest.mark.parametrize("body", ["start texting me again", "Subscribe", "opt me back in"])
def test_an_opted_out_customer_asking_to_resume_is_told_to_text_start(
    runtime: Runtime, engine: Engine, body: str
) -> None:
    accept_inbound(engine, sms("STOP"), brand="default")
    runtime.jobs.drain()
    accept_inbound(engine, sms(body), brand="default")
    runtime.jobs.drain()
    confirmation, instruction = outbox(engine)
    assert "unsubscribed" in confirmation, outbox(engine)
    assert instruction == "Acme: Reply START to resume texts from Acme."
    assert runtime.compliance.consent(PHONE).state.status == "opted_out"  # IN-5


def test_a_question_from_an_opted_out_customer_still_gets_its_one_answer(
    runtime: Runtime, engine: Engine
) -> None:
    accept_inbound(engine, sms("STOP"), brand="default")
    runtime.jobs.drain()
    accept_inbound(engine, sms("where is my order"), brand="default")
    runtime.jobs.drain()
    _confirmation, answer = outbox(engine)
    assert "you said" in answer and "START" not in answer


def messages(engine: Engine) -> list[Message]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Message)
                .where(Message.direction == "outbound")
                .order_by(col(Message.created_at))
            )
        )


def test_time2_the_confirmation_is_only_ever_sent_within_five_minutes(
    runtime: Runtime, engine: Engine
) -> None:
    accept_inbound(engine, sms("STOP"), brand="default")
    runtime.jobs.drain()
    (confirmation,) = messages(engine)
    assert confirmation.expires_at is not None
    assert confirmation.expires_at - TUESDAY_11AM == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("body", "ours"), [("STOP", False), ("HELP", False), ("please stop texting me", True)]
)
def test_prov1_prov2_with_provider_keyword_handling_we_confirm_only_what_it_cannot_see(
    engine: Engine, settings: Settings, body: str, ours: bool
) -> None:
    provider_answers = settings.model_copy(update={"provider_handles_keywords": True})
    runtime = build_runtime(provider_answers, engine=engine, responder=EchoResponder())
    accept_inbound(engine, sms(body), brand="default")
    runtime.jobs.drain()
    assert (len(outbox(engine)) == 1) is ours  # PROV-1: one confirmation, the provider's or ours
    if body != "HELP":
        assert runtime.compliance.consent(PHONE).state.status == "opted_out"  # still recorded

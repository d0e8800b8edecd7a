"""Inbound texts through the whole pipeline on a real database: ingress, jobs, compliance,
responder seam, outbound gate and the console provider.

The clock is frozen (a Tuesday morning in New York unless a test moves it): acknowledgements and
quiet hours depend on the hour.
"""

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
from app.pipeline.decision import Answer, Decided, HandOff, Reason, Reply
from app.pipeline.ingress import URGENT, accept_inbound
from app.pipeline.responder import ResponderRequest
from app.runtime import Runtime, build_runtime
from app.storage.tables import AiDecision, HandoffItem, Job, Message, OutboxEntry

PHONE = "+12125550123"
TUESDAY_11AM = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # New York: business hours
TUESDAY_1130PM = datetime(2026, 3, 11, 3, 30, tzinfo=UTC)  # New York: quiet hours
_ids = itertools.count(1)


class EchoResponder:
    """Answers every passed text, so tests can see replies being queued and cancelled."""

    def respond(self, request: ResponderRequest) -> Decided:
        text = f"Acme: you said {request.body!r}. Reply STOP to opt out"
        return Decided(Reply((Answer("echo", text),)), {"entries": ["echo"], "draft": text})


@pytest.fixture(autouse=True)
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(TUESDAY_11AM) as stopped:
        yield stopped


@pytest.fixture
def runtime(engine: Engine, settings: Settings) -> Iterator[Runtime]:
    yield build_runtime(settings, engine=engine, responder=EchoResponder())


def sms(body: str, *, sid: str | None = None, at: datetime | None = None) -> InboundSms:
    return InboundSms(
        provider="twilio",
        provider_message_id=sid or f"SM{next(_ids):032d}",
        from_number=PHONE,
        to_number="+18005550199",
        body=body,
        received_at=at or clock.now(),
    )


def outbox(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return [e.body for e in session.exec(select(OutboxEntry).order_by(col(OutboxEntry.id)))]


def test_stop_is_confirmed_once_and_recorded(runtime: Runtime, engine: Engine) -> None:
    accept_inbound(engine, sms("STOP"), brand="default")
    runtime.jobs.drain()
    (confirmation,) = outbox(engine)
    assert "unsubscribed" in confirmation and "START" in confirmation
    assert runtime.compliance.consent(PHONE).state.status == "opted_out"


def test_help_is_answered_even_when_opted_out(runtime: Runtime, engine: Engine) -> None:
    accept_inbound(engine, sms("STOP"), brand="default")
    accept_inbound(engine, sms("HELP"), brand="default")
    runtime.jobs.drain()
    _confirmation, help_text = outbox(engine)
    assert "Reply STOP to cancel" in help_text and "Msg&data rates may apply" in help_text


def test_a_question_gets_the_responders_reply(runtime: Runtime, engine: Engine) -> None:
    accept_inbound(engine, sms("where is my order?"), brand="default")
    runtime.jobs.drain()
    assert outbox(engine) == ["Acme: you said 'where is my order?'. Reply STOP to opt out"]


def test_stop_cancels_replies_queued_before_it(runtime: Runtime, engine: Engine) -> None:
    process = runtime.jobs.handlers["process_inbound"]
    # Process two questions without running any send job: their replies sit in the queue.
    for body in ("question one", "question two"):
        process({"message_id": str(accept_inbound(engine, sms(body), brand="default").message_id)})
    stop = accept_inbound(engine, sms("stop texting me"), brand="default")
    process({"message_id": str(stop.message_id)})
    runtime.jobs.drain()  # now every job runs, the earlier sends included
    sent = outbox(engine)
    assert len(sent) == 1 and "unsubscribed" in sent[0]
    with Session(engine) as session:
        replies = session.exec(select(Message).where(Message.purpose == "reply")).all()
    assert sorted(m.status for m in replies) == ["cancelled", "cancelled"]


def test_redelivered_webhook_is_processed_once(runtime: Runtime, engine: Engine) -> None:
    first = accept_inbound(engine, sms("STOP", sid="SM" + "a" * 32), brand="default")
    again = accept_inbound(engine, sms("STOP", sid="SM" + "a" * 32), brand="default")
    assert first.created and not again.created and first.message_id == again.message_id
    runtime.jobs.drain()
    assert len(outbox(engine)) == 1


def test_opt_out_with_a_question_goes_to_a_person(runtime: Runtime, engine: Engine) -> None:
    accept_inbound(engine, sms("Stop. Where is my refund?"), brand="default")
    runtime.jobs.drain()
    with Session(engine) as session:
        (item,) = session.exec(select(HandoffItem)).all()
    assert item.reasons == ["compliance_handoff"]
    assert len(outbox(engine)) == 1  # the confirmation, and no automated answer (IN-8)


def test_crisis_language_is_escalated_first(runtime: Runtime, engine: Engine) -> None:
    accept_inbound(engine, sms("i want to die"), brand="default")
    runtime.jobs.drain()
    with Session(engine) as session:
        (item,) = session.exec(select(HandoffItem)).all()
        sent = session.exec(select(Message).where(Message.direction == "outbound")).all()
    assert item.reasons[0] == "safety_language" and item.priority == 0
    # Emergency numbers, and no answer: the echo responder's reply is never sent.
    assert [m.purpose for m in sent] == ["safety"]
    assert "call 911 now" in sent[0].body and "you said" not in sent[0].body


def test_marketing_at_night_is_scheduled_not_sent(
    runtime: Runtime, engine: Engine, frozen: clock.FrozenClock
) -> None:
    from app.outbound.send import queue_outbound, release_due
    from app.storage.messages import get_or_create_conversation

    frozen.set(TUESDAY_1130PM)  # 23:30 for a 212 number: quiet hours
    runtime.compliance.record(
        "consent_captured", phone=PHONE, at=clock.now() - timedelta(days=1), scope="all"
    )
    with Session(engine) as session:
        conversation = get_or_create_conversation(session, brand="default", phone=PHONE)
        queue_outbound(
            session,
            conversation=conversation,
            body="Acme: 20% off today. Reply STOP to opt out",
            category="marketing",
            purpose="api",
            idempotency_key="promo-1",
            provider="console",
        )
        session.commit()
    runtime.jobs.drain()
    with Session(engine) as session:
        message = session.exec(select(Message).where(Message.idempotency_key == "promo-1")).one()
    assert message.status == "scheduled"
    assert message.send_after is not None and message.send_after > clock.now()
    assert outbox(engine) == []
    assert release_due(engine) == 0
    frozen.set(message.send_after)  # the next morning it goes
    assert release_due(engine) == 1
    runtime.jobs.drain()
    assert outbox(engine) == ["Acme: 20% off today. Reply STOP to opt out"]


def test_texts_the_compliance_layer_acts_on_are_queued_as_urgent(
    runtime: Runtime, engine: Engine
) -> None:
    bodies = ["What time do you open?", "STOP", "please stop texting me", "HELP", "thanks!"]
    for body in bodies:
        accept_inbound(engine, sms(body), brand="default")
    with Session(engine) as session:
        priorities = session.exec(select(Job.priority).order_by(col(Job.id))).all()
    assert priorities == [0, URGENT, URGENT, URGENT, 0]


class DraftingResponder:
    """Answers every text, records what it drafted, and asks for a person on "person"."""

    def respond(self, request: ResponderRequest) -> Decided:
        draft = f"Acme: about {request.body!r}. Reply STOP to opt out"
        if "person" in request.body:
            handoff = HandOff((Reason.asked_for_person,), team="billing")
            return Decided(handoff, {"draft": draft, "team": "billing"})
        return Decided(Reply((Answer("echo", draft),)), {"draft": draft, "intent": "other"})


def test_while_a_person_owns_the_thread_the_bot_drafts_but_never_sends(
    engine: Engine, settings: Settings
) -> None:
    runtime = build_runtime(settings, engine=engine, responder=DraftingResponder())
    accept_inbound(engine, sms("I want a person"), brand="default")
    runtime.jobs.drain()
    (acknowledgement,) = outbox(engine)
    assert acknowledgement == (
        "Acme: Sure. A member of our team will text you back here within about 15 minutes. "
        "Reply STOP to opt out."
    )
    with Session(engine) as session:
        (item,) = session.exec(select(HandoffItem)).all()
        item.status, item.claimed_at = "claimed", item.created_at  # an agent owns it
        session.add(item)
        session.commit()
    accept_inbound(engine, sms("my order is AC123", at=clock.now() + timedelta(minutes=1)),
                   brand="default")  # fmt: skip
    runtime.jobs.drain()
    assert len(outbox(engine)) == 1  # the second text was not answered by the bot
    with Session(engine) as session:
        decisions = session.exec(select(AiDecision).order_by(col(AiDecision.id))).all()
        items = session.exec(select(HandoffItem)).all()
    assert [d.action for d in decisions] == ["handoff", "draft"]
    assert decisions[1].record["draft"] == "Acme: about 'my order is AC123'. Reply STOP to opt out"
    assert len(items) == 1 and items[0].due_at is not None  # one item, with its SLA clock
    assert items[0].team == "billing"  # routed to the team that owns the question


def test_a_stop_during_a_handoff_is_honoured_and_shown_on_the_item(
    engine: Engine, settings: Settings
) -> None:
    runtime = build_runtime(settings, engine=engine, responder=DraftingResponder())
    accept_inbound(engine, sms("I want a person"), brand="default")
    accept_inbound(engine, sms("STOP"), brand="default")
    runtime.jobs.drain()
    (confirmation,) = outbox(engine)
    assert "unsubscribed" in confirmation
    with Session(engine) as session:
        (item,) = session.exec(select(HandoffItem)).all()
    assert item.reasons == ["asked_for_person", "opted_out"] and item.priority == 20

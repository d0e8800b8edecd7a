"""The processor acting on each typed decision, on SQLite and PostgreSQL: what the customer
receives (and with which purpose), the queue item and its SLA, and what is only kept as a draft.

The responder is scripted (it returns the `Decided` values a test lists), so these tests pin the
processor's side of the seam. The clock is frozen: acknowledgements say when a person replies,
and the SLA is counted in business hours (New York, Monday to Friday 09:00-18:00).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app import clock
from app.channels.base import InboundSms
from app.compliance.model import GateRequest
from app.config import Settings
from app.handoff import claims
from app.handoff.agents import create_agent
from app.pipeline.decision import (
    Answer,
    Clarify,
    Close,
    Decided,
    Decision,
    HandOff,
    Option,
    Reason,
    Reply,
)
from app.pipeline.ingress import accept_inbound
from app.pipeline.responder import ResponderRequest
from app.runtime import Runtime, build_runtime
from app.storage.tables import AiDecision, HandoffItem, Message, OutboxEntry

PHONE = "+12125550144"
TUESDAY_11AM = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # New York: business hours
SATURDAY_11PM = datetime(2026, 3, 15, 3, 0, tzinfo=UTC)  # New York: Saturday 23:00
SATURDAY_1130PM = datetime(2026, 3, 15, 3, 30, tzinfo=UTC)  # New York: Saturday 23:30
MONDAY_9_15AM = datetime(2026, 3, 16, 13, 15, tzinfo=UTC)  # 15 business minutes after that
WITHIN_15 = "A member of our team will text you back here within about 15 minutes."
SAFETY = (
    "If you or someone else is in danger, call 911 now. If you are thinking about harming "
    "yourself, call or text 988 any time. A person from our team will also text you back here."
)
HOURS = "Open 9am-9pm daily. acme.com/stores"
_sids = itertools.count(1)


class Script:
    """A responder that returns the listed decisions in order, and keeps what it was asked."""

    def __init__(self, *decisions: Decision | Exception) -> None:
        self.decisions = list(decisions)
        self.requests: list[ResponderRequest] = []

    def respond(self, request: ResponderRequest) -> Decided:
        self.requests.append(request)
        decision = self.decisions.pop(0)
        if isinstance(decision, Exception):
            raise decision
        record: dict[str, Any] = {"decision": Decided(decision).kind}
        if isinstance(decision, Reply):
            record |= {"entries": list(decision.entries), "draft": decision.answers[0].text}
        elif isinstance(decision, Clarify | Close):
            record["draft"] = decision.text
        elif isinstance(decision, HandOff):
            record |= {"reasons": [r.value for r in decision.reasons], "draft": decision.draft}
        return Decided(decision, record)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(TUESDAY_11AM) as stopped:
        yield stopped


def build(engine: Engine, settings: Settings, script: Script, **overrides: Any) -> Runtime:
    return build_runtime(settings.model_copy(update=overrides), engine=engine, responder=script)


def text(runtime: Runtime, body: str) -> uuid.UUID:
    """The customer texts `body` now; everything it leads to runs; the clock moves on a minute."""
    sms = InboundSms(
        provider="twilio",
        provider_message_id=f"SM{next(_sids):032d}",
        from_number=PHONE,
        to_number="+18005550199",
        body=body,
        received_at=clock.now(),
    )
    message_id = accept_inbound(runtime.engine, sms, brand="default").message_id
    runtime.jobs.drain()
    clock.FrozenClock().advance(timedelta(minutes=1))
    return message_id


def outbox(engine: Engine) -> list[tuple[str, str]]:
    """(purpose, body) of every text that reached the provider, in order."""
    with Session(engine) as session:
        rows = session.exec(
            select(Message.purpose, OutboxEntry.body)
            .join(Message, col(Message.idempotency_key) == col(OutboxEntry.idempotency_key))
            .order_by(col(OutboxEntry.id))
        ).all()
    return [(str(purpose), body) for purpose, body in rows]


def outbound(engine: Engine) -> list[Message]:
    """Every text to the customer the processor queued (sent or not)."""
    with Session(engine) as session:
        return list(session.exec(select(Message).where(Message.direction == "outbound")).all())


def items(engine: Engine) -> list[HandoffItem]:
    with Session(engine) as session:
        return list(session.exec(select(HandoffItem)).all())


def decisions(engine: Engine) -> list[AiDecision]:
    with Session(engine) as session:
        rows = session.exec(
            select(AiDecision, Message)
            .join(Message, col(Message.id) == col(AiDecision.message_id))
            .order_by(col(Message.created_at))
        ).all()
    return [decision for decision, _ in rows]


def claim(engine: Engine) -> None:
    """An agent of the brand claims the conversation's open item, as the console does."""
    with Session(engine, expire_on_commit=False) as session:
        agent = create_agent(
            session, email=f"ana.{uuid.uuid4().hex[:6]}@example.com",
            password="correct horse battery", brands=["default"],
        )  # fmt: skip
        (item,) = session.exec(select(HandoffItem)).all()
        assert claims.claim(session, agent=agent, item_id=item.id) == "ok"
        session.commit()


# -- hand-offs ------------------------------------------------------------------------------------


def test_a_handoff_sends_one_acknowledgement_and_queues_one_item(
    engine: Engine, settings: Settings, frozen: clock.FrozenClock
) -> None:
    script = Script(HandOff((Reason.asked_for_person,), team="billing", draft="Refunds take..."))
    runtime = build(engine, settings, script)
    text(runtime, "can someone look at my refund")
    # The first text to this customer: it names the brand and says how to opt out.
    assert outbox(engine) == [("handoff_ack", f"Acme: Sure. {WITHIN_15} Reply STOP to opt out.")]
    (item,) = items(engine)
    assert (item.reasons, item.priority, item.team, item.status) == (
        ["asked_for_person"], Reason.asked_for_person.priority, "billing", "open"
    )  # fmt: skip
    assert item.due_at == TUESDAY_11AM + timedelta(minutes=15)
    (decision,) = decisions(engine)
    assert (decision.action, decision.reasons) == ("handoff", ["asked_for_person"])
    assert decision.record["draft"] == "Refunds take..."  # for the agent, never sent
    (request,) = script.requests
    assert request.first_outbound and request.queue == "none"


def test_the_acknowledgement_is_worded_for_the_most_urgent_reason(
    engine: Engine, settings: Settings, frozen: clock.FrozenClock
) -> None:
    script = Script(HandOff((Reason.no_knowledge, Reason.legal)))
    runtime = build(engine, settings, script)
    text(runtime, "my attorney needs the receipts")
    assert outbox(engine) == [
        (
            "handoff_ack",
            "Acme: Thanks. We've passed this to our team, and a person will text you back here "
            "within about 15 minutes. Reply STOP to opt out.",
        )
    ]
    (item,) = items(engine)
    assert (item.reasons, item.priority) == (["no_knowledge", "legal"], 15)


def test_a_second_handoff_while_waiting_adds_reasons_but_no_second_acknowledgement(
    engine: Engine, settings: Settings, frozen: clock.FrozenClock
) -> None:
    script = Script(
        HandOff((Reason.asked_for_person,)), HandOff((Reason.negative_sentiment,), language="es")
    )
    runtime = build(engine, settings, script)
    text(runtime, "a person pls")
    text(runtime, "hello?? still nobody")
    assert [purpose for purpose, _ in outbox(engine)] == ["handoff_ack"]
    assert [m.purpose for m in outbound(engine)] == ["handoff_ack"]  # nothing else queued
    (item,) = items(engine)
    assert item.reasons == ["asked_for_person", "negative_sentiment"]
    assert item.priority == Reason.negative_sentiment.priority  # raised by the new reason
    assert item.due_at == TUESDAY_11AM + timedelta(minutes=15)  # its SLA clock stays
    assert script.requests[1].queue == "waiting" and not script.requests[1].first_outbound


def test_a_failing_responder_hands_off_with_an_acknowledgement(
    engine: Engine, settings: Settings, frozen: clock.FrozenClock
) -> None:
    runtime = build(engine, settings, Script(RuntimeError("model server down")))
    text(runtime, "do you fix e-bikes")
    assert outbox(engine) == [
        ("handoff_ack", f"Acme: Thanks for your message. {WITHIN_15} Reply STOP to opt out.")
    ]
    (item,) = items(engine)
    assert (item.reasons, item.priority) == (["responder_error"], 40)


# -- safety ---------------------------------------------------------------------------------------


def test_a_safety_handoff_at_night_is_due_within_the_safety_minutes(
    engine: Engine, settings: Settings
) -> None:
    script = Script(HandOff((Reason.safety,)))
    with clock.frozen(SATURDAY_1130PM):
        runtime = build(engine, settings, script)
        text(runtime, "he is hurting me")
    assert outbox(engine) == [("safety", f"Acme: {SAFETY} Reply STOP to opt out.")]
    (item,) = items(engine)
    assert (item.reasons, item.priority) == (["safety_language"], 0)
    # Wall-clock minutes, not business ones: nobody waits for Monday in danger.
    assert item.due_at == SATURDAY_1130PM + timedelta(minutes=5)


def test_the_safety_target_and_numbers_are_the_deployments(
    engine: Engine, settings: Settings
) -> None:
    script = Script(HandOff((Reason.safety,)))
    with clock.frozen(SATURDAY_1130PM):
        runtime = build(
            engine, settings, script, safety_first_response_minutes=10, emergency_number="112"
        )
        text(runtime, "he is hurting me")
    ((purpose, body),) = outbox(engine)
    assert purpose == "safety" and "call 112 now" in body and "911" not in body
    (item,) = items(engine)
    assert item.due_at == SATURDAY_1130PM + timedelta(minutes=10)


def test_a_safety_handoff_is_sent_even_while_an_agent_owns_the_conversation(
    engine: Engine, settings: Settings
) -> None:
    script = Script(HandOff((Reason.asked_for_person,)), HandOff((Reason.safety,)))
    with clock.frozen(SATURDAY_11PM) as night:
        runtime = build(engine, settings, script)
        text(runtime, "i need a person")
        (item,) = items(engine)
        assert item.due_at == MONDAY_9_15AM  # business minutes: after the weekend
        claim(engine)
        night.set(SATURDAY_1130PM)
        text(runtime, "text two")
    assert [m.status for m in outbound(engine)] == ["sent", "sent"]  # none held for the night
    assert outbox(engine) == [
        ("handoff_ack", "Acme: Sure. A member of our team will text you back here on Monday "
                        "after 9am. Reply STOP to opt out."),
        ("safety", SAFETY),
    ]  # fmt: skip
    (item,) = items(engine)
    assert item.status == "claimed" and item.reasons == ["asked_for_person", "safety_language"]
    assert item.priority == 0
    assert item.due_at == SATURDAY_1130PM + timedelta(minutes=5)  # sooner than Monday
    assert script.requests[1].queue == "owned"


def test_danger_in_a_text_is_never_answered_whatever_the_responder_says(
    engine: Engine, settings: Settings, frozen: clock.FrozenClock
) -> None:
    # The processor's own patterns catch danger: a reply from the knowledge base never goes.
    script = Script(Reply((Answer("chargers", "Chargers are $25. acme.com/chargers"),)))
    runtime = build(engine, settings, script)
    text(runtime, "smoke is pouring out of the charger you sold me")
    assert outbox(engine) == [("safety", f"Acme: {SAFETY} Reply STOP to opt out.")]
    (item,) = items(engine)
    assert (item.reasons, item.priority) == (["safety_language"], 0)


# -- answers while a person is on the conversation ------------------------------------------------


@pytest.mark.parametrize("while_waiting", ["answer", "silent"])
def test_a_reply_while_the_item_waits_unclaimed(
    engine: Engine, settings: Settings, frozen: clock.FrozenClock, while_waiting: str
) -> None:
    script = Script(HandOff((Reason.asked_for_person,)), Reply((Answer("store-hours", HOURS),)))
    runtime = build(engine, settings, script, while_waiting=while_waiting)
    text(runtime, "i want to talk to someone")
    text(runtime, "also what are your hours")
    if while_waiting == "answer":
        # The customer is helped now; the agent sees the answer in the thread.
        assert outbox(engine)[1:] == [("reply", HOURS)]
    else:
        assert [m.purpose for m in outbound(engine)] == ["handoff_ack"]  # nothing queued
    assert outbox(engine)[0][0] == "handoff_ack"
    assert script.requests[1].queue == "waiting"
    (item,) = items(engine)
    assert item.status == "open" and item.reasons == ["asked_for_person"]
    # Unsent while the bot stays silent: kept as the agent's draft.
    answered = "reply" if while_waiting == "answer" else "draft"
    assert [d.action for d in decisions(engine)] == ["handoff", answered]


@pytest.mark.parametrize(
    "decision",
    [
        Reply((Answer("store-hours", HOURS),)),
        Clarify((Option(1, "Store hours", "store-hours"),), "Which one? 1) Store hours"),
    ],
    ids=["reply", "clarify"],
)
def test_while_an_agent_owns_the_conversation_the_bot_only_drafts(
    engine: Engine, settings: Settings, frozen: clock.FrozenClock, decision: Decision
) -> None:
    script = Script(HandOff((Reason.asked_for_person,)), decision)
    runtime = build(engine, settings, script)  # while_waiting="answer": owning still wins
    text(runtime, "i want to talk to someone")
    claim(engine)
    text(runtime, "and the shop hours?")
    assert [m.purpose for m in outbound(engine)] == ["handoff_ack"]  # the draft is not sent
    handoff, draft = decisions(engine)
    assert (handoff.action, draft.action) == ("handoff", "draft")
    assert draft.record["draft"] in (HOURS, "Which one? 1) Store hours")
    assert script.requests[1].queue == "owned"


# -- closing --------------------------------------------------------------------------------------


def test_a_close_with_text_sends_it_and_a_close_without_sends_nothing(
    engine: Engine, settings: Settings, frozen: clock.FrozenClock
) -> None:
    script = Script(Close(None), Close("You're welcome! Text us anytime."), Close(None))
    runtime = build(engine, settings, script)
    text(runtime, "👍")
    assert outbound(engine) == [] and items(engine) == []
    text(runtime, "thanks!")
    text(runtime, "ok")
    assert outbox(engine) == [
        ("close", "Acme: You're welcome! Text us anytime. Reply STOP to opt out.")
    ]
    assert items(engine) == []  # a close never opens a queue item
    assert [d.action for d in decisions(engine)] == ["close", "close", "close"]


# -- the first text of a conversation -------------------------------------------------------------


def test_the_first_text_gets_the_brand_and_the_opt_out_line_once(
    engine: Engine, settings: Settings, frozen: clock.FrozenClock
) -> None:
    two = Reply((Answer("store-hours", HOURS), Answer("returns", "Returns: 30 days.")))
    script = Script(two, Reply((Answer("store-hours", HOURS),)))
    runtime = build(engine, settings, script)
    text(runtime, "hours? and returns?")
    text(runtime, "hours again pls")
    # The link's "acme.com" does not say who is texting: the brand goes first, once.
    assert outbox(engine) == [
        ("reply", f"Acme: {HOURS} Reply STOP to opt out."),
        ("reply", "Returns: 30 days."),
        ("reply", HOURS),
    ]
    assert script.requests[0].first_outbound and not script.requests[1].first_outbound


def test_a_first_text_that_already_names_the_brand_is_not_named_twice(
    engine: Engine, settings: Settings, frozen: clock.FrozenClock
) -> None:
    named = "Acme stores open 9am-9pm. Reply STOP to opt out."
    runtime = build(engine, settings, Script(Reply((Answer("store-hours", named),))))
    text(runtime, "when do you open")
    ((_, body),) = outbox(engine)
    assert body == named
    assert body.count("Acme") == 1 and body.count("Reply STOP to opt out") == 1


# -- a customer who opted out ---------------------------------------------------------------------


def test_an_opted_out_customer_gets_no_acknowledgement_the_person_has_the_one_reply(
    engine: Engine, settings: Settings, frozen: clock.FrozenClock
) -> None:
    script = Script(HandOff((Reason.asked_for_person,)))
    runtime = build(engine, settings, script)
    stop = text(runtime, "STOP")
    text(runtime, "i need a person about my refund")  # texts again after opting out
    # The confirmation only, no acknowledgement: it would use up IN-7's one reply to a text
    # sent after opting out, promising a reply the gate would then block.
    assert [(m.purpose, m.idempotency_key) for m in outbound(engine)] == [
        ("opt_out_confirmation", f"opt_out_confirmation:{stop}")
    ]
    assert runtime.compliance.consent(PHONE).state.status == "opted_out"
    (item,) = items(engine)
    assert item.reasons == ["asked_for_person"]
    # The agent still has that one reply.
    gate = runtime.compliance.check_outbound(
        GateRequest(PHONE, clock.now(), "reply"),
        body="Hi, Ana from Acme here about your refund.",
        record=False,
    )
    assert gate.allowed, gate.reasons

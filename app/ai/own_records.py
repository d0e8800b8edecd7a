"""The policy step that answers a customer with their own records: "where's my order?" with
their latest order's status and tracking, "when is my appointment?" with their next one, "when
does my club renew?" with their membership.

The topic comes from the intent classifier (order_status; the appointment intents; billing and
subscription_info), narrowed by the text for the two intents that also cover general questions
("when is my appointment", not "can i book one"; "renew", not "why was i charged"). The records
come only from the number the text came from (`ResponderRequest.phone` and `.brand`): a number
with none, or an order id that is not theirs, goes to a person (account_specific); a source that
is down goes to a person too (context_unavailable). A business with no customer records at all
(the built-in tables empty) keeps the knowledge base's general answer.
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo

from app import clock, log
from app.ai.policy import Context, person_reasons
from app.context.model import Customer
from app.context.wording import appointment_text, order_text, subscription_text
from app.errors import ContextUnavailable
from app.pipeline.decision import Answer, Decision, Reason, Reply

Topic = Literal["order", "appointment", "subscription"]
ENTRY_PREFIX = "context:"
"""A reply from the customer's records names its entry `context:<topic>` (not a KB entry)."""

_ORDER_INTENTS = frozenset({"order_status"})
_APPOINTMENT_INTENTS = frozenset(
    {"book_appointment", "reschedule_appointment", "cancel_appointment"}
)
_SUBSCRIPTION_INTENTS = frozenset({"billing", "subscription_info"})
# "when is my appointment", "what time is my fitting", "is my tune up still on", "do i have
# an appointment": the customer's own booking, not how to make one.
_APPOINTMENT_WORDS = r"(?:appointment|appt|booking|fitting|fit|tune ?-?up|service|reservation)"
_MY_APPOINTMENT = re.compile(
    rf"\b(?:when|what time|what day|which day)(?:'s|s| is| was| are)?\s+(?:my|our|the)\s+"
    rf"(?:\w+\s+)?{_APPOINTMENT_WORDS}\b"
    rf"|\bmy\s+(?:\w+\s+)?{_APPOINTMENT_WORDS}\b.*\b(?:when|what time|still on|today|tomorrow)\b"
    rf"|\bdo i (?:still )?have (?:an?|my) (?:\w+\s+)?{_APPOINTMENT_WORDS}\b",
    re.I,
)
_APPOINTMENT_ACTION = re.compile(r"\b(?:cancel|reschedule|resched|move|change|push|late)\b", re.I)
_RENEWAL = re.compile(r"\brenew(?:s|al|ed|ing)?\b|\bexpire[sd]?\b|\bnext (?:payment|bill)\b", re.I)
_NOT_RENEWAL_DATE = re.compile(
    r"\b(?:cancel|stop|pause|refund|charged?|twice|declined|turn off|don'?t)\b", re.I
)
_ORDER_ID = re.compile(
    r"\b([a-z]{2}-?\d{4,})\b|(?:#|\border\s*(?:number|no\.?|num)?\s*#?)\s*(\d{4,})\b", re.I
)
_logger = log.get_logger("ai.context")


def own_records(ctx: Context) -> Decision | None:
    """Answer a question about the customer's own order, appointment or membership from their
    records, or hand it to a person when the records cannot answer it; other texts pass on."""
    topic = topic_of(ctx)
    source = ctx.request.context
    if topic is None or source is None or person_reasons(ctx):
        return None  # not about their records, or a person is needed anyway (needs_person)
    brand, phone = ctx.request.brand, ctx.request.phone
    try:
        if not source.covers(brand):
            return None
        customer = source.customer(brand, phone)
    except ContextUnavailable as exc:
        ctx.record["customer_context"] = {"source": source.name, "topic": topic, "error": str(exc)}
        _logger.warning("context.handoff", topic=topic, error=str(exc))
        return ctx.handoff(Reason.context_unavailable, draft=False)
    ctx.record["customer_context"] = {
        "source": source.name,
        "topic": topic,
        "found": customer is not None,
    }
    if customer is None:
        return ctx.handoff(Reason.account_specific, draft=False)
    text = _text(ctx, customer, topic)
    if text is None:
        return ctx.handoff(Reason.account_specific, draft=False)
    previous = ctx.request.previous
    if previous is not None and previous.kind == "reply" and previous.reply == text:
        return ctx.handoff(Reason.repeated_failure, draft=False)  # it did not help the first time
    return Reply((Answer(f"{ENTRY_PREFIX}{topic}", text),), language=ctx.reading.language)


def topic_of(ctx: Context) -> Topic | None:
    """Which of the customer's records the text asks about, if any."""
    reading = ctx.reading
    intents = _intents(ctx)
    text = f"{reading.plain}\n{reading.text}"
    if intents & _ORDER_INTENTS:
        return "order"
    if (
        intents & _APPOINTMENT_INTENTS
        and _MY_APPOINTMENT.search(text)
        and not _APPOINTMENT_ACTION.search(text)
    ):
        return "appointment"
    if (
        intents & _SUBSCRIPTION_INTENTS
        and _RENEWAL.search(text)
        and not _NOT_RENEWAL_DATE.search(text)
    ):
        return "subscription"
    return None


def _intents(ctx: Context) -> set[str]:
    """The intents the text may have: the classifier's when it is confident, and the topic of
    a knowledge entry that matches the text well."""
    reading = ctx.reading
    found: set[str] = set()
    if (
        not reading.intent.out_of_scope
        and reading.intent.confidence >= ctx.thresholds.min_confidence
    ):
        found.add(reading.intent.intent)
    hits = reading.hits
    if hits and hits[0].score >= ctx.thresholds.sure_retrieval_score:
        found.add(hits[0].intent)
    return found


def _text(ctx: Context, customer: Customer, topic: Topic) -> str | None:
    """Their record as a text, or None when they have none of that kind."""
    language = ctx.reading.language
    texts = ctx.wording.context(language)
    zone = ZoneInfo(ctx.wording.clock.timezone)
    if topic == "order":
        asked = _order_ids(ctx.reading.text)
        if asked:
            mine = [o for o in (customer.order(i) for i in asked) if o is not None]
            if not mine:
                ctx.record["customer_context"]["order_not_theirs"] = True
                return None  # an order id that is not on file for this number: never looked up
            order = mine[0]
        else:
            found = customer.latest_order()
            if found is None:
                return None
            order = found
        return order_text(texts, customer, order, language=language, zone=zone)
    if topic == "appointment":
        upcoming = customer.next_appointment(clock.now())
        if upcoming is None:
            return None
        return appointment_text(texts, customer, upcoming, language=language, zone=zone)
    if customer.subscription is None:
        return None
    return subscription_text(texts, customer, customer.subscription, language=language)


def _order_ids(text: str) -> list[str]:
    """The order ids written in the text ("AC10442", "order #10442")."""
    return [(m.group(1) or m.group(2)).replace("-", "") for m in _ORDER_ID.finditer(text)]

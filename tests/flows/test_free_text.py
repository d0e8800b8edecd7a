"""Free-text answers read with the sentence encoder and the options' examples (the AI on),
and the offered slots of the appointment flow."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from app.config import Settings
from app.runtime import Runtime, build_runtime
from tests.flows.conftest import Customer, EchoResponder

APPOINTMENT = {"name": "Ana", "date": "Tue 10 Mar", "time": "3pm"}
# Instants; the offer writes them in the business's time zone (America/New_York, UTC-4 then).
SLOTS = [datetime(2026, 3, 12, 18, 0, tzinfo=UTC), datetime(2026, 3, 13, 13, 30, tzinfo=UTC)]


@pytest.fixture
def ai_runtime(engine: Engine, flow_settings: Settings) -> Iterator[Runtime]:
    settings = flow_settings.model_copy(update={"bot": "ai"})
    yield build_runtime(settings, engine=engine, responder=EchoResponder())


@pytest.fixture
def person(ai_runtime: Runtime) -> Customer:
    return Customer(ai_runtime)


@pytest.mark.parametrize(
    ("flow", "variables", "text", "outcome", "status"),
    [
        ("appointment_reminder", APPOINTMENT, "yeah i'll be there", "confirmed", "completed"),
        ("appointment_reminder", APPOINTMENT, "yep", "confirmed", "completed"),
        ("order_pickup", {"name": "Ana", "order": "A-1"}, "on my way, 10 min", "on_the_way",
         "completed"),
        ("subscription_renewal", {"name": "Ana", "plan": "Box", "date": "Mar 20"},
         "not this month", "skipped", "completed"),
        ("delivery_exception", {"name": "Ana", "order": "A-1"}, "i'll pick it up myself",
         "store_pickup", "completed"),
    ],
)  # fmt: skip
def test_free_text_answers(
    person: Customer, flow: str, variables: dict[str, str], text: str, outcome: str, status: str
) -> None:
    person.start(flow, **variables)
    person.text(text)
    run = person.run()
    assert (run.outcome, run.status) == (outcome, status), run.answers
    assert run.answers[0]["text"] == text


@pytest.mark.parametrize("text", ["can we do thursday instead?", "not this week"])
def test_reschedule_without_slots_goes_to_a_person(person: Customer, text: str) -> None:
    person.start("appointment_reminder", **APPOINTMENT)
    replies = person.text(text)
    run = person.run()
    assert (run.status, run.outcome) == ("handed_off", "reschedule_requested")
    assert "We will find a new time with you." in replies
    item = person.queue()
    assert item is not None and item.reasons == ["flow_needs_person"]


def test_reschedule_offers_free_slots_and_books_one(person: Customer) -> None:
    assert person.runtime.flows is not None

    def free_slots(brand: str, after: datetime, limit: int) -> Sequence[object]:
        return SLOTS[:limit]

    person.runtime.flows.slots = free_slots
    person.start("appointment_reminder", **APPOINTMENT)
    (offer,) = person.text("2")
    assert "1 Thu 12 Mar 14:00, 2 Fri 13 Mar 09:30" in offer
    (booked,) = person.text("2")
    assert booked == "Done: your appointment is moved to Fri 13 Mar 09:30. See you then!"
    run = person.run()
    assert (run.status, run.outcome) == ("completed", "rescheduled")


def test_a_question_is_not_an_answer(person: Customer) -> None:
    person.start("order_pickup", name="Ana", order="A-1")
    (reply,) = person.text("do you have parking near the store?")
    assert reply.startswith("echo:")
    assert person.run().status == "active"

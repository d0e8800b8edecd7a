"""The satisfaction survey after an agent resolves a hand-off: once, never after a safety
hand-off, never to an opted-out number, and a low rating goes to a person."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from app.handoff import claims
from app.handoff.agents import create_agent
from app.runtime import Runtime
from app.storage.tables import FlowRun, HandoffItem
from tests.flows.conftest import Customer


def resolve(runtime: Runtime, outcome: str = "resolved") -> None:
    with Session(runtime.engine, expire_on_commit=False) as session:
        agent = create_agent(
            session, email=f"a{uuid.uuid4().hex[:6]}@example.com", password=uuid.uuid4().hex,
            role="supervisor", brands=["default"],
        )  # fmt: skip
        item = session.exec(select(HandoffItem).where(HandoffItem.status != "resolved")).one()
        assert claims.resolve(session, agent=agent, item_id=item.id, outcome=outcome) == "ok"  # type: ignore[arg-type]
        session.commit()
    runtime.jobs.drain()


def surveys(runtime: Runtime) -> list[FlowRun]:
    with Session(runtime.engine) as session:
        found = session.exec(select(FlowRun).where(FlowRun.flow == "satisfaction_survey"))
        return list(found.all())


def test_resolving_sends_one_survey_and_a_low_rating_goes_to_a_person(
    customer: Customer, runtime: Runtime
) -> None:
    customer.start("order_pickup", name="Ana", order="A-1")
    customer.text("3")  # talk to someone
    resolve(runtime)
    (survey,) = surveys(runtime)
    assert survey.source == "survey"
    assert customer.outbox()[-1].startswith("Acme: How did we do")
    (sorry, more) = customer.text("2")
    assert sorry == "Sorry to hear that." and more.startswith("What went wrong?")
    customer.text("nobody called me back for two days")
    run = customer.run("satisfaction_survey")
    assert (run.status, run.outcome) == ("handed_off", "rated_2")
    resolve(runtime)  # the survey's own follow-up: no second survey
    assert len(surveys(runtime)) == 1


def test_no_survey_after_a_safety_handoff(customer: Customer, runtime: Runtime) -> None:
    customer.text("i want to kill myself")
    resolve(runtime)
    assert surveys(runtime) == []


def test_no_survey_to_an_opted_out_number_or_for_spam(customer: Customer, runtime: Runtime) -> None:
    customer.start("order_pickup", name="Ana", order="A-1")
    customer.text("3")
    customer.text("STOP")
    resolve(runtime)
    assert surveys(runtime) == []
    customer.phone = "+12125550888"
    customer.start("order_pickup", key="k2", name="Bo", order="A-2")
    customer.text("3")
    resolve(runtime, outcome="spam")
    assert surveys(runtime) == []

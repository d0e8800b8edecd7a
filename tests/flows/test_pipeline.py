"""The flow step's place in the pipeline: after compliance, before the AI; only option keys
while the AI loads (free text waits for it, in order); a re-run job never acts twice; danger is
never an answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.jobs.inprocess import InProcessEngine
from app.pipeline.ingress import PROCESS_INBOUND
from app.pipeline.processor import WAITING_FOR_AI
from app.runtime import Runtime, build_runtime
from app.storage.tables import AiDecision, FlowRun, Message
from tests.flows.conftest import Customer, EchoResponder

ORDER = {"name": "Ana", "order": "A-1"}


@pytest.fixture
def loading(engine: Engine, flow_settings: Settings) -> Iterator[Runtime]:
    settings = flow_settings.model_copy(update={"bot": "ai"})
    built = build_runtime(settings, engine=engine, responder=EchoResponder())
    built.readiness.elsewhere()  # the models are loading (in another process)
    yield built


def test_while_the_ai_loads_a_key_is_answered_and_free_text_waits(loading: Runtime) -> None:
    customer = Customer(loading)
    customer.start("order_pickup", **ORDER)
    assert customer.text("on my way") == []  # might be an answer: it waits for the AI
    with Session(loading.engine) as session:
        waiting = session.exec(select(Message).where(Message.body == "on my way")).one()
        assert waiting.status == WAITING_FOR_AI
    assert customer.run().answers == []
    customer.phone = "+12125550444"
    customer.start("order_pickup", key="k2", **ORDER)
    (reply,) = customer.text("1")  # an option's key needs no model
    assert "at the counter" in reply and customer.run().outcome == "on_the_way"


def test_a_rerun_job_does_not_act_twice(customer: Customer, runtime: Runtime) -> None:
    customer.start("payment_reminder", name="Ana", amount="$5", date="Mar 1", link="x.io/p")
    customer.text("1")
    with Session(runtime.engine) as session:
        message = session.exec(select(Message).where(Message.body == "1")).one()
    assert isinstance(runtime.jobs, InProcessEngine)
    runtime.jobs.handlers[PROCESS_INBOUND]({"message_id": str(message.id)})
    runtime.jobs.drain()
    run = customer.run()
    assert len(run.answers) == 1 and len(customer.outbox()) == 2
    with Session(runtime.engine) as session:
        (decision,) = session.exec(select(AiDecision)).all()
        assert decision.action == "flow"
        assert decision.record | {"score": None} == {
            "decision": "flow", "flow": "payment_reminder", "node": "payment",
            "option": "1", "matched_by": "key", "score": None,
        }  # fmt: skip


def test_danger_is_never_an_answer(customer: Customer) -> None:
    customer.start("post_visit_feedback", name="Ana")
    customer.text("1")
    assert customer.run().node == "more"
    customer.text("i want to kill myself")
    run = customer.run()
    assert run.status == "active" and run.node == "more"  # the safety hand-off took it
    item = customer.queue()
    assert item is not None and item.reasons == ["safety_language"]


def test_a_new_flow_supersedes_the_waiting_one(customer: Customer, engine: Engine) -> None:
    customer.start("order_pickup", **ORDER)
    customer.start("payment_reminder", key="k2", name="Ana", amount="$5", date="Mar 1", link="l")
    with Session(engine) as session:
        runs = {r.flow: r.status for r in session.exec(select(FlowRun)).all()}
    assert runs == {"order_pickup": "cancelled", "payment_reminder": "active"}
    (reply,) = customer.text("1")
    assert "payment link" in reply

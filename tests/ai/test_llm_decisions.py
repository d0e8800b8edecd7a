"""LLM mode under the same decisions and guardrails: an OpenAI-compatible server on loopback
answers for the LLM, the real pipeline does the rest."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app import clock
from app.ai.models import AiModels
from app.ai.responder import AiResponder
from app.channels.base import InboundSms
from app.config import Settings
from app.pipeline.ingress import accept_inbound
from app.runtime import Runtime, build_runtime
from app.storage.tables import AiDecision, HandoffItem, Message
from tests.ai.fake_openai import Action, FakeOpenAI, classification
from tests.conftest import REPO

PHONE = "+12125550177"
TUESDAY_MORNING = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 11:00 in New York
_sids = itertools.count(1)


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    yield server
    server.close()


@pytest.fixture
def runtime(
    sqlite_engine: Engine, ai_models: AiModels, ai_data_dir: Path, llm: FakeOpenAI
) -> Iterator[Runtime]:
    settings = Settings(
        env="test", data_dir=ai_data_dir, knowledge_dir=REPO / "knowledge",
        llm_base_url=llm.base_url, llm_max_retries=0, llm_timeout_seconds=10.0,
    )  # fmt: skip
    with clock.frozen(TUESDAY_MORNING):
        yield build_runtime(
            settings, engine=sqlite_engine, responder=AiResponder(settings, models=ai_models)
        )


def text(runtime: Runtime, body: str) -> tuple[list[Message], AiDecision]:
    sms = InboundSms("twilio", f"SM{next(_sids):032d}", PHONE, "+18005550199", body, clock.now())
    accept_inbound(runtime.engine, sms, brand="default")
    runtime.jobs.drain()
    with Session(runtime.engine) as session:
        sent = session.exec(
            select(Message).where(Message.direction == "outbound").order_by(col(Message.created_at))
        ).all()
        decision = session.exec(select(AiDecision).order_by(col(AiDecision.id).desc())).first()
    assert decision is not None
    return list(sent), decision


def queue_reasons(runtime: Runtime) -> list[str]:
    with Session(runtime.engine) as session:
        item = session.exec(select(HandoffItem)).first()
    return item.reasons if item is not None else []


def test_when_the_llm_finds_no_answer_the_top_entry_is_not_sent(
    runtime: Runtime, llm: FakeOpenAI
) -> None:
    llm.script("classify", Action(classification("store_hours")))
    llm.script("draft", Action("NO_ANSWER"))
    sent, decision = text(runtime, "what time do you close on saturday?")
    assert [m.purpose for m in sent] == ["handoff_ack"]  # a person, not the hours entry
    assert decision.action == "handoff" and decision.reasons == ["not_answerable"]
    assert queue_reasons(runtime) == ["not_answerable"]


def test_an_llm_that_says_a_person_is_needed_hands_off(runtime: Runtime, llm: FakeOpenAI) -> None:
    llm.script("classify", Action(classification("order_status", needs_human=True)))
    sent, decision = text(runtime, "where is my order")
    assert [m.purpose for m in sent] == ["handoff_ack"]
    assert "llm_needs_human" in decision.reasons and llm.count("draft") == 0


def test_safety_wins_whatever_the_llm_says(runtime: Runtime, llm: FakeOpenAI) -> None:
    llm.script("classify", Action(classification("store_hours")))
    sent, decision = text(runtime, "my chest hurts really bad and i cant breathe, are you open")
    assert [m.purpose for m in sent] == ["safety"] and "911" in sent[0].body
    assert decision.reasons == ["safety_language"] and decision.record["draft"] is None
    assert llm.count("draft") == 0


def test_an_llm_answer_is_grounded_and_records_its_cost(runtime: Runtime, llm: FakeOpenAI) -> None:
    llm.script("classify", Action(classification("store_hours")))
    llm.script("draft", Action("We're open 10am-6pm on Sundays. acme.com/stores"))
    sent, decision = text(runtime, "are you open on sunday")
    assert [m.purpose for m in sent] == ["reply"]
    assert "10am-6pm on Sundays" in sent[0].body and sent[0].body.startswith("Acme: ")
    assert decision.record["mode"] == "llm" and decision.record["draft_mode"] == "llm"
    assert decision.record["llm"]["calls"] == 2 and decision.record["llm"]["cost_usd"] > 0

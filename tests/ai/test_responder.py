"""The AI responder through the real pipeline: real models, a real database, real guardrails;
the LLM mode against a scripted OpenAI-compatible server on loopback.

The clock stands still on a Tuesday morning in New York (business hours): hand-off
acknowledgements say when a person replies, and that depends on the hour.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app import clock
from app.ai.models import AiModels
from app.ai.responder import AiResponder
from app.channels.base import InboundSms
from app.config import Settings
from app.pipeline.decision import Group, Reason
from app.pipeline.ingress import accept_inbound
from app.runtime import Runtime, build_runtime
from app.storage.tables import AiDecision, HandoffItem, Message, OutboxEntry
from tests.ai.fake_openai import Action, FakeOpenAI, classification
from tests.conftest import REPO

PHONE = "+12125550123"
TUESDAY_MORNING = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 11:00 in New York
_sids = itertools.count(1)
# What the customer reads when a person takes over, by the reason's group (first text: brand and
# opt-out line; business hours: the 15-minute target).
WITHIN_15 = "A member of our team will text you back here within about 15 minutes."
ACK_PERSON = f"Acme: Sure. {WITHIN_15} Reply STOP to opt out."
ACK_COMPLAINT = f"Acme: We're sorry about this. {WITHIN_15} Reply STOP to opt out."
ACK_DEFAULT = f"Acme: Thanks for your message. {WITHIN_15} Reply STOP to opt out."


def ai_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(env="test", data_dir=data_dir, knowledge_dir=REPO / "knowledge", **overrides)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(TUESDAY_MORNING) as stopped:
        yield stopped


@pytest.fixture
def runtime(
    sqlite_engine: Engine, ai_models: AiModels, ai_data_dir: Path, frozen: clock.FrozenClock
) -> Iterator[Runtime]:
    settings = ai_settings(ai_data_dir)
    yield build_runtime(
        settings, engine=sqlite_engine, responder=AiResponder(settings, models=ai_models)
    )


def text(runtime: Runtime, body: str, *, phone: str = PHONE, at: datetime | None = None) -> None:
    sms = InboundSms(
        provider="twilio",
        provider_message_id=f"SM{next(_sids):032d}",
        from_number=phone,
        to_number="+18005550199",
        body=body,
        received_at=at or clock.now(),
    )
    accept_inbound(runtime.engine, sms, brand="default")
    runtime.jobs.drain()


def sent(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return [e.body for e in session.exec(select(OutboxEntry).order_by(col(OutboxEntry.id)))]


def sent_with_purpose(engine: Engine) -> list[tuple[str, str]]:
    """(purpose, body) of every text that reached the provider, in sending order."""
    with Session(engine) as session:
        rows = session.exec(select(OutboxEntry).order_by(col(OutboxEntry.id))).all()
        purposes = {
            m.idempotency_key: m.purpose
            for m in session.exec(select(Message).where(Message.direction == "outbound"))
        }
    return [(str(purposes[row.idempotency_key]), row.body) for row in rows]


def decisions(engine: Engine) -> list[AiDecision]:
    with Session(engine) as session:
        return list(session.exec(select(AiDecision).order_by(col(AiDecision.id))))


def queue(engine: Engine) -> list[list[str]]:
    with Session(engine) as session:
        return [item.reasons for item in session.exec(select(HandoffItem))]


def test_a_known_question_gets_the_grounded_answer_naming_the_brand(
    runtime: Runtime, ai_models: AiModels
) -> None:
    text(runtime, "what time do you open on sunday?")
    (reply,) = sent(runtime.engine)
    hours = ai_models.kb.entry("store-hours").sms_reply()
    assert "Sun 10am-6pm" in hours
    # MSG-2: the first text to this customer names the brand up front (the entry's link
    # "acme.com/stores" does not say who is texting) and says how to opt out, once.
    assert reply == f"Acme: {hours} Reply STOP to opt out."
    (decision,) = decisions(runtime.engine)
    assert (decision.action, decision.intent) == ("reply", "store_hours")
    assert decision.record["entries"] == ["store-hours"]
    assert decision.record["team"] is None  # only a hand-off is routed to a team
    assert decision.record["retrieved"][0]["entry_id"] == "store-hours"
    assert all(check["passed"] for check in decision.record["guardrails"])
    assert queue(runtime.engine) == []


def test_the_second_answer_is_the_plain_entry(runtime: Runtime) -> None:
    text(runtime, "what time do you open on sunday?")
    text(runtime, "can I pause my club membership?")
    second = sent(runtime.engine)[1]
    assert not second.endswith("Reply STOP to opt out.") and "pause" in second


@pytest.mark.parametrize(
    ("body", "reason", "acknowledgement"),
    [
        ("can I talk to a real person please", "asked_for_person", ACK_PERSON),
        (
            "this is the worst service ever, I'm furious, you people are useless",
            "negative_sentiment",
            ACK_COMPLAINT,
        ),
        ("what's the weather going to be like tomorrow?", Group.unanswerable, ACK_DEFAULT),
    ],
)
def test_texts_a_person_should_answer_are_handed_on_with_the_reason(
    runtime: Runtime, body: str, reason: str | Group, acknowledgement: str
) -> None:
    text(runtime, body)
    # No answer from the bot: one acknowledgement, worded for the reason, saying when.
    assert sent_with_purpose(runtime.engine) == [("handoff_ack", acknowledgement)]
    ((reasons),) = queue(runtime.engine)
    (decision,) = decisions(runtime.engine)
    assert decision.action == "handoff" and reasons == decision.reasons
    if isinstance(reason, Group):  # any reason of the group (the knowledge does not cover it)
        assert {Reason(r).group for r in reasons} == {reason}
    else:
        assert reason in reasons


def test_a_revocation_the_rules_miss_is_an_opt_out(runtime: Runtime) -> None:
    text(runtime, "Bórrenme de su lista, por favor!")
    assert runtime.compliance.consent(PHONE).state.status == "opted_out"
    (confirmation,) = sent(runtime.engine)
    assert "STOP" not in confirmation or "START" in confirmation  # the opt-out confirmation
    (decision,) = decisions(runtime.engine)
    assert decision.action == "opt_out"


def test_a_possible_revocation_goes_to_a_person(runtime: Runtime) -> None:
    text(runtime, "por favor sáquenme de su lista")
    assert runtime.compliance.consent(PHONE).state.status != "opted_out"
    # Not opted out: the customer is told, in Spanish, that a person will reply (and, on this
    # first text, how to opt out, in Spanish too), and nothing else.
    assert sent_with_purpose(runtime.engine) == [
        (
            "handoff_ack",
            "Acme: Gracias por tu mensaje. Una persona de nuestro equipo te escribira aqui "
            "en unos 15 minutos. Responde STOP para darte de baja.",
        )
    ]
    assert queue(runtime.engine)[0][0] == "possible_revocation"


def test_a_customer_rephrasing_after_an_answer_goes_to_a_person(
    runtime: Runtime, frozen: clock.FrozenClock
) -> None:
    text(runtime, "can I pause my club membership?", at=clock.now() - timedelta(minutes=2))
    assert [purpose for purpose, _ in sent_with_purpose(runtime.engine)] == ["reply"]
    text(runtime, "how do i pause my club membership??")
    assert "repeated_failure" in queue(runtime.engine)[0]
    # The same answer is not sent twice: the second text gets the acknowledgement only.
    assert [purpose for purpose, _ in sent_with_purpose(runtime.engine)] == [
        "reply",
        "handoff_ack",
    ]


# -- LLM mode ----------------------------------------------------------------------------------


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    yield server
    server.close()


@pytest.fixture
def llm_runtime(
    sqlite_engine: Engine,
    ai_models: AiModels,
    ai_data_dir: Path,
    llm: FakeOpenAI,
    frozen: clock.FrozenClock,
) -> Iterator[Runtime]:
    settings = ai_settings(
        ai_data_dir, llm_base_url=llm.base_url, llm_timeout_seconds=3.0, llm_max_retries=2
    )
    # One few-shot example, on a copy: the loaded models are shared by the whole session.
    models = dataclasses.replace(
        ai_models,
        examples=[("where is my order", "order_status")],
        example_vectors=ai_models.encoder.encode(["where is my order"]),
    )
    responder = AiResponder(settings, models=models)
    yield build_runtime(settings, engine=sqlite_engine, responder=responder)


def test_llm_mode_classifies_and_drafts_from_the_knowledge(
    llm_runtime: Runtime, llm: FakeOpenAI
) -> None:
    llm.script("classify", Action(classification("store_hours")))
    llm.script("draft", Action("We open Sunday 10am to 6pm. See acme.com/stores"))
    text(llm_runtime, "when do u open sunday")
    (reply,) = sent(llm_runtime.engine)
    assert "We open Sunday 10am to 6pm" in reply
    (decision,) = decisions(llm_runtime.engine)
    assert (decision.record["mode"], decision.record["draft_mode"]) == ("llm", "llm")
    prompt = llm.requests[0]["messages"][0]["content"]
    assert "store_hours" in prompt and "where is my order" in prompt  # catalogue and few-shot


def test_an_invented_fact_fails_the_guardrail_and_escalates(
    llm_runtime: Runtime, llm: FakeOpenAI
) -> None:
    llm.script("classify", Action(classification("store_hours")))
    llm.script("draft", Action("We open Sunday at 7am and close at 11pm!"))
    text(llm_runtime, "when do u open sunday")
    # The invented hours never reach the customer: a person takes over and says so.
    assert sent_with_purpose(llm_runtime.engine) == [("handoff_ack", ACK_DEFAULT)]
    (decision,) = decisions(llm_runtime.engine)
    assert "guardrail_failed" in decision.reasons
    grounded = decision.record["guardrails"][0]
    assert grounded["name"] == "grounded" and not grounded["passed"] and "11" in grounded["detail"]


@pytest.mark.parametrize(
    ("failure", "draft_failure"),
    [
        (Action(status=429), Action(status=429)),
        (Action(status=500), Action(status=503)),
        (Action("this is not json"), Action("")),  # an empty draft is malformed too
        (Action(classification("store_hours", confidence=7.0)), Action(status=500)),
        (Action(classification("store_hours"), delay=4), Action("late", delay=4)),
    ],
    ids=["rate-limited", "server-error", "malformed", "invalid", "timeout"],
)
def test_a_failing_llm_is_retried_then_the_local_models_answer(
    llm_runtime: Runtime,
    ai_models: AiModels,
    llm: FakeOpenAI,
    failure: Action,
    draft_failure: Action,
) -> None:
    llm.script("classify", failure, failure, failure)  # three attempts: 1 + 2 retries
    llm.script("draft", draft_failure, draft_failure, draft_failure)
    text(llm_runtime, "what time do you open on sunday?")
    assert llm.count("classify") == 3 and llm.count("draft") == 3
    (reply,) = sent(llm_runtime.engine)
    hours = ai_models.kb.entry("store-hours").sms_reply()
    assert reply == f"Acme: {hours} Reply STOP to opt out."  # the local answer
    (decision,) = decisions(llm_runtime.engine)
    assert (decision.record["mode"], decision.record["draft_mode"]) == ("local", "local")
    assert decision.record["entries"] == ["store-hours"]


def test_one_rate_limit_is_retried_and_the_llm_still_answers(
    llm_runtime: Runtime, llm: FakeOpenAI
) -> None:
    llm.script("classify", Action(status=429), Action(classification("store_hours")))
    llm.script("draft", Action("Sunday hours are 10am to 6pm."))
    text(llm_runtime, "what time do you open on sunday?")
    assert sent(llm_runtime.engine) == [
        "Acme: Sunday hours are 10am to 6pm. Reply STOP to opt out."
    ]
    assert llm.count("classify") == 2


def test_the_llm_reading_a_revocation_opts_the_customer_out(
    llm_runtime: Runtime, llm: FakeOpenAI
) -> None:
    llm.script("classify", Action(classification("complaint", revocation_intent=True)))
    text(llm_runtime, "ya no quiero saber nada de ustedes")
    assert llm_runtime.compliance.consent(PHONE).state.status == "opted_out"
    (decision,) = decisions(llm_runtime.engine)
    assert decision.action == "opt_out" and llm.count("draft") == 0


def test_a_batch_of_customers_gets_the_answers_each_would_get_alone(runtime: Runtime) -> None:
    from app.jobs.inprocess import InProcessEngine

    jobs = runtime.jobs
    assert isinstance(jobs, InProcessEngine)
    bodies = [
        "What time do you open?",
        "how do I cancel my club membership",
        "I want to talk to a real person",
        "do u guys price match?",
    ]

    def store(phones: list[str]) -> None:
        for phone, body in zip(phones, bodies, strict=True):
            sms = InboundSms(
                provider="twilio",
                provider_message_id=f"SM{next(_sids):032d}",
                from_number=phone,
                to_number="+18005550199",
                body=body,
                received_at=clock.now(),
            )
            accept_inbound(runtime.engine, sms, brand="default")

    store([f"+1212555020{i}" for i in range(4)])
    assert jobs.run_batch(8) == 4  # the four texts in one batch, encoded together
    alone = [f"+1212555030{i}" for i in range(4)]
    for phone, body in zip(alone, bodies, strict=True):
        text(runtime, body, phone=phone)  # one at a time

    with Session(runtime.engine) as session:
        rows = session.exec(select(AiDecision, Message).join(Message)).all()
        by_body: dict[str, list[tuple[str, object]]] = {}
        for decision, message in rows:
            by_body.setdefault(message.body, []).append(
                (decision.action, decision.record.get("entry_id"))
            )
        statuses = {
            m.status for m in session.exec(select(Message).where(Message.direction == "inbound"))
        }
    assert statuses == {"processed"}
    assert all(len(found) == 2 and found[0] == found[1] for found in by_body.values()), by_body


@pytest.mark.parametrize(
    "body", ["", "My tent arrived damaged, here's a photo of the tear, order AC12345"]
)
def test_a_picture_goes_to_a_person_who_can_look_at_it(
    runtime: Runtime, tmp_path: Path, body: str
) -> None:
    from app.channels.base import Media
    from app.media.store import save
    from tests.media.pictures import png

    stored = save(tmp_path, png(), max_bytes=5_000_000)
    sms = InboundSms(
        provider="twilio",
        provider_message_id=f"MM{next(_sids):032d}",
        from_number=PHONE,
        to_number="+18005550199",
        body=body,
        received_at=clock.now(),
        media=(Media(url="", content_type="image/png", upload=stored),),
    )
    accept_inbound(runtime.engine, sms, brand="default")
    runtime.jobs.drain()
    # Not closed as a bare emoji, not answered: a person, with the plain acknowledgement.
    ((reasons),) = queue(runtime.engine)
    assert "media_received" in reasons
    [(purpose, _)] = sent_with_purpose(runtime.engine)
    assert purpose == "handoff_ack"

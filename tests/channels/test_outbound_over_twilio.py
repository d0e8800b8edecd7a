"""The outbound path end to end over Twilio's REST API (a loopback fake): gate, retries, errors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from tenacity import wait_none

from app.channels.base import InboundSms
from app.channels.twilio import TwilioSender
from app.config import Settings
from app.outbound import send as outbound
from app.pipeline.ingress import accept_inbound
from app.runtime import Runtime, build_runtime
from app.storage.messages import get_or_create_conversation
from app.storage.tables import Message, MessageStatus
from tests.channels.fake_twilio import OPTED_OUT, RATE_LIMITED, SERVER_ERROR, FakeTwilio

PHONE = "+12125550123"


@pytest.fixture
def runtime(
    sqlite_engine: Engine, twilio_settings: Settings, twilio_sender: TwilioSender
) -> Iterator[Runtime]:
    runtime = build_runtime(twilio_settings, engine=sqlite_engine, sender=twilio_sender)
    # Fast retries: the policy (what is retried, how many times) is under test, not the wait.
    sender = runtime.jobs.handlers["send_outbound"]
    assert isinstance(sender, outbound.OutboundSender)
    sender.retry_wait = wait_none()
    yield runtime


def stop(engine: Engine, sid: str = "SM" + "b" * 32) -> None:
    sms = InboundSms("twilio", sid, PHONE, "+15005550006", "STOP", datetime.now(UTC))
    accept_inbound(engine, sms, brand="default")


def confirmation(engine: Engine) -> tuple[Message, list[str]]:
    with Session(engine) as session:
        message = session.exec(
            select(Message).where(Message.purpose == "opt_out_confirmation")
        ).one()
        steps = session.exec(select(MessageStatus).where(MessageStatus.message_id == message.id))
        return message, [s.status for s in steps]


def test_confirmation_goes_out_through_twilio(runtime: Runtime, fake_twilio: FakeTwilio) -> None:
    stop(runtime.engine)
    runtime.jobs.drain()
    (request,) = fake_twilio.requests
    assert request.field("To") == PHONE and "unsubscribed" in (request.field("Body") or "")
    assert request.field("StatusCallback") == "https://sms.example.com/webhooks/twilio/status"
    message, steps = confirmation(runtime.engine)
    assert message.provider_message_id and message.provider_message_id.startswith("SM")
    assert steps[-1] == "queued"  # what Twilio answered; delivery reports move it on


def test_rate_limit_is_retried_with_the_same_idempotency_key(
    runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.script.extend([RATE_LIMITED, RATE_LIMITED])
    stop(runtime.engine)
    runtime.jobs.drain()
    assert len(fake_twilio.requests) == 3
    tokens = {r.headers.get("i-twilio-idempotency-token") for r in fake_twilio.requests}
    assert len(tokens) == 1 and None not in tokens
    assert confirmation(runtime.engine)[1][-1] == "queued"


def test_persistent_server_errors_end_in_a_recorded_failure(
    runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.script.extend([SERVER_ERROR] * 10)
    stop(runtime.engine)
    runtime.jobs.drain()
    assert len(fake_twilio.requests) == 4  # bounded attempts, then stop
    message, steps = confirmation(runtime.engine)
    assert steps[-1] == "failed" and message.status_reason


def test_carrier_opt_out_is_recorded_and_not_retried(
    runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.script.append(OPTED_OUT)
    # A reply within 24 h of the customer's text may go at any hour (QH-6): no clock in this test.
    runtime.compliance.record_inbound_seen(phone=PHONE, at=datetime.now(UTC))
    with Session(runtime.engine) as session:
        conversation = get_or_create_conversation(session, brand="default", phone=PHONE)
        for key in ("answer-1", "answer-2"):
            outbound.queue_outbound(
                session,
                conversation=conversation,
                body="Acme: it ships Monday. Reply STOP to opt out",
                category="reply",
                purpose="reply",
                idempotency_key=key,
                provider="twilio",
            )
        session.commit()
    runtime.jobs.drain()
    assert len(fake_twilio.requests) == 1  # refused once, never retried, the second never tried
    assert runtime.compliance.consent(PHONE).state.status == "opted_out"
    with Session(runtime.engine) as session:
        first, second = (
            session.exec(select(Message).where(Message.idempotency_key == key)).one()
            for key in ("answer-1", "answer-2")
        )
    assert (first.status, first.error_code) == ("failed", "21610")
    assert second.status == "cancelled"


def test_agent_picture_goes_to_twilio_as_a_signed_media_url(
    sqlite_engine: Engine,
    twilio_settings: Settings,
    twilio_sender: TwilioSender,
    fake_twilio: FakeTwilio,
) -> None:
    from urllib.parse import parse_qs, urlsplit

    from app.media.links import valid
    from app.media.store import save
    from app.outbound.agent import send_agent_reply
    from tests.media.pictures import png

    # No bot (its models are not under test) and no pacing: the two sends go at once.
    quick = {"bot": "off", "send_rate_per_number": "100/second"}
    twilio_settings = twilio_settings.model_copy(update=quick)
    runtime = build_runtime(twilio_settings, engine=sqlite_engine, sender=twilio_sender)
    hello = InboundSms("twilio", "SM" + "c" * 32, PHONE, "+15005550006", "hi", datetime.now(UTC))
    accept_inbound(runtime.engine, hello, brand="default")
    runtime.jobs.drain()
    with Session(runtime.engine, expire_on_commit=False) as session:
        conversation = get_or_create_conversation(session, brand="default", phone=PHONE)
    picture = save(twilio_settings.media_path, png(), max_bytes=twilio_settings.media_max_bytes)
    outcome = send_agent_reply(
        runtime.engine,
        runtime.compliance,
        conversation=conversation,
        body="",
        key="picture-only-1",
        provider="twilio",
        pictures=[picture],
    )
    assert outcome.status == "queued", outcome.decision
    runtime.jobs.drain()
    (request,) = [r for r in fake_twilio.requests if r.form.get("MediaUrl")]
    (url,) = request.form["MediaUrl"]
    parts = urlsplit(url)
    assert url.startswith("https://sms.example.com/media/")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    media_id = uuid.UUID(parts.path.rsplit("/", 1)[1])
    assert valid(twilio_settings, media_id, expires=int(query["expires"]), sig=query["sig"])

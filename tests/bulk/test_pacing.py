"""Throughput limits at send time: a text over its number's or campaign's limit waits (its
job runs again later), is never dropped and never sent twice; STOP confirmations never wait.

Limits here are per hour so that no test depends on how fast it runs; "the window passes" is
the limiter's window emptied and the clock moved on by an hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app import clock
from app.campaigns.recipients import read_csv
from app.campaigns.service import create_campaign
from app.channels.base import InboundSms
from app.clock import FrozenClock
from app.config import Settings
from app.outbound.pacing import SendPacer
from app.outbound.send import SEND_OUTBOUND, queue_outbound
from app.pipeline.ingress import accept_inbound
from app.runtime import Runtime, build_runtime
from app.storage.messages import get_or_create_conversation
from app.storage.tables import Job, Message, MessageStatus
from tests.bulk.conftest import PICKUP, RecordingSender, StandInFlows, csv_of, drain

NOON_ET = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
PHONES = ["+12125550101", "+12125550102", "+12125550103"]


def paced(
    engine: Engine,
    settings: Settings,
    stand_in: StandInFlows,
    sender: RecordingSender,
    **rates: str,
) -> Runtime:
    configured = settings.model_copy(update=rates)
    return build_runtime(configured, engine=engine, campaign_flows=stand_in.flows(), sender=sender)


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    with clock.frozen(NOON_ET) as at:
        yield at


def window_passes(runtime: Runtime, frozen: FrozenClock) -> None:
    pacer = runtime.jobs.handlers[SEND_OUTBOUND].pacer  # type: ignore[attr-defined]
    pacer.storage.reset()
    frozen.advance(timedelta(hours=1, seconds=1))


def queue_texts(engine: Engine, phones: list[str]) -> None:
    with Session(engine) as session:
        for phone in phones:
            conversation = get_or_create_conversation(session, brand="default", phone=phone)
            queue_outbound(
                session,
                conversation=conversation,
                body="Acme: your order has shipped. Reply STOP to opt out.",
                category="transactional",
                purpose="api",
                idempotency_key=f"api:{phone}",
                provider="console",
            )
        session.commit()


def test_a_text_over_the_numbers_limit_waits_and_goes_once_later(
    engine: Engine,
    settings: Settings,
    stand_in: StandInFlows,
    sender: RecordingSender,
    frozen: FrozenClock,
) -> None:
    runtime = paced(engine, settings, stand_in, sender, send_rate_per_number="1/hour")
    queue_texts(engine, PHONES)
    drain(runtime)
    assert len(sender.sent) == 1
    with Session(engine) as session:
        statuses = sorted(m.status for m in session.exec(select(Message)).all())
        waiting = session.exec(
            select(Job).where(Job.kind == SEND_OUTBOUND, Job.state == "pending")
        ).all()
        history = {s.status for s in session.exec(select(MessageStatus)).all()}
    assert statuses == ["queued", "queued", "sent"]  # waiting, not failed, not rescheduled
    assert len(waiting) == 2 and all(job.run_after > NOON_ET for job in waiting)
    assert all(job.attempts == 0 for job in waiting)  # waiting is not failing
    assert history == {"queued", "sending", "sent"}
    for expected in (2, 3):
        window_passes(runtime, frozen)
        drain(runtime)
        assert len(sender.sent) == expected
    window_passes(runtime, frozen)
    drain(runtime)
    assert sender.per_phone() == dict.fromkeys(PHONES, 1)


def test_a_stop_confirmation_never_waits_for_the_limit(
    engine: Engine,
    settings: Settings,
    stand_in: StandInFlows,
    sender: RecordingSender,
    frozen: FrozenClock,
) -> None:
    runtime = paced(engine, settings, stand_in, sender, send_rate_per_number="1/hour")
    queue_texts(engine, PHONES[:2])
    drain(runtime)
    assert [sms.to_number for sms in sender.sent] == [PHONES[0]]
    stop = InboundSms("console", "in-1", PHONES[2], "+18005550199", "STOP", clock.now())
    accept_inbound(engine, stop, brand="default")
    drain(runtime)
    assert [sms.to_number for sms in sender.sent] == [PHONES[0], PHONES[2]]
    with Session(engine) as session:
        confirmation = session.exec(
            select(Message).where(Message.purpose == "opt_out_confirmation")
        ).one()
    assert confirmation.status == "sent" and sender.sent[1].message_id == confirmation.id


def test_each_campaign_has_its_own_limit(
    engine: Engine,
    settings: Settings,
    stand_in: StandInFlows,
    sender: RecordingSender,
    frozen: FrozenClock,
) -> None:
    runtime = paced(engine, settings, stand_in, sender, send_rate_per_campaign="1/hour")
    campaigns = []
    for phones in (PHONES[:2], ["+14155550101", "+14155550102"]):
        rows = [(phone, "Ana", "Main St") for phone in phones]
        recipients = read_csv(csv_of(rows), PICKUP)
        campaigns.append(
            create_campaign(
                engine, flow=PICKUP, recipients=recipients, brand="default", name=None, source="cli"
            )
        )
    queue_texts(engine, ["+13125550199"])  # not a campaign text: no campaign limit applies
    drain(runtime)
    sent = [sms.to_number for sms in sender.sent]
    assert sorted(sent) == sorted(["+13125550199", PHONES[0], "+14155550101"])
    window_passes(runtime, frozen)
    drain(runtime)
    assert len(sender.sent) == 5 and len(set(s.to_number for s in sender.sent)) == 5


def test_default_limits_follow_the_provider(settings: Settings) -> None:
    assert SendPacer.from_settings(settings) is None  # console: no carrier behind it
    twilio = settings.model_copy(update={"sms_provider": "twilio"})
    pacer = SendPacer.from_settings(twilio)
    assert pacer is not None and pacer.feed_rate() == 1.0  # a long code: one a second
    top_tier = twilio.model_copy(
        update={"send_rate_per_number": "75/second", "send_rate_per_campaign": "30/second"}
    )
    pacer = SendPacer.from_settings(top_tier)
    assert pacer is not None and pacer.feed_rate() == 30.0


def test_a_rate_that_does_not_parse_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="not a rate such as '1/second'"):
        Settings(env="test", send_rate_per_number="fast")

"""Campaigns on a real database: batches through the job queue, each recipient started once,
refusals skipped with their reason, and a crash mid-batch redone without a second send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app import clock
from app.campaigns.recipients import RecipientErrors, read_csv
from app.campaigns.runner import CampaignRunner
from app.campaigns.service import RUN_CAMPAIGN, campaign_progress, create_campaign
from app.compliance.service import Compliance
from app.config import Settings
from app.jobs.inprocess import InProcessEngine
from app.runtime import Runtime
from app.storage.tables import Campaign, CampaignRecipient, Job, Message
from tests.bulk.conftest import LEADS, PICKUP, RecordingSender, StandInFlows, csv_of, drain

NOON_ET = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # a Wednesday, inside every window
PHONES = [f"+1212555{n:04d}" for n in range(101, 108)]


def pickup_csv(phones: list[str]) -> str:
    return csv_of([(phone, f"Customer {i}", "Main St") for i, phone in enumerate(phones)])


def test_a_campaign_starts_every_recipient_once_in_batches(
    engine: Engine, runtime: Runtime, sender: RecordingSender
) -> None:
    runner = runtime.jobs.handlers[RUN_CAMPAIGN]  # type: ignore[attr-defined]
    runner.batch_size = 3
    with clock.frozen(NOON_ET):
        campaign = create_campaign(
            engine,
            flow=PICKUP,
            recipients=read_csv(pickup_csv(PHONES), PICKUP),
            brand="default",
            name="June pickups",
            source="cli",
        )
        drain(runtime)
        progress = campaign_progress(engine, campaign.id)
    assert progress is not None and progress.done
    assert progress.states == {"pending": 0, "started": 7, "skipped": 0, "failed": 0}
    assert progress.texts == {"sent": 7}
    assert sender.per_phone() == dict.fromkeys(PHONES, 1)
    with Session(engine) as session:
        batches = session.exec(select(Job).where(Job.kind == RUN_CAMPAIGN)).all()
        keys = {m.idempotency_key for m in session.exec(select(Message)).all()}
    assert len(batches) == 3  # 3 + 3 + 1
    assert keys == {f"campaign:{campaign.id}:{phone}" for phone in PHONES}


def test_refusals_are_skipped_with_their_reason_and_never_sent(
    engine: Engine, runtime: Runtime, sender: RecordingSender, settings: Settings
) -> None:
    compliance = Compliance(engine, settings)
    opted_out, consented, unknown = "+12125550101", "+12125550102", "+12125550103"
    with clock.frozen(NOON_ET):
        compliance.record(
            "consent_captured", phone=opted_out, at=NOON_ET - timedelta(days=9), scope="all"
        )
        compliance.record(
            "consent_captured", phone=consented, at=NOON_ET - timedelta(days=9), scope="all"
        )
        compliance.process_inbound(phone=opted_out, body="STOP", received_at=NOON_ET)
        rows = [(phone, "Ana") for phone in (opted_out, consented, unknown)]
        campaign = create_campaign(
            engine,
            flow=LEADS,
            recipients=read_csv(csv_of(rows, header="phone,name"), LEADS),
            brand="default",
            name=None,
            source="api",
        )
        drain(runtime)
        progress = campaign_progress(engine, campaign.id)
    assert progress is not None
    assert progress.states["started"] == 1
    assert progress.skipped == {"opted_out": 1, "no_marketing_consent": 1}
    assert [sms.to_number for sms in sender.sent if "riding" in sms.body] == [consented]


def test_a_list_with_a_problem_is_refused_whole(engine: Engine) -> None:
    recipients = read_csv(pickup_csv([PHONES[0], PHONES[0]]), PICKUP)
    with pytest.raises(RecipientErrors, match=r"line 3: .* \(duplicate number\)"):
        create_campaign(
            engine, flow=PICKUP, recipients=recipients, brand="default", name=None, source="cli"
        )
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Campaign)).one() == 0
        assert session.exec(select(func.count()).select_from(Job)).one() == 0


class Crash(BaseException):
    """The process dies here (a BaseException: no handler catches it, like a SIGKILL)."""


def test_a_crash_mid_batch_is_redone_without_starting_anyone_twice(
    engine: Engine, stand_in: StandInFlows, sender: RecordingSender, runtime: Runtime
) -> None:
    calls = 0

    def dies_on_the_fifth_start(session: Session, request: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise Crash
        return stand_in.start(session, request)  # type: ignore[arg-type]

    with clock.frozen(NOON_ET):
        campaign = create_campaign(
            engine,
            flow=PICKUP,
            recipients=read_csv(pickup_csv(PHONES), PICKUP),
            brand="default",
            name=None,
            source="cli",
        )
        dying = InProcessEngine(
            engine,
            handlers={
                RUN_CAMPAIGN: CampaignRunner(engine, dies_on_the_fifth_start, batch_size=3)  # type: ignore[arg-type]
            },
            node="dying:1",
            kinds=frozenset({RUN_CAMPAIGN}),
        )
        with pytest.raises(Crash):
            dying.drain()
        with Session(engine) as session:
            states = session.exec(
                select(CampaignRecipient.state, func.count()).group_by(col(CampaignRecipient.state))
            ).all()
            running = session.exec(select(Job).where(Job.state == "running")).all()
        assert dict(states) == {"started": 3, "pending": 4}  # batch 1 committed, batch 2 not
        assert [job.kind for job in running] == [RUN_CAMPAIGN]  # left running by the dead one
        # The restart: recovery puts the job back; the batch runs again from its recipients.
        restarted = runtime.jobs
        assert isinstance(restarted, InProcessEngine)
        assert restarted.recover() == 1
        drain(runtime)
        progress = campaign_progress(engine, campaign.id)
    assert progress is not None and progress.done and progress.states["started"] == 7
    assert sender.per_phone() == dict.fromkeys(PHONES, 1)


def test_batches_are_spaced_at_the_campaigns_sending_rate(
    engine: Engine, runtime: Runtime, sender: RecordingSender
) -> None:
    runner = runtime.jobs.handlers[RUN_CAMPAIGN]  # type: ignore[attr-defined]
    runner.feed_rate = 2.0  # texts a second: batches of 4 (two seconds' worth)
    with clock.frozen(NOON_ET) as frozen:
        campaign = create_campaign(
            engine,
            flow=PICKUP,
            recipients=read_csv(pickup_csv(PHONES), PICKUP),
            brand="default",
            name=None,
            source="cli",
        )
        drain(runtime)
        assert len(sender.sent) == 4
        with Session(engine) as session:
            waiting = session.exec(
                select(Job).where(Job.kind == RUN_CAMPAIGN, Job.state == "pending")
            ).one()
        # Two seconds of sending, queued half a second ahead (the pacer holds the rate).
        assert waiting.run_after == NOON_ET + timedelta(seconds=1.5)
        frozen.advance(timedelta(seconds=1.5))
        drain(runtime)
        progress = campaign_progress(engine, campaign.id)
    assert progress is not None and progress.done and len(sender.sent) == 7


def test_a_recipient_whose_start_is_already_committed_is_not_started_again(
    engine: Engine, runtime: Runtime, sender: RecordingSender, stand_in: StandInFlows
) -> None:
    from app.campaigns.contract import FlowStart
    from app.campaigns.runner import idempotency_key

    with clock.frozen(NOON_ET):
        campaign = create_campaign(
            engine,
            flow=PICKUP,
            recipients=read_csv(pickup_csv(PHONES[:2]), PICKUP),
            brand="default",
            name=None,
            source="cli",
        )
        with Session(engine) as session:  # e.g. started by a run whose bookkeeping was lost
            request = FlowStart(
                flow="order_pickup",
                brand="default",
                phone=PHONES[0],
                variables={"name": "Ana", "store": "Main St"},
                source="bulk",
                idempotency_key=idempotency_key(campaign.id, PHONES[0]),
                campaign_id=campaign.id,
            )
            stand_in.start(session, request)
            session.commit()
        drain(runtime)
        progress = campaign_progress(engine, campaign.id)
    assert progress is not None and progress.states["started"] == 2
    assert sender.per_phone() == dict.fromkeys(PHONES[:2], 1)

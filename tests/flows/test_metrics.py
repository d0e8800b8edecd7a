"""Flow figures: counted from flow_runs rows on real SQLite and PostgreSQL databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.flows.metrics import (
    flow_figures,
    flow_metrics,
    flows_report,
    latest_run,
    percentile,
    rating_of,
    recent_runs,
)
from app.storage.tables import FlowRun
from tests.flows.run_factory import RunFactory

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def seed(session: Session) -> RunFactory:
    """Six appointment reminders, two order pickups, one old run and one of another brand."""
    runs = RunFactory(session, AT)
    reminder = "appointment_reminder"
    runs.run(reminder, "+12125550101", status="completed", outcome="confirmed",
             replied_after=2 * MIN, finished_after=2 * MIN)  # fmt: skip
    runs.run(reminder, "+12125550102", status="completed", outcome="confirmed",
             replied_after=10 * MIN, finished_after=10 * MIN)  # fmt: skip
    runs.run(reminder, "+12125550103", status="completed", outcome="slot_booked",
             replied_after=30 * MIN, finished_after=40 * MIN)  # fmt: skip
    runs.run(reminder, "+12125550104", status="handed_off",
             replied_after=5 * MIN, finished_after=6 * MIN)  # fmt: skip
    runs.run(reminder, "+12125550105", status="opted_out",
             replied_after=1 * MIN, finished_after=1 * MIN)  # fmt: skip
    runs.run(reminder, "+12125550106", status="expired", finished_after=DAY, ago=2 * DAY)
    runs.run("order_pickup", "+12125550107", status="active", node="ready")
    # Completed, but the customer asked for a person on the way: a hand-off during the run.
    runs.run("order_pickup", "+12125550108", status="completed", outcome="on_the_way",
             replied_after=3 * MIN, finished_after=20 * MIN)  # fmt: skip
    runs.handoff("+12125550108", ago=HOUR - 4 * MIN)
    # A queue item from before the run does not count.
    runs.handoff("+12125550101", ago=3 * HOUR)
    runs.run(reminder, "+12125550109", status="completed", outcome="confirmed", ago=40 * DAY)
    runs.run(reminder, "+12125550110", status="completed", outcome="confirmed", brand="globex")
    session.commit()
    return runs


def test_per_flow_and_overall_figures_for_a_period(engine: Engine) -> None:
    with Session(engine) as session:
        seed(session)
        report = flow_metrics(session, start=AT - 7 * DAY, end=AT, scope=("acme",))
    overall = report.overall
    assert (overall.started, overall.replied, overall.completed) == (8, 6, 4)
    assert overall.reply_rate == pytest.approx(6 / 8)
    assert overall.completion_rate == pytest.approx(4 / 8)
    assert overall.handed_off == 2 and overall.opted_out == 1 and overall.expired == 1
    assert overall.active == 1
    reminder = report.of("appointment_reminder")
    assert reminder is not None
    assert (reminder.started, reminder.replied, reminder.completed) == (6, 5, 3)
    assert reminder.outcomes == {"confirmed": 2, "slot_booked": 1}
    assert reminder.outcome_rate("confirmed") == pytest.approx(2 / 6)
    # Replies after 1, 2, 5, 10, 30 minutes: median 5, p90 30 (nearest rank).
    assert reminder.first_reply_p50 == 5 * MIN and reminder.first_reply_p90 == 30 * MIN
    assert reminder.handed_off == 1 and reminder.opted_out == 1 and reminder.expired == 1
    pickup = report.of("order_pickup")
    assert pickup is not None
    assert (pickup.started, pickup.replied, pickup.completed, pickup.handed_off) == (2, 1, 1, 1)
    assert [f.flow for f in report.flows] == ["appointment_reminder", "order_pickup"]


def test_every_brand_for_admins_and_nothing_outside_the_period(engine: Engine) -> None:
    with Session(engine) as session:
        seed(session)
        everyone = flow_metrics(session, start=AT - 7 * DAY, end=AT, scope=None)
        nobody = flow_metrics(session, start=AT - 7 * DAY, end=AT, scope=())
        a_day = flow_metrics(session, start=AT - DAY, end=AT, scope=("acme",))
    assert everyone.overall.started == 9
    assert nobody.empty and nobody.flows == [] and nobody.overall.reply_rate is None
    assert a_day.overall.started == 7  # the expired run started two days ago


def test_ratings_give_a_mean_and_csat() -> None:
    runs = [
        FlowRun(
            flow="satisfaction_survey", status="completed", outcome=f"rated_{score}", started_at=AT
        )
        for score in (5, 4, 2, 5)
    ]
    figures = flow_figures(runs, flow="satisfaction_survey")
    assert figures.ratings == (5, 4, 2, 5)
    assert figures.mean_rating == pytest.approx(4.0)
    assert figures.satisfied_rate == pytest.approx(0.75)
    assert rating_of("rated_3") == 3 and rating_of("confirmed") is None
    assert flow_figures([]).mean_rating is None and flow_figures([]).satisfied_rate is None


def test_no_runs_gives_empty_figures_without_dividing_by_zero() -> None:
    report = flows_report([])
    assert report.empty
    assert report.overall.reply_rate is None and report.overall.first_reply_p50 is None
    assert percentile([], 0.9) is None


def test_recent_runs_and_a_conversations_latest_run(engine: Engine) -> None:
    with Session(engine) as session:
        runs = seed(session)
        newer = runs.run("payment_reminder", "+12125550101", ago=10 * MIN, node="payment")
        session.commit()
        recent = recent_runs(session, scope=("acme",), limit=3)
        latest = latest_run(session, conversation_id=newer.conversation_id)
    assert recent[0][0].flow == "payment_reminder"
    assert recent[0][1].phone_e164 == "+12125550101"
    assert len(recent) == 3 and all(c.brand == "acme" for _, c in recent)
    assert latest is not None and latest.id == newer.id

"""The per-agent report: its figures on explicit timestamps, its page, its CSV and who may see
them; and the console's one time filter (business time zone, UTC on hover)."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app import clock
from app.config import Settings
from app.console.agent_report import AgentFigures, agent_report, survey_key
from app.console.metrics import dashboard_metrics, window
from app.console.report_csv import AGENT_COLUMNS
from app.console.templating import templates
from app.handoff.agents import create_agent
from app.handoff.sla import BusinessClock
from app.storage.tables import Agent, Conversation, FlowRun, HandoffItem, Message
from tests.console.conftest import PASSWORD, MakeAgent, app_engine, login

# Tuesday 10 March 2026, 16:00 UTC = 12:00 in New York (daylight time since Sunday 8 March).
AT = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
NEW_YORK = BusinessClock("mon-fri 09:00-18:00", "America/New_York", None)
_NUMBERS = itertools.count(1000)  # distinct customer numbers: +12125551000, +12125551001, ...


def _agent(session: Session, email: str, role: str, brands: list[str]) -> Agent:
    return create_agent(session, email=email, password=PASSWORD, role=role, brands=brands)


def _item(
    session: Session,
    owner: Agent | None,
    created: datetime,
    *,
    brand: str = "acme",
    reasons: tuple[str, ...] = ("low_confidence",),
    first_response: timedelta | datetime | None = None,
    resolved: timedelta | datetime | None = None,
    rating: str | None = None,
) -> HandoffItem:
    """A hand-off item; `first_response`/`resolved` are instants or delays after `created`;
    `rating` gives it a survey run with that outcome (`""`: a survey nobody answered)."""

    def instant(value: timedelta | datetime | None) -> datetime | None:
        return created + value if isinstance(value, timedelta) else value

    conversation = Conversation(
        brand=brand, phone_e164=f"+1212555{next(_NUMBERS):04d}", created_at=created
    )
    session.add(conversation)
    session.flush()
    item = HandoffItem(
        conversation_id=conversation.id,
        reasons=list(reasons),
        status="resolved" if resolved is not None else "claimed",
        outcome="resolved" if resolved is not None else None,
        created_at=created,
        assigned_to=owner.id if owner else None,
        claimed_at=created,
        first_response_at=instant(first_response),
        resolved_at=instant(resolved),
    )
    session.add(item)
    session.flush()
    if rating is not None:
        started = instant(resolved) or created
        session.add(
            FlowRun(
                brand=brand,
                phone_e164=conversation.phone_e164,
                conversation_id=conversation.id,
                flow="satisfaction_survey",
                status="completed" if rating else "active",
                outcome=rating or None,
                source="survey",
                idempotency_key=survey_key(item.id),
                started_at=started + MIN,
            )
        )
    return item


def seed(engine: Engine) -> None:
    """Four agents of acme (one disabled), one of globex, and their items around AT."""
    with Session(engine, expire_on_commit=False) as s:
        ana = _agent(s, "ana@example.com", "agent", ["acme"])
        bo = _agent(s, "bo@example.com", "agent", ["acme"])
        _agent(s, "sue@example.com", "supervisor", ["acme"])
        gone = _agent(s, "gone@example.com", "agent", ["acme"])
        gone.active = False
        gil = _agent(s, "gil@example.com", "agent", ["globex"])
        # ana 1: Tue 09:00 New York, answered in 10 min, resolved in 60, rated 5.
        _item(
            s, ana, AT - 3 * 60 * MIN, first_response=10 * MIN, resolved=60 * MIN, rating="rated_5"
        )
        # ana 2: Fri 6 March 16:55 EST; answered Mon 09:20 EDT (65 + 20 business minutes),
        # resolved Mon 10:00 (65 + 60); rated 2 (then told us more: handed off).
        _item(
            s,
            ana,
            datetime(2026, 3, 6, 21, 55, tzinfo=UTC),
            first_response=datetime(2026, 3, 9, 13, 20, tzinfo=UTC),
            resolved=datetime(2026, 3, 9, 14, 0, tzinfo=UTC),
            rating="rated_2",
        )
        # ana 3: a safety hand-off on Saturday night: on the wall clock, 5 and 30 minutes.
        _item(
            s,
            ana,
            datetime(2026, 3, 7, 3, 0, tzinfo=UTC),
            reasons=("safety_language",),
            first_response=5 * MIN,
            resolved=30 * MIN,
        )
        # ana 4: closed without a reply two minutes in; its survey was never answered.
        _item(s, ana, AT - 2 * 60 * MIN, resolved=2 * MIN, rating="")
        # bo: resolved on Monday 2 March, 11:00 EST (only in 30 days), and one still claimed.
        _item(s, bo, AT - 8 * 24 * 60 * MIN, first_response=4 * MIN, resolved=8 * MIN)
        _item(s, bo, AT - 30 * MIN, first_response=3 * MIN)
        # gone (disabled) resolved nothing in the week: not listed. gil: another brand.
        _item(s, gone, AT - 20 * 24 * 60 * MIN, resolved=MIN)
        _item(s, gil, AT - 60 * MIN, brand="globex", first_response=MIN, resolved=2 * MIN)
        # A rating that belongs to no item of these (another flow's key) changes nothing.
        _item(s, None, AT - 50 * MIN, rating=None)
        s.add(
            FlowRun(
                brand="acme",
                phone_e164="+12125550999",
                conversation_id=s.get(
                    HandoffItem, _item(s, None, AT - 40 * MIN).id
                ).conversation_id,  # type: ignore[union-attr]
                flow="satisfaction_survey",
                status="completed",
                outcome="rated_1",
                source="console",
                idempotency_key="console:someone-else",
                started_at=AT - 30 * MIN,
            )
        )
        s.commit()


def _rows(rows: list[AgentFigures]) -> dict[str, AgentFigures]:
    return {r.email: r for r in rows}


def test_week_for_one_brand_in_business_time(engine: Engine) -> None:
    seed(engine)
    with Session(engine) as session:
        report = agent_report(session, period="7d", scope=("acme",), clock=NEW_YORK, at=AT)

    assert [r.email for r in report.rows] == [
        "ana@example.com",
        "bo@example.com",
        "sue@example.com",
    ]
    ana = _rows(report.rows)["ana@example.com"]
    assert (ana.handled, ana.answered) == (4, 3)
    assert ana.first_response_median == 10 * MIN  # of 5 (safety, wall), 10 and 85 (business)
    assert ana.first_response_p90 == 85 * MIN
    assert ana.resolution_median == 45 * MIN  # of 2, 30, 60 and 125: (30 + 60) / 2
    assert (ana.survey_responses, ana.survey_mean) == (2, 3.5)  # 5 and 2; the silent one not
    bo = _rows(report.rows)["bo@example.com"]
    assert (bo.handled, bo.answered, bo.first_response_median, bo.survey_mean) == (0, 0, None, None)


def test_wall_clock_month_and_every_brand(engine: Engine) -> None:
    seed(engine)
    with Session(engine) as session:
        wall = agent_report(session, period="7d", scope=("acme",), clock=None, at=AT)
        month = agent_report(session, period="30d", scope=("acme",), clock=NEW_YORK, at=AT)
        everyone = agent_report(session, period="24h", scope=None, clock=NEW_YORK, at=AT)
        nobody = agent_report(session, period="7d", scope=(), clock=NEW_YORK, at=AT)

    # Friday 21:55 to Monday 13:20 UTC on the wall clock.
    assert _rows(wall.rows)["ana@example.com"].first_response_p90 == timedelta(
        days=2, hours=15, minutes=25
    )
    by_email = _rows(month.rows)
    assert by_email["bo@example.com"].handled == 1
    assert by_email["bo@example.com"].resolution_median == 8 * MIN
    assert by_email["gone@example.com"].handled == 1  # disabled, but resolved something
    assert "gil@example.com" not in by_email
    assert {r.email: r.handled for r in everyone.rows if r.handled} == {
        "ana@example.com": 2,
        "gil@example.com": 1,
    }
    assert nobody.empty


# ------------------------------------------------------------------------- page and CSV


@pytest.fixture
def at_noon() -> Iterator[None]:
    with clock.frozen(AT):
        yield


def test_agents_csv_for_a_supervisor(client: TestClient, at_noon: None) -> None:
    seed(app_engine(client))
    login(client, "sue@example.com")

    response = client.get("/console/reports/agents.csv?period=7d")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="smsdesk-agents-7d-20260310.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == AGENT_COLUMNS
    assert "first_response_median_business_seconds" in rows[0]
    table = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [r["agent_email"] for r in table] == [
        "ana@example.com",
        "bo@example.com",
        "sue@example.com",
    ]
    ana = table[0]
    assert (ana["items_handled"], ana["items_answered"]) == ("4", "3")
    assert ana["first_response_median_business_seconds"] == "600"
    assert ana["first_response_p90_business_seconds"] == str(85 * 60)
    assert ana["resolution_median_business_seconds"] == str(45 * 60)
    assert (ana["survey_responses"], ana["survey_mean_score_1_to_5"]) == ("2", "3.50")
    assert table[1]["first_response_median_business_seconds"] == ""  # nothing to measure

    month = list(
        csv.DictReader(io.StringIO(client.get("/console/reports/agents.csv?period=30d").text))
    )
    assert {r["agent_email"]: r["items_handled"] for r in month}["bo@example.com"] == "1"

    dashboard = list(csv.DictReader(io.StringIO(client.get("/console/dashboard.csv").text)))
    figures = {r["metric"]: (r["value"], r["unit"]) for r in dashboard}
    assert figures["queue_claimed"] == ("3", "items")  # bo's, and the two nobody resolved
    assert figures["period_end_utc"] == ("2026-03-10T16:00:00+00:00", "ISO 8601")


def test_reports_page_and_who_may_see_it(client: TestClient, at_noon: None) -> None:
    seed(app_engine(client))
    login(client, "ana@example.com")
    assert client.get("/console/reports").status_code == 403
    assert client.get("/console/reports/agents.csv").status_code == 403
    assert client.get("/console/dashboard.csv").status_code == 403
    assert 'href="/console/reports"' not in client.get("/console/").text

    login(client, "sue@example.com")
    page = client.get("/console/reports?period=7d")
    assert page.status_code == 200
    html = page.text
    assert 'href="/console/reports" class="current"' in html
    assert 'href="/console/reports/agents.csv?period=7d"' in html
    assert 'data-agent="ana@example.com"' in html and "gil@example.com" not in html
    assert "10 min · 1 h 25 min" in html and "3.5 of 5" in html
    # The window's end, noon in New York, with UTC on hover.
    assert (
        '<time datetime="2026-03-10T16:00:00+00:00" title="2026-03-10 16:00 UTC">'
        "2026-03-10 12:00 EDT</time>"
    ) in html
    assert "style=" not in html


def test_reports_need_a_session(client: TestClient) -> None:
    response = client.get("/console/reports/agents.csv", follow_redirects=False)
    assert response.status_code == 303


def test_admin_sees_every_brand(client: TestClient, make_agent: MakeAgent, at_noon: None) -> None:
    seed(app_engine(client))
    make_agent("root@example.com", role="admin", brands=())
    login(client, "root@example.com")
    rows = list(
        csv.DictReader(io.StringIO(client.get("/console/reports/agents.csv?period=24h").text))
    )
    assert {r["agent_email"]: r["items_handled"] for r in rows}["gil@example.com"] == "1"


# ---------------------------------------------------------------------------- time filter


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("America/New_York", "2026-01-15 09:30 EST"),
        ("Europe/Berlin", "2026-01-15 15:30 CET"),
        ("Asia/Kolkata", "2026-01-15 20:00 IST"),
    ],
)
def test_clock_filter_shows_the_business_zone_with_utc_on_hover(zone: str, shown: str) -> None:
    settings = Settings(env="test", business_timezone=zone)
    moment = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
    page = templates.env.from_string("{{ t|clock }}|{{ t|clock(text=True) }}|{{ none|clock }}")
    assert page.render(t=moment, settings=settings, none=None) == (
        f'<time datetime="2026-01-15T14:30:00+00:00" title="2026-01-15 14:30 UTC">{shown}</time>'
        f"|{shown}|–"
    )


# ------------------------------------------------------- the dashboard's traffic, local clock


def test_traffic_buckets_follow_the_business_days_and_hours(engine: Engine) -> None:
    new_york, kolkata = ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")
    week = window("7d", at=AT).buckets(new_york)
    # Tue 3 March 11:00 EST to Tue 10 March 12:00 EDT, cut at New York's midnights.
    assert [label for label, _, _ in week][:2] == [
        datetime(2026, 3, 3, 5, tzinfo=UTC),
        datetime(2026, 3, 4, 5, tzinfo=UTC),
    ]
    assert week[0][1] == AT - timedelta(days=7) and week[-1][2] == AT
    spring_forward = next(b for b in week if b[0] == datetime(2026, 3, 8, 5, tzinfo=UTC))
    assert spring_forward[2] - spring_forward[1] == timedelta(hours=23)
    assert sum((hi - lo for _, lo, hi in week), timedelta()) == timedelta(days=7)
    day = window("24h", at=AT).buckets(kolkata)  # a half-hour zone: hours start at :30 UTC
    assert day[1][0] == datetime(2026, 3, 9, 16, 30, tzinfo=UTC) and len(day) == 25

    with Session(engine) as session:
        conversation = Conversation(brand="acme", phone_e164="+12125550100", created_at=AT)
        session.add(conversation)
        session.flush()
        late = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # Monday 23:00 in New York
        session.add(
            Message(
                conversation_id=conversation.id,
                direction="inbound",
                provider="console",
                body="still up?",
                status="received",
                created_at=late,
                updated_at=late,
            )
        )
        session.commit()
        local = dashboard_metrics(session, period="7d", scope=None, at=AT, zone=new_york)
        utc = dashboard_metrics(session, period="7d", scope=None, at=AT)
    assert {b.start: b.inbound for b in local.traffic if b.inbound} == {
        datetime(2026, 3, 9, 4, tzinfo=UTC): 1  # Monday, New York
    }
    assert {b.start: b.inbound for b in utc.traffic if b.inbound} == {
        datetime(2026, 3, 10, tzinfo=UTC): 1  # Tuesday, UTC
    }

"""The supervisor dashboard: its numbers on a seeded dataset, its charts and who may see it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.console.charts import Series, bar_list, column_chart, nice_ceiling, value_scale
from app.console.metrics import (
    ReasonCount,
    dashboard_metrics,
    median,
    parse_period,
    percentile,
    window,
)
from app.storage.messages import now
from app.storage.tables import ConsentEvent, Conversation, HandoffItem, Message
from tests.console.conftest import MakeAgent, app_engine, login

AT = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass
class Seeder:
    """Writes conversations, texts, handoff items and consent events straight to the tables."""

    session: Session
    at: datetime
    phones: dict[str, Conversation] = field(default_factory=dict)

    def conversation(self, phone: str, brand: str = "acme") -> Conversation:
        key = f"{brand}|{phone}"
        if key not in self.phones:
            conversation = Conversation(
                brand=brand, phone_e164=phone, created_at=self.at - 60 * DAY
            )
            self.session.add(conversation)
            self.session.flush()
            self.phones[key] = conversation
        return self.phones[key]

    def text(
        self,
        phone: str,
        ago: timedelta,
        *,
        direction: str = "inbound",
        status: str = "received",
        purpose: str | None = None,
        brand: str = "acme",
    ) -> None:
        at = self.at - ago
        self.session.add(
            Message(
                conversation_id=self.conversation(phone, brand).id,
                direction=direction,
                provider="console",
                body="hello",
                purpose=purpose,
                status=status,
                created_at=at,
                updated_at=at,
            )
        )

    def item(
        self,
        phone: str,
        ago: timedelta,
        reasons: tuple[str, ...],
        *,
        status: str = "open",
        response_after: timedelta | None = None,
        resolved_after: timedelta | None = None,
        due_after: timedelta | None = 30 * MIN,
        brand: str = "acme",
    ) -> None:
        created = self.at - ago
        self.session.add(
            HandoffItem(
                conversation_id=self.conversation(phone, brand).id,
                reasons=list(reasons),
                status=status,
                created_at=created,
                due_at=created + due_after if due_after is not None else None,
                first_response_at=created + response_after if response_after else None,
                resolved_at=created + resolved_after if resolved_after else None,
            )
        )
        if response_after is not None:
            self.text(
                phone,
                ago - response_after,
                direction="outbound",
                status="sent",
                purpose="agent",
                brand=brand,
            )

    def consent(self, phone: str, ago: timedelta, event_type: str, brand: str = "acme") -> None:
        self.session.add(
            ConsentEvent(
                ruleset_version="test",
                brand=brand,
                phone_e164=phone,
                event_type=event_type,
                processed_at=self.at - ago,
                effective_at=self.at - ago,
            )
        )


def seed(engine: Engine, at: datetime) -> None:
    """The dataset every number below is worked out from (by hand, in the comments)."""
    with Session(engine) as session:
        s = Seeder(session, at)
        # 01: the bot answered (a second, blocked reply never left); an opt-in is no opt-out.
        s.text("+12125550001", HOUR)
        s.text("+12125550001", 59 * MIN, direction="outbound", status="sent", purpose="reply")
        s.text("+12125550001", 58 * MIN, direction="outbound", status="blocked", purpose="reply")
        s.consent("+12125550001", HOUR, "opt_in")
        # 02: handed off 3 h ago, answered in 10 min (met), resolved.
        s.text("+12125550002", 3 * HOUR)
        s.item(
            "+12125550002",
            3 * HOUR,
            ("low_confidence", "negative_sentiment"),
            status="resolved",
            response_after=10 * MIN,
            resolved_after=HOUR,
        )
        # 03: handed off 2 days ago, answered after 50 min (late), still claimed.
        s.text("+12125550003", 2 * DAY)
        s.item(
            "+12125550003", 2 * DAY, ("low_confidence",), status="claimed", response_after=50 * MIN
        )
        # 04: handed off 5 h ago, never answered: overdue since 4 h 30 min.
        s.text("+12125550004", 5 * HOUR)
        s.item("+12125550004", 5 * HOUR, ("human_requested",))
        # 05: handed off 10 min ago, due in 20 min: not late yet.
        s.text("+12125550005", 10 * MIN)
        s.item("+12125550005", 10 * MIN, ("human_requested",))
        # 06: STOP, then a revocation phrase: one customer who opted out; the bot confirmed.
        s.text("+12125550006", 6 * HOUR)
        s.consent("+12125550006", 6 * HOUR, "opt_out")
        s.consent("+12125550006", 5 * HOUR, "revocation_phrase")
        s.text(
            "+12125550006",
            6 * HOUR - MIN,
            direction="outbound",
            status="delivered",
            purpose="opt_out_confirmation",
        )
        # 10: handed off 4 h ago and resolved within 10 min without a reply: not late.
        s.text("+12125550010", 4 * HOUR)
        s.item(
            "+12125550010", 4 * HOUR, ("after_hours",), status="resolved", resolved_after=10 * MIN
        )
        # 07: 20 days ago (the 30-day view only): answered in 5 min; opted out 10 days ago.
        s.text("+12125550007", 20 * DAY)
        s.item(
            "+12125550007",
            20 * DAY,
            ("low_confidence",),
            status="resolved",
            response_after=5 * MIN,
            resolved_after=HOUR,
        )
        s.consent("+12125550007", 10 * DAY, "ai_detected_revocation")
        # 08: waiting 40 days, no target: outside every period, but the oldest in the queue.
        s.item("+12125550008", 40 * DAY, ("no_knowledge",), due_after=None)
        # Another brand, which a supervisor of acme does not see.
        s.text("+12125550009", HOUR, brand="globex")
        s.item("+12125550009", HOUR, ("billing",), brand="globex")
        s.consent("+12125550009", HOUR, "opt_out", brand="globex")
        session.commit()


# ------------------------------------------------------------------- metrics, exactly


def test_seven_days_for_one_brand(engine: Engine) -> None:
    seed(engine, AT)
    with Session(engine) as session:
        m = dashboard_metrics(session, period="7d", scope=("acme",), at=AT)

    assert (m.queue.open, m.queue.claimed, m.queue.size) == (3, 1, 4)  # 04, 05, 08 + 03
    assert m.queue.oldest_wait == 40 * DAY
    r = m.response
    assert (r.items, r.answered, r.with_target) == (5, 2, 5)  # 02 03 04 05 10; 02 and 03
    assert (r.median, r.p90) == (30 * MIN, 50 * MIN)  # of 10 min and 50 min
    assert r.breaches == 2  # 03 answered late, 04 unanswered past due
    c = m.containment
    assert (c.conversations, c.escalated, c.contained) == (7, 5, 2)  # 01 and 06 contained
    assert c.rate == pytest.approx(2 / 7)
    assert m.reasons == [
        ReasonCount("human_requested", 2),
        ReasonCount("low_confidence", 2),
        ReasonCount("after_hours", 1),
        ReasonCount("negative_sentiment", 1),
    ]
    assert (m.opt_outs.opted_out, m.opt_outs.texters) == (1, 7)  # 06, once
    assert m.opt_outs.rate == pytest.approx(1 / 7)
    # Per day, 3 March (from 12:30) to 10 March (to 12:30); the blocked reply is not counted.
    assert [b.start.day for b in m.traffic] == [3, 4, 5, 6, 7, 8, 9, 10]
    assert [b.inbound for b in m.traffic] == [0, 0, 0, 0, 0, 1, 0, 6]
    assert [b.outbound for b in m.traffic] == [0, 0, 0, 0, 0, 1, 0, 3]
    assert (m.inbound, m.outbound, m.escalations) == (7, 4, 5)


def test_twenty_four_hours_bucketed_per_hour(engine: Engine) -> None:
    seed(engine, AT)
    with Session(engine) as session:
        m = dashboard_metrics(session, period="24h", scope=("acme",), at=AT)

    assert (m.response.items, m.response.answered) == (4, 1)  # 02 04 05 10
    assert (m.response.median, m.response.p90, m.response.breaches) == (10 * MIN, 10 * MIN, 1)
    assert (m.containment.conversations, m.containment.escalated) == (6, 4)
    assert m.queue.size == 4  # "now" does not depend on the period
    # 9 March 12:00 (from 12:30) to 10 March 12:00 (to 12:30): 25 hourly buckets.
    assert len(m.traffic) == 25
    assert m.traffic[0].start == datetime(2026, 3, 9, 12, tzinfo=UTC)
    assert m.traffic[-1].start == datetime(2026, 3, 10, 12, tzinfo=UTC)
    inbound = {b.start.hour: b.inbound for b in m.traffic if b.inbound}
    assert inbound == {6: 1, 7: 1, 8: 1, 9: 1, 11: 1, 12: 1}  # 06 04 10 02 01 05
    outbound = {b.start.hour: b.outbound for b in m.traffic if b.outbound}
    assert outbound == {6: 1, 9: 1, 11: 1}  # confirmation, agent reply at 9:40, bot reply


def test_thirty_days_and_every_brand(engine: Engine) -> None:
    seed(engine, AT)
    with Session(engine) as session:
        month = dashboard_metrics(session, period="30d", scope=("acme",), at=AT)
        everything = dashboard_metrics(session, period="7d", scope=None, at=AT)
        nothing = dashboard_metrics(session, period="7d", scope=(), at=AT)

    assert (month.response.items, month.response.answered) == (6, 3)
    assert (month.response.median, month.response.p90) == (10 * MIN, 50 * MIN)  # 5, 10, 50
    assert (month.opt_outs.opted_out, month.opt_outs.texters) == (2, 8)  # 06 and 07
    assert len(month.traffic) == 31 and sum(b.inbound for b in month.traffic) == 8

    assert everything.queue.size == 5 and everything.response.items == 6  # + globex
    assert ReasonCount("billing", 1) in everything.reasons
    assert (everything.opt_outs.opted_out, everything.opt_outs.texters) == (2, 8)
    assert (everything.containment.conversations, everything.containment.escalated) == (8, 6)

    assert nothing.queue.size == 0 and nothing.queue.oldest_wait is None
    assert nothing.response.median is None and nothing.containment.rate is None
    assert nothing.opt_outs.rate is None and nothing.reasons == []
    assert all(b.inbound == b.outbound == 0 for b in nothing.traffic)


def test_median_percentile_and_periods() -> None:
    values = [4 * MIN, MIN, 3 * MIN, 2 * MIN]
    assert median(values) == 2 * MIN + 30 * timedelta(seconds=1)
    assert median([*values, 10 * MIN]) == 3 * MIN
    assert percentile(values, 0.9) == 4 * MIN
    assert percentile(values, 0.5) == 2 * MIN
    assert percentile([i * MIN for i in range(1, 11)], 0.9) == 9 * MIN
    assert percentile([i * MIN for i in range(1, 6)], 0.9) == 5 * MIN  # rank 4.5 -> 5
    assert median([]) is None and percentile([], 0.9) is None
    assert [parse_period(p) for p in ("24h", "7d", "30d", None, "1y")] == [
        "24h",
        "7d",
        "30d",
        "7d",
        "7d",
    ]
    exact = window("24h", at=datetime(2026, 3, 10, 12, tzinfo=UTC))
    assert len(exact.buckets()) == 24  # on the hour: no partial bucket


# ------------------------------------------------------------------------------ charts


def test_column_chart_geometry() -> None:
    chart = column_chart(
        ["a", "b", "c", "d"],
        [Series("in", [0, 4, 8, 2]), Series("out", [1, 0, 0, 0], "bar alt")],
        title="t",
        width=244,
        height=136,  # a 192 x 100 plot: 44 left, 8 right, 10 top, 26 bottom
        max_labels=2,
    )
    assert value_scale(8) == (8, 2)
    assert [t.text for t in chart.ticks] == ["0", "2", "4", "6", "8"]
    assert [(b.css, b.height) for b in chart.bars] == [
        ("bar alt", 12.5),
        ("bar", 50.0),
        ("bar", 100.0),
        ("bar", 25.0),
    ]
    tallest = chart.bars[2]
    assert tallest.y == 10.0 and tallest.y + tallest.height == 110.0  # from the top to the axis
    assert chart.bars[1].x < chart.bars[2].x < chart.bars[3].x
    assert [label.text for label in chart.labels] == ["a", "c"]  # every other one
    assert chart.bars[1].title == "b: 4 in" and chart.view_box == "0 0 244 136"
    empty = column_chart(["a"], [Series("in", [0])], title="t")
    assert empty.empty and [t.text for t in empty.ticks] == ["0", "1"]


def test_bar_list_and_nice_numbers() -> None:
    chart = bar_list([("x", 10), ("y", 5), ("z", 0)], title="t", width=328, label_width=180)
    assert [b.width for b in chart.bars] == [100.0, 50.0]  # 328 - 180 - 48 = 100 for the top
    assert [(label.text, label.anchor) for label in chart.labels] == [
        ("x", "end"),
        ("10", "start"),
        ("y", "end"),
        ("5", "start"),
        ("z", "end"),
        ("0", "start"),
    ]
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 11, 120, 600)] == [1, 1, 5, 10, 20, 200, 1000]


# ------------------------------------------------------------------------- the page


def value(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found, f"no #{element_id} in the page"
    return found.group(1).strip()


def test_dashboard_page_for_a_supervisor_is_scoped_to_their_brands(
    client: TestClient, make_agent: MakeAgent
) -> None:
    seed(app_engine(client), now())
    make_agent("sue@example.com", role="supervisor", brands=("acme",))
    login(client, "sue@example.com")

    page = client.get("/console/dashboard")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="period-7d" title="Last 7 days" aria-current="page"' in html
    assert value(html, "m-queue-size") == "4"  # globex's item is not counted
    assert value(html, "m-oldest-wait") == "40 d 0 h"
    assert (value(html, "m-median"), value(html, "m-p90")) == ("30 min", "50 min")
    assert value(html, "m-breaches") == "2"
    assert value(html, "m-containment") == "29%"  # 2 of 7
    assert (value(html, "m-contained"), value(html, "m-conversations")) == ("2", "7")
    assert value(html, "m-optout") == "14%"  # 1 of 7
    assert "</span> numbers texted" in html
    assert (value(html, "m-inbound"), value(html, "m-outbound")) == ("7", "4")
    assert "billing" not in html and "human requested" in html
    # Charts are attribute-only SVG: the CSP forbids inline styles and scripts.
    assert html.count('<rect class="bar"') >= 2 and '<rect class="bar alt"' in html
    assert 'id="chart-traffic"' in html and 'id="chart-reasons"' in html
    assert "style=" not in html and "<style" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None

    day = client.get("/console/dashboard?period=24h").text
    assert 'id="period-24h" title="Last 24 hours" aria-current="page"' in day
    assert value(day, "m-median") == "10 min" and value(day, "m-escalations") == "4"
    assert "Texts per hour" in day
    month = client.get("/console/dashboard?period=30d").text
    assert value(month, "m-escalations") == "6" and value(month, "m-optout") == "25%"
    odd = client.get("/console/dashboard?period=1y").text  # unknown: the default
    assert 'id="period-7d" title="Last 7 days" aria-current="page"' in odd


def test_dashboard_for_an_admin_covers_every_brand_and_an_empty_one_says_so(
    client: TestClient, make_agent: MakeAgent
) -> None:
    make_agent("root@example.com", role="admin", brands=())
    login(client, "root@example.com")
    empty = client.get("/console/dashboard").text
    assert value(empty, "m-queue-size") == "0" and value(empty, "m-containment") == "–"
    assert "</span> numbers texted" in empty  # 0 numbers; 1 number (the browser tests' dashboard)
    assert 'id="traffic-empty"' in empty and 'id="reasons-empty"' in empty
    assert "<svg" not in empty

    seed(app_engine(client), now())
    html = client.get("/console/dashboard").text
    assert value(html, "m-queue-size") == "5" and "billing" in html
    assert "all brands" in html


def test_dashboard_access(client: TestClient, make_agent: MakeAgent) -> None:
    anonymous = client.get("/console/dashboard", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/console/login?next=%2Fconsole%2Fdashboard"

    make_agent("ana@example.com", role="agent")
    login(client, "ana@example.com")
    assert client.get("/console/dashboard").status_code == 403
    assert 'href="/console/dashboard"' not in client.get("/console/").text  # not in the nav

    make_agent("sue@example.com", role="supervisor")
    login(client, "sue@example.com")
    page = client.get("/console/dashboard")
    assert page.status_code == 200 and 'href="/console/dashboard" class="current"' in page.text

"""The supervisor dashboard's numbers, read straight from the tables (queries only, no writes).

Every function takes a `Window` (the period looked at, `[start, end)`, in UTC) and a brand
scope (`None`: every brand, for admins; else the viewer's brands) and returns a frozen
dataclass. Percentiles are computed in Python so SQLite and PostgreSQL give the same answer.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.compliance.ledger import REVOCATION_EVENTS
from app.handoff.queue import UNRESOLVED
from app.storage.messages import now
from app.storage.tables import Agent, ConsentEvent, Conversation, HandoffItem, Message

Period = Literal["24h", "7d", "30d"]
PERIODS: tuple[Period, ...] = get_args(Period)
DEFAULT_PERIOD: Period = "7d"
_LENGTH: dict[Period, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
NOT_SENT = ("blocked", "cancelled")
"""Outbound texts that were never going to leave: left out of the traffic counts."""

BrandScope = tuple[str, ...] | None
"""The brands a viewer may see; None means every brand."""


def brand_scope(agent: Agent) -> BrandScope:
    """Admins see every brand; supervisors only theirs."""
    return None if agent.role == "admin" else tuple(agent.brands)


def parse_period(value: str | None) -> Period:
    """The period asked for, or the default for anything else."""
    for period in PERIODS:
        if value == period:
            return period
    return DEFAULT_PERIOD


@dataclass(frozen=True)
class Window:
    """The stretch of time the dashboard looks at, and how its traffic chart is bucketed."""

    period: Period
    start: datetime
    end: datetime

    @property
    def step(self) -> timedelta:
        """One traffic bucket: an hour for 24 h, a day for longer periods."""
        return timedelta(hours=1) if self.period == "24h" else timedelta(days=1)

    @property
    def unit(self) -> Literal["hour", "day"]:
        return "hour" if self.period == "24h" else "day"

    def buckets(self, zone: tzinfo = UTC) -> list[tuple[datetime, datetime, datetime]]:
        """`(label, lo, hi)` per bucket (UTC instants): whole hours or days on the clock of
        `zone`, the first and last clipped to the window so that the buckets add up to exactly
        the window."""
        first = self.start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        if self.unit == "day":
            first = first.replace(hour=0)
        out: list[tuple[datetime, datetime, datetime]] = []
        edge = first
        while edge < self.end:
            # Days step on the local calendar (a daylight-saving day has 23 or 25 hours, and
            # zoneinfo adds wall time); hours step in UTC, where every hour has 60 minutes.
            after = edge + self.step if self.unit == "day" else edge.astimezone(UTC) + self.step
            lo, hi = max(edge, self.start), min(after, self.end)
            out.append((edge.astimezone(UTC), lo.astimezone(UTC), hi.astimezone(UTC)))
            edge = after.astimezone(zone) if self.unit == "day" else after
        return out


def window(period: Period, *, at: datetime | None = None) -> Window:
    """The `period` up to `at` (default: now)."""
    end = at or now()
    return Window(period=period, start=end - _LENGTH[period], end=end)


def _scoped(query: Any, scope: BrandScope) -> Any:
    """Keep only rows of conversations of the scope's brands (the query joins Conversation)."""
    return query if scope is None else query.where(col(Conversation.brand).in_(scope))


def _created_in(column: Any, w: Window) -> ColumnElement[bool]:
    return and_(col(column) >= w.start, col(column) < w.end)


# ---------------------------------------------------------------------------- queue now


@dataclass(frozen=True)
class QueueNow:
    """The human queue at this instant (whatever the period)."""

    open: int
    claimed: int
    oldest_created_at: datetime | None
    at: datetime

    @property
    def size(self) -> int:
        """Items not resolved yet: waiting for someone or owned by an agent (snoozed included)."""
        return self.open + self.claimed

    @property
    def oldest_wait(self) -> timedelta | None:
        """How long the oldest unresolved item has been in the queue."""
        return self.at - self.oldest_created_at if self.oldest_created_at else None


def queue_now(session: Session, *, scope: BrandScope, at: datetime | None = None) -> QueueNow:
    """Open and claimed items of the scope's brands, and when the oldest of them arrived."""
    query = (
        select(HandoffItem.status, func.count(), func.min(HandoffItem.created_at))
        .join(Conversation, col(Conversation.id) == col(HandoffItem.conversation_id))
        .where(col(HandoffItem.status).in_(UNRESOLVED))
        .group_by(col(HandoffItem.status))
    )
    counts: dict[str, int] = {}
    oldest: list[datetime] = []
    for status, count, earliest in session.exec(_scoped(query, scope)).all():
        counts[status] = count
        if earliest is not None:
            oldest.append(earliest)
    return QueueNow(
        open=counts.get("open", 0),
        claimed=counts.get("claimed", 0),
        oldest_created_at=min(oldest) if oldest else None,
        at=at or now(),
    )


# ----------------------------------------------------------------------- first response


@dataclass(frozen=True)
class ResponseTimes:
    """Time to first human response, over the items handed off in the period."""

    items: int
    """Items created in the period."""
    answered: int
    """...of which a person has answered (first_response_at set)."""
    median: timedelta | None
    """Median of first_response_at - created_at over the answered items."""
    p90: timedelta | None
    """90th percentile (nearest rank) of the same."""
    with_target: int
    """Items created in the period that have an SLA target (due_at)."""
    breaches: int
    """...answered after due_at, or not answered while still unresolved when due_at passed."""


def median(values: Sequence[timedelta]) -> timedelta | None:
    """The middle value (the mean of the two middle ones for an even count)."""
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def percentile(values: Sequence[timedelta], share: float) -> timedelta | None:
    """Nearest-rank percentile: the smallest value at least `share` of the values reach."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def response_times(
    session: Session, *, w: Window, scope: BrandScope, at: datetime | None = None
) -> ResponseTimes:
    """Median and p90 time to first response, and SLA breaches, for items created in `w`."""
    moment = at or now()
    query = (
        select(
            HandoffItem.created_at,
            HandoffItem.first_response_at,
            HandoffItem.due_at,
            HandoffItem.resolved_at,
        )
        .join(Conversation, col(Conversation.id) == col(HandoffItem.conversation_id))
        .where(_created_in(HandoffItem.created_at, w))
    )
    rows = session.exec(_scoped(query, scope)).all()
    waits: list[timedelta] = []
    with_target = breaches = 0
    for created, first_response, due, resolved in rows:
        if first_response is not None:
            waits.append(first_response - created)
        if due is None:
            continue
        with_target += 1
        if first_response is not None:
            breaches += first_response > due
        else:  # unanswered: late once due_at passed before it was resolved (or still open)
            breaches += due < (resolved or moment)
    return ResponseTimes(
        items=len(rows),
        answered=len(waits),
        median=median(waits),
        p90=percentile(waits, 0.9),
        with_target=with_target,
        breaches=breaches,
    )


# --------------------------------------------------------------------------- containment


def _texting_conversations(w: Window, scope: BrandScope) -> Any:
    """Conversations (of the scope) with at least one inbound text in the window."""
    query = (
        select(Message.conversation_id)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(Message.direction == "inbound", _created_in(Message.created_at, w))
        .distinct()
    )
    return _scoped(query, scope)


@dataclass(frozen=True)
class Containment:
    """Conversations the bot handled alone."""

    conversations: int
    """Conversations with at least one inbound text in the period."""
    escalated: int
    """...of which got a handoff item created in the period."""

    @property
    def contained(self) -> int:
        return self.conversations - self.escalated

    @property
    def rate(self) -> float | None:
        """Share of the texting conversations that never reached a person (None: no texts)."""
        return self.contained / self.conversations if self.conversations else None


def containment(session: Session, *, w: Window, scope: BrandScope) -> Containment:
    """How many conversations that texted in `w` were handed to a human in `w`."""
    texting = _texting_conversations(w, scope).subquery()
    handed = select(HandoffItem.conversation_id).where(_created_in(HandoffItem.created_at, w))
    total = session.exec(select(func.count()).select_from(texting)).one()
    escalated = session.exec(
        select(func.count()).select_from(texting).where(texting.c.conversation_id.in_(handed))
    ).one()
    return Containment(conversations=total, escalated=escalated)


# ----------------------------------------------------------------------------- reasons


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    count: int


def escalation_reasons(session: Session, *, w: Window, scope: BrandScope) -> list[ReasonCount]:
    """How many items created in `w` carry each reason (an item with two counts for both),
    most frequent first."""
    query = (
        select(HandoffItem.reasons)
        .join(Conversation, col(Conversation.id) == col(HandoffItem.conversation_id))
        .where(_created_in(HandoffItem.created_at, w))
    )
    counter: Counter[str] = Counter()
    for reasons in session.exec(_scoped(query, scope)).all():
        counter.update(list(dict.fromkeys(str(r) for r in reasons or ())))  # once per item
    return [
        ReasonCount(reason, count)
        for reason, count in sorted(counter.items(), key=lambda pair: (-pair[1], pair[0]))
    ]


# ----------------------------------------------------------------------------- opt-outs


@dataclass(frozen=True)
class OptOuts:
    """Customers who withdrew consent, against customers who texted."""

    opted_out: int
    """Distinct (brand, number) with an opt-out or revocation event effective in the period."""
    texters: int
    """Distinct (brand, number) with at least one inbound text in the period."""

    @property
    def rate(self) -> float | None:
        return self.opted_out / self.texters if self.texters else None


def opt_outs(session: Session, *, w: Window, scope: BrandScope) -> OptOuts:
    """Opt-outs (STOP, revocation phrases, AI-detected revocations) per number that texted."""
    events = (
        select(ConsentEvent.brand, ConsentEvent.phone_e164)
        .where(
            col(ConsentEvent.event_type).in_(sorted(REVOCATION_EVENTS)),
            _created_in(ConsentEvent.effective_at, w),
        )
        .distinct()
    )
    if scope is not None:
        events = events.where(col(ConsentEvent.brand).in_(scope))
    texters = _scoped(
        select(Conversation.brand, Conversation.phone_e164)
        .join(Message, col(Conversation.id) == col(Message.conversation_id))
        .where(Message.direction == "inbound", _created_in(Message.created_at, w))
        .distinct(),
        scope,
    )
    opted = session.exec(select(func.count()).select_from(events.subquery())).one()
    texted = session.exec(select(func.count()).select_from(texters.subquery())).one()
    return OptOuts(opted_out=opted, texters=texted)


# ------------------------------------------------------------------------------ traffic


@dataclass(frozen=True)
class TrafficBucket:
    """Texts in one hour or day (the first and last bucket may be partial)."""

    start: datetime
    inbound: int
    outbound: int


def traffic(
    session: Session, *, w: Window, scope: BrandScope, zone: tzinfo = UTC
) -> list[TrafficBucket]:
    """Inbound and outbound texts per bucket of `w`, hours or days on `zone`'s clock
    (outbound: not blocked or cancelled).

    One query: a conditional count per bucket, grouped by direction (portable, no date maths
    in SQL).
    """
    buckets = w.buckets(zone)
    created = col(Message.created_at)
    counts = [
        func.count(case((and_(created >= lo, created < hi), 1))).label(f"b{i}")
        for i, (_, lo, hi) in enumerate(buckets)
    ]
    query = (
        sa_select(col(Message.direction), *counts)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            _created_in(Message.created_at, w),
            or_(
                col(Message.direction) == "inbound",
                and_(col(Message.direction) == "outbound", col(Message.status).not_in(NOT_SENT)),
            ),
        )
        .group_by(col(Message.direction))
    )
    per_direction: dict[str, Sequence[int]] = {
        row[0]: row[1:] for row in session.exec(_scoped(query, scope)).all()
    }
    zeros = [0] * len(buckets)
    inbound = per_direction.get("inbound", zeros)
    outbound = per_direction.get("outbound", zeros)
    return [
        TrafficBucket(start=label, inbound=int(inbound[i]), outbound=int(outbound[i]))
        for i, (label, _, _) in enumerate(buckets)
    ]


# ---------------------------------------------------------------------------- together


@dataclass(frozen=True)
class DashboardMetrics:
    """Everything the dashboard shows, for one window and brand scope."""

    window: Window
    scope: BrandScope
    queue: QueueNow
    response: ResponseTimes
    containment: Containment
    reasons: list[ReasonCount]
    opt_outs: OptOuts
    traffic: list[TrafficBucket]

    @property
    def inbound(self) -> int:
        return sum(b.inbound for b in self.traffic)

    @property
    def outbound(self) -> int:
        return sum(b.outbound for b in self.traffic)

    @property
    def escalations(self) -> int:
        """Handoff items created in the period."""
        return self.response.items


def dashboard_metrics(
    session: Session,
    *,
    period: Period,
    scope: BrandScope,
    at: datetime | None = None,
    zone: tzinfo = UTC,
) -> DashboardMetrics:
    """All of the dashboard's numbers for `period` up to `at` (default now); the traffic is
    bucketed by `zone`'s hours and days (the business's time zone on the dashboard)."""
    moment = at or now()
    w = window(period, at=moment)
    return DashboardMetrics(
        window=w,
        scope=scope,
        queue=queue_now(session, scope=scope, at=moment),
        response=response_times(session, w=w, scope=scope, at=moment),
        containment=containment(session, w=w, scope=scope),
        reasons=escalation_reasons(session, w=w, scope=scope),
        opt_outs=opt_outs(session, w=w, scope=scope),
        traffic=traffic(session, w=w, scope=scope, zone=zone),
    )


__all__ = [
    "DEFAULT_PERIOD",
    "PERIODS",
    "BrandScope",
    "Containment",
    "DashboardMetrics",
    "OptOuts",
    "Period",
    "QueueNow",
    "ReasonCount",
    "ResponseTimes",
    "TrafficBucket",
    "Window",
    "brand_scope",
    "dashboard_metrics",
    "parse_period",
]

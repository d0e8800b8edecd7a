"""The per-agent report: what each agent resolved in a period, how fast, and how customers rated it.

Counting rules (the page's "How these are counted" and the README say the same):

- An item counts for the agent who resolved it (`HandoffItem.assigned_to` once it is resolved:
  resolving makes the resolver its owner of record) when `resolved_at` falls in the window.
- First response: `first_response_at - created_at` (the customer's wait from the hand-off to
  the first human reply), resolution: `resolved_at - created_at`. Both are counted in business
  time on the SLA's clock (`BusinessClock.elapsed`: business hours, time zone and holidays),
  except safety hand-offs, whose SLA runs on the wall clock, so they are measured on it too.
- Satisfaction: the survey run the item's resolution started. The survey job starts it with
  the idempotency key `survey:<item id>` (one survey per item), so the link is exact rather than
  guessed from the conversation and the time. A run whose outcome is `rated_<n>` is a response.

Queries only; percentiles in Python so SQLite and PostgreSQL agree.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.console.metrics import BrandScope, Period, Window, median, percentile, window
from app.flows.metrics import rating_of
from app.flows.survey import SURVEY_FLOW
from app.handoff.sla import BusinessClock
from app.pipeline.decision import Reason
from app.storage.tables import Agent, Conversation, FlowRun, HandoffItem

Elapsed = Callable[[datetime, datetime], timedelta]
"""How long between two instants: the business clock's `elapsed`, or plain subtraction."""


def survey_key(item_id: uuid.UUID) -> str:
    """The idempotency key of the survey a resolved item starts (see app/flows/survey.py)."""
    return f"survey:{item_id}"


@dataclass(frozen=True)
class AgentFigures:
    """One agent's row."""

    agent_id: uuid.UUID
    name: str
    email: str
    handled: int
    """Items they resolved in the period."""
    answered: int
    """...of which had a first human reply (the rest were closed without one)."""
    first_response_median: timedelta | None
    first_response_p90: timedelta | None
    resolution_median: timedelta | None
    survey_responses: int
    """Ratings (1-5) given in the surveys of the items they resolved."""
    survey_mean: float | None


@dataclass(frozen=True)
class AgentReport:
    """Every agent's figures over one window and brand scope."""

    window: Window
    scope: BrandScope
    rows: list[AgentFigures]

    @property
    def empty(self) -> bool:
        return not self.rows


@dataclass
class _Tally:
    first_responses: list[timedelta]
    resolutions: list[timedelta]
    ratings: list[int]
    handled: int = 0


def _resolved_items(session: Session, w: Window, scope: BrandScope) -> list[HandoffItem]:
    query = (
        select(HandoffItem)
        .join(Conversation, col(Conversation.id) == col(HandoffItem.conversation_id))
        .where(
            HandoffItem.status == "resolved",
            col(HandoffItem.assigned_to).is_not(None),
            col(HandoffItem.resolved_at) >= w.start,
            col(HandoffItem.resolved_at) < w.end,
        )
    )
    if scope is not None:
        query = query.where(col(Conversation.brand).in_(scope))
    return list(session.exec(query).all())


def _survey_ratings(session: Session, w: Window, scope: BrandScope) -> dict[str, int]:
    """Rating per survey key, of survey runs started since the window began (a survey starts
    after its item is resolved, so no earlier run can belong to an item resolved in it)."""
    query = (
        select(FlowRun.idempotency_key, FlowRun.outcome)
        .join(Conversation, col(Conversation.id) == col(FlowRun.conversation_id))
        .where(FlowRun.flow == SURVEY_FLOW, col(FlowRun.started_at) >= w.start)
    )
    if scope is not None:
        query = query.where(col(Conversation.brand).in_(scope))
    return {
        key: score
        for key, outcome in session.exec(query).all()
        if (score := rating_of(outcome)) is not None
    }


def _agents(session: Session, ids: Iterable[uuid.UUID], scope: BrandScope) -> list[Agent]:
    """The agents who resolved something, and every active agent of the scope's brands."""
    wanted = set(ids)
    listed = []
    for agent in session.exec(select(Agent)).all():
        in_scope = scope is None or bool(set(agent.brands) & set(scope))
        if agent.id in wanted or (agent.active and in_scope):
            listed.append(agent)
    return listed


def agent_report(
    session: Session,
    *,
    period: Period,
    scope: BrandScope,
    clock: BusinessClock | None,
    at: datetime | None = None,
) -> AgentReport:
    """Per-agent figures for `period` up to `at` (default now); `clock=None`: wall time."""
    w = window(period, at=at)
    business: Elapsed = clock.elapsed if clock is not None else (lambda a, b: b - a)
    ratings = _survey_ratings(session, w, scope)
    tallies: dict[uuid.UUID, _Tally] = defaultdict(lambda: _Tally([], [], []))
    for item in _resolved_items(session, w, scope):
        assert item.assigned_to is not None and item.resolved_at is not None  # the query's
        tally = tallies[item.assigned_to]
        safety = Reason.safety.value in item.reasons
        elapsed: Elapsed = (lambda a, b: b - a) if safety else business
        tally.handled += 1
        if item.first_response_at is not None:
            tally.first_responses.append(elapsed(item.created_at, item.first_response_at))
        tally.resolutions.append(elapsed(item.created_at, item.resolved_at))
        if (score := ratings.get(survey_key(item.id))) is not None:
            tally.ratings.append(score)
    rows = [
        AgentFigures(
            agent_id=agent.id,
            name=agent.display_name,
            email=agent.email,
            handled=(t := tallies.get(agent.id, _Tally([], [], []))).handled,
            answered=len(t.first_responses),
            first_response_median=median(t.first_responses),
            first_response_p90=percentile(t.first_responses, 0.9),
            resolution_median=median(t.resolutions),
            survey_responses=len(t.ratings),
            survey_mean=statistics.fmean(t.ratings) if t.ratings else None,
        )
        for agent in _agents(session, tallies, scope)
    ]
    rows.sort(key=lambda r: (-r.handled, r.name.lower(), r.email))
    return AgentReport(window=w, scope=scope, rows=rows)

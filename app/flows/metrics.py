"""How flows do, per flow and overall: reply rate, completion, time to first response, ...

Pure functions over `FlowRun` rows (`flow_figures`, `flows_report`) so that the dashboard,
the console's Flows page and the conversation evals count the same way, plus one query
(`flow_metrics`) that reads the runs started in a period. Percentiles are computed in Python
(nearest rank), so SQLite and PostgreSQL give the same answer.

How each figure is counted (the dashboard's "How these are counted" says the same):
  started      runs started in the period
  replied      runs whose customer answered at least once (`first_reply_at` set)
  completed    runs that reached an end of the flow (status `completed`), by outcome
  first reply  `first_reply_at - started_at` of the replied runs: median and p90
  hand-offs    runs that ended with a person (status `handed_off`) or during which the
               conversation was put in the human queue
  opt-outs     runs the customer ended with STOP or another opt-out (status `opted_out`)
  expired      runs whose question stopped accepting answers (status `expired`)
  ratings      the 1-5 scores of runs whose outcome is `rated_<n>` (post-visit feedback,
               satisfaction survey): their mean and the share of 4s and 5s (CSAT)
"""

from __future__ import annotations

import math
import re
import statistics
import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.storage.tables import Conversation, FlowRun, HandoffItem

RUN_STATUSES = ("active", "completed", "handed_off", "expired", "opted_out", "cancelled")
_RATING = re.compile(r"^rated_([1-5])$")
SATISFIED = 4
"""A rating of 4 or 5 counts as satisfied (CSAT: the share of satisfied ratings)."""


def percentile(values: Sequence[timedelta], share: float) -> timedelta | None:
    """Nearest-rank percentile: the smallest value at least `share` of the values reach."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rating_of(outcome: str | None) -> int | None:
    """The 1-5 score an outcome such as `rated_4` records, else None."""
    found = _RATING.match(outcome or "")
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class FlowFigures:
    """One flow's figures (or every flow's, when `flow` is None) over a set of runs."""

    flow: str | None
    started: int
    replied: int
    completed: int
    outcomes: dict[str, int]
    """Completed runs by outcome, most frequent first."""
    first_reply_p50: timedelta | None
    first_reply_p90: timedelta | None
    handed_off: int
    opted_out: int
    expired: int
    active: int
    ratings: tuple[int, ...] = ()

    @property
    def reply_rate(self) -> float | None:
        """Share of started runs the customer answered."""
        return _rate(self.replied, self.started)

    @property
    def completion_rate(self) -> float | None:
        """Share of started runs that reached an end of the flow."""
        return _rate(self.completed, self.started)

    def outcome_rate(self, outcome: str) -> float | None:
        """Share of started runs that completed with `outcome`."""
        return _rate(self.outcomes.get(outcome, 0), self.started)

    @property
    def handoff_rate(self) -> float | None:
        """Share of started runs that reached a person."""
        return _rate(self.handed_off, self.started)

    @property
    def opt_out_rate(self) -> float | None:
        """Share of started runs the customer opted out of."""
        return _rate(self.opted_out, self.started)

    @property
    def mean_rating(self) -> float | None:
        """The mean 1-5 score of rated runs."""
        return statistics.fmean(self.ratings) if self.ratings else None

    @property
    def satisfied_rate(self) -> float | None:
        """CSAT: share of ratings of 4 or 5."""
        return _rate(sum(r >= SATISFIED for r in self.ratings), len(self.ratings))


def was_handed_off(run: FlowRun, handed_off_runs: Collection[uuid.UUID] = ()) -> bool:
    """The run ended with a person, or a hand-off happened while it ran."""
    return run.status == "handed_off" or run.id in handed_off_runs


def flow_figures(
    runs: Iterable[FlowRun],
    *,
    flow: str | None = None,
    handed_off_runs: Collection[uuid.UUID] = (),
) -> FlowFigures:
    """The figures of `runs` (labelled `flow`; None: every flow).

    `handed_off_runs`: ids of runs during which the conversation went to the human queue
    (see `handoffs_during`), counted as hand-offs whatever the run's final status.
    """
    listed = list(runs)
    statuses = Counter(r.status for r in listed)
    replies = [r.first_reply_at - r.started_at for r in listed if r.first_reply_at is not None]
    outcomes = Counter(r.outcome or "(none)" for r in listed if r.status == "completed")
    ratings = tuple(score for r in listed if (score := rating_of(r.outcome)) is not None)
    return FlowFigures(
        flow=flow,
        started=len(listed),
        replied=len(replies),
        completed=statuses["completed"],
        outcomes=dict(outcomes.most_common()),
        first_reply_p50=percentile(replies, 0.5),
        first_reply_p90=percentile(replies, 0.9),
        handed_off=sum(was_handed_off(r, handed_off_runs) for r in listed),
        opted_out=statuses["opted_out"],
        expired=statuses["expired"],
        active=statuses["active"],
        ratings=ratings,
    )


@dataclass(frozen=True)
class FlowsReport:
    """Every flow's figures and the overall ones, for one set of runs."""

    overall: FlowFigures
    flows: list[FlowFigures] = field(default_factory=list)
    """One entry per flow that has runs, by name."""

    @property
    def empty(self) -> bool:
        """No run at all."""
        return self.overall.started == 0

    def of(self, flow: str) -> FlowFigures | None:
        """The figures of one flow (None when it has no runs)."""
        return next((f for f in self.flows if f.flow == flow), None)


def flows_report(
    runs: Iterable[FlowRun], *, handed_off_runs: Collection[uuid.UUID] = ()
) -> FlowsReport:
    """Figures per flow and overall for `runs`."""
    listed = list(runs)
    by_flow: dict[str, list[FlowRun]] = {}
    for run in listed:
        by_flow.setdefault(run.flow, []).append(run)
    return FlowsReport(
        overall=flow_figures(listed, handed_off_runs=handed_off_runs),
        flows=[
            flow_figures(group, flow=name, handed_off_runs=handed_off_runs)
            for name, group in sorted(by_flow.items())
        ],
    )


# ---------------------------------------------------------------------------- queries

BrandScope = tuple[str, ...] | None
"""The brands a viewer may see; None means every brand."""


def runs_started(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    scope: BrandScope = None,
    flow: str | None = None,
) -> list[FlowRun]:
    """Runs started in `[start, end)` of the scope's brands (and of one flow, if given)."""
    query = select(FlowRun).where(col(FlowRun.started_at) >= start, col(FlowRun.started_at) < end)
    if scope is not None:
        query = query.where(col(FlowRun.brand).in_(scope))
    if flow is not None:
        query = query.where(FlowRun.flow == flow)
    return list(session.exec(query.order_by(col(FlowRun.started_at))).all())


def handoffs_during(
    session: Session, runs: Sequence[FlowRun], *, until: datetime
) -> set[uuid.UUID]:
    """Ids of the runs whose conversation got a queue item while the run was going
    (from its start to its end, or to `until` for a run still going)."""
    if not runs:
        return set()
    by_conversation: dict[uuid.UUID, list[FlowRun]] = {}
    for run in runs:
        by_conversation.setdefault(run.conversation_id, []).append(run)
    earliest = min(run.started_at for run in runs)
    found: set[uuid.UUID] = set()
    ids = list(by_conversation)
    for first in range(0, len(ids), 500):  # in chunks: SQLite caps a statement's parameters
        rows = session.exec(
            select(HandoffItem.conversation_id, HandoffItem.created_at).where(
                col(HandoffItem.conversation_id).in_(ids[first : first + 500]),
                col(HandoffItem.created_at) >= earliest,
            )
        ).all()
        for conversation_id, created_at in rows:
            for run in by_conversation[conversation_id]:
                if run.started_at <= created_at <= (run.finished_at or until):
                    found.add(run.id)
    return found


def flow_metrics(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    scope: BrandScope = None,
) -> FlowsReport:
    """Per-flow and overall figures of the runs started in `[start, end)`."""
    runs = runs_started(session, start=start, end=end, scope=scope)
    return flows_report(runs, handed_off_runs=handoffs_during(session, runs, until=end))


def recent_runs(
    session: Session, *, scope: BrandScope = None, flow: str | None = None, limit: int = 50
) -> list[tuple[FlowRun, Conversation]]:
    """The newest runs (of one flow, if given) with their conversations, newest first."""
    query = select(FlowRun, Conversation).join(
        Conversation, col(Conversation.id) == col(FlowRun.conversation_id)
    )
    if scope is not None:
        query = query.where(col(FlowRun.brand).in_(scope))
    if flow is not None:
        query = query.where(FlowRun.flow == flow)
    query = query.order_by(col(FlowRun.started_at).desc(), col(FlowRun.id)).limit(limit)
    return [(run, conversation) for run, conversation in session.exec(query).all()]


def latest_run(session: Session, *, conversation_id: uuid.UUID) -> FlowRun | None:
    """The conversation's newest flow run (what an agent taking it over wants to see)."""
    return session.exec(
        select(FlowRun)
        .where(FlowRun.conversation_id == conversation_id)
        .order_by(col(FlowRun.started_at).desc(), col(FlowRun.id))
        .limit(1)
    ).first()


__all__ = [
    "RUN_STATUSES",
    "FlowFigures",
    "FlowsReport",
    "flow_figures",
    "flow_metrics",
    "flows_report",
    "handoffs_during",
    "latest_run",
    "percentile",
    "rating_of",
    "recent_runs",
    "runs_started",
    "was_handed_off",
]

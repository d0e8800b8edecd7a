"""The conversations suite's "Flows" table: each flow's scenarios and how its runs went.

After a scenario, the flow runs of its customer are read back from the sandbox's database
(`scenario_runs`); the report then counts, per flow, the scenarios that ran it and passed,
and the run-level figures of `app.flows.metrics` over those runs (reply rate, completion by
outcome, time to first reply, hand-offs, opt-outs, expiries), the same figures the dashboard
shows. A suite without flow scenarios gets no table.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.evals.report import Plot, Table
from app.flows.metrics import FlowFigures, flow_figures, handoffs_during
from app.storage.messages import now
from app.storage.tables import FlowRun

ALL_FLOWS = "all flows"
COLUMNS = [
    "flow",
    "scenarios",
    "passed",
    "runs",
    "reply rate",
    "completed",
    "outcomes",
    "first reply p50",
    "hand-offs",
    "opt-outs",
    "expired",
]


@dataclass
class ScenarioFlows:
    """The flow runs one scenario's customer went through, and whether the scenario passed."""

    passed: bool
    runs: list[FlowRun] = field(default_factory=list)
    handed_off: set[uuid.UUID] = field(default_factory=set)
    """Runs during which the conversation went to the human queue."""


def scenario_runs(
    engine: Engine, *, brand: str, phone: str
) -> tuple[list[FlowRun], set[uuid.UUID]]:
    """The flow runs of (brand, phone) in the sandbox, oldest first, and which of them saw a
    hand-off while they ran."""
    with Session(engine, expire_on_commit=False) as session:
        runs = list(
            session.exec(
                select(FlowRun)
                .where(FlowRun.brand == brand, FlowRun.phone_e164 == phone)
                .order_by(col(FlowRun.started_at))
            ).all()
        )
        # The sandbox's clock is the scenario's: a run still going counts hand-offs to now.
        return runs, handoffs_during(session, runs, until=now())


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "–"
    seconds = int(value.total_seconds())
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min"


def _row(name: str, scenarios: Sequence[ScenarioFlows], figures: FlowFigures) -> list[Any]:
    outcomes = ", ".join(f"{o} {n}" for o, n in figures.outcomes.items()) or "–"
    return [
        name,
        len(scenarios),
        sum(s.passed for s in scenarios),
        figures.started,
        _percent(figures.reply_rate),
        f"{_percent(figures.completion_rate)} ({figures.completed})",
        outcomes,
        _duration(figures.first_reply_p50),
        figures.handed_off,
        figures.opted_out,
        figures.expired,
    ]


def flows_section(results: Sequence[ScenarioFlows]) -> tuple[Table, Plot, dict[str, Any]] | None:
    """The table, a plot of runs by status per flow, and the figures as data (for
    results.json); None when no scenario ran a flow."""
    with_flows = [r for r in results if r.runs]
    if not with_flows:
        return None
    handed = set().union(*(r.handed_off for r in with_flows))
    names = sorted({run.flow for r in with_flows for run in r.runs})
    rows: list[list[Any]] = []
    data: dict[str, Any] = {}
    statuses: dict[str, list[int]] = {}
    for name in names:
        scenarios = [r for r in with_flows if any(run.flow == name for run in r.runs)]
        runs = [run for r in scenarios for run in r.runs if run.flow == name]
        figures = flow_figures(runs, flow=name, handed_off_runs=handed)
        rows.append(_row(name, scenarios, figures))
        data[name] = _figures_data(figures, scenarios)
        for status in ("completed", "handed_off", "opted_out", "expired", "active"):
            statuses.setdefault(status, []).append(sum(run.status == status for run in runs))
    overall = flow_figures([run for r in with_flows for run in r.runs], handed_off_runs=handed)
    rows.append(_row(ALL_FLOWS, with_flows, overall))
    data[ALL_FLOWS] = _figures_data(overall, with_flows)
    plot = Plot(
        "bars",
        "Flow runs by how they ended",
        {"categories": names, "series": statuses, "unit": "runs", "stacked": True},
    )
    return Table("Flows", COLUMNS, rows), plot, data


def _figures_data(figures: FlowFigures, scenarios: Sequence[ScenarioFlows]) -> dict[str, Any]:
    def seconds(value: timedelta | None) -> float | None:
        return None if value is None else value.total_seconds()

    return {
        "scenarios": len(scenarios),
        "passed": sum(s.passed for s in scenarios),
        "runs": figures.started,
        "replied": figures.replied,
        "reply_rate": figures.reply_rate,
        "completed": figures.completed,
        "completion_rate": figures.completion_rate,
        "outcomes": figures.outcomes,
        "first_reply_p50_s": seconds(figures.first_reply_p50),
        "first_reply_p90_s": seconds(figures.first_reply_p90),
        "handed_off": figures.handed_off,
        "opted_out": figures.opted_out,
        "expired": figures.expired,
        "mean_rating": figures.mean_rating,
    }

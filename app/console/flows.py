"""The console's Flows page: the catalogue, each flow's figures, recent runs, start a flow.

Every signed-in agent sees the page, with the runs of their brands (admins: all). Starting a
flow texts a customer who did not write first, so only supervisors and admins of this
deployment's brand get the form (the same people who assign and oversee the queue).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import Response
from sqlmodel import Session

from app.api.deps import RuntimeDep
from app.console.dashboard import PERIOD_NAMES, percent
from app.console.deps import ConsoleContext, DbSession, PageContextDep
from app.console.flow_engine import FlowInfo, FlowStarterDep, find_flow, flow_catalogue
from app.console.flow_form import StartOutcome, start_from_form, variables_text
from app.console.metrics import PERIODS, Period, brand_scope, parse_period, window
from app.console.templating import render
from app.flows.metrics import FlowFigures, FlowsReport, flow_figures, flow_metrics, recent_runs
from app.handoff.agents import can_see_brand
from app.handoff.claims import manages
from app.runtime import Runtime

router = APIRouter(prefix="/console", include_in_schema=False)

RECENT_RUNS = 50


def may_start(console: ConsoleContext, runtime: Runtime) -> bool:
    """Supervisors and admins who see this deployment's brand may start flows."""
    return manages(console.agent) and can_see_brand(console.agent, runtime.settings.brand_id)


def _start_form(
    console: ConsoleContext,
    runtime: Runtime,
    catalogue: tuple[FlowInfo, ...],
    *,
    flow: FlowInfo | None,
    phone: str = "",
    variables: str | None = None,
    outcome: StartOutcome | None = None,
) -> dict[str, Any]:
    return {
        "catalogue": catalogue,
        "chosen": flow,
        "phone": phone,
        "variables": variables_text(flow) if variables is None else variables,
        "form_key": uuid.uuid4().hex,
        "outcome": outcome,
        "may_start": may_start(console, runtime),
    }


def _page(
    request: Request,
    runtime: Runtime,
    console: ConsoleContext,
    db: Session,
    *,
    period: str | None,
    flow: FlowInfo | None,
) -> Response:
    chosen: Period = parse_period(period)
    scope = brand_scope(console.agent)
    w = window(chosen)
    catalogue = flow_catalogue(runtime.settings)
    report = flow_metrics(db, start=w.start, end=w.end, scope=scope)
    context: dict[str, Any] = {
        "console": console,
        "section": "flows",
        "flow": flow,
        "report": report,
        "figure_rows": figure_rows(report, [flow] if flow else catalogue),
        "period": chosen,
        "periods": [(p, PERIOD_NAMES[p]) for p in PERIODS],
        "period_name": PERIOD_NAMES[chosen],
        "percent": percent,
        "runs": recent_runs(db, scope=scope, flow=flow.name if flow else None, limit=RECENT_RUNS),
        "base_url": f"/console/flows/{flow.name}" if flow else "/console/flows",
    }
    context |= _start_form(
        console, runtime, catalogue, flow=flow or (catalogue[0] if catalogue else None)
    )
    return render(request, "flows.html", context)


def no_runs(flow: str) -> FlowFigures:
    """The figures of a flow nobody was sent in the period."""
    return flow_figures([], flow=flow)


def figure_rows(report: FlowsReport, flows: Sequence[FlowInfo]) -> list[FlowFigures]:
    """A row per flow of the catalogue (zeros for those without runs), then any flow that
    has runs but is no longer in the catalogue (all of them, on the catalogue page)."""
    rows = [report.of(f.name) or no_runs(f.name) for f in flows]
    if len(flows) != 1:
        known = {f.name for f in flows}
        rows += [f for f in report.flows if f.flow not in known]
    return rows


@router.get("/flows")
def flows_page(
    request: Request,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    period: str | None = None,
) -> Response:
    """Every flow: what it is, how it does over the period, its latest runs; start one."""
    return _page(request, runtime, console, db, period=period, flow=None)


@router.get("/flows/{name}")
def flow_page(
    request: Request,
    name: str,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    period: str | None = None,
) -> Response:
    """One flow: its questions, figures and latest runs, and the form to start it."""
    flow = find_flow(flow_catalogue(runtime.settings), name)
    if flow is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such flow")
    return _page(request, runtime, console, db, period=period, flow=flow)


@router.get("/partials/flows/form")
def start_form_partial(
    request: Request,
    runtime: RuntimeDep,
    console: PageContextDep,
    flow: str = "",
    phone: str = "",
) -> Response:
    """The start form for another flow (its variables as `name=` lines; the number kept)."""
    catalogue = flow_catalogue(runtime.settings)
    context = {"console": console} | _start_form(
        console, runtime, catalogue, flow=find_flow(catalogue, flow), phone=phone[:40]
    )
    return render(request, "partials/flow_start.html", context)


@router.post("/flows/start")
def start_flow_action(
    request: Request,
    runtime: RuntimeDep,
    console: PageContextDep,
    db: DbSession,
    starter: FlowStarterDep,
    flow: Annotated[str, Form(max_length=64)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    variables: Annotated[str, Form(max_length=20_000)] = "",
    form_key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Start a flow to one number; the form comes back with what happened (200 either way,
    so that htmx shows it), and the runs list refreshes after a start."""
    if not may_start(console, runtime):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="supervisors and admins only")
    catalogue = flow_catalogue(runtime.settings)
    outcome = start_from_form(
        db,
        starter,
        catalogue=catalogue,
        brand=runtime.settings.brand_id,
        flow_name=flow,
        phone_text=phone,
        variables=variables,
        form_key=form_key,
    )
    if outcome.ok:
        runtime.jobs.notify()  # the first text's send job
    console.audit(
        db,
        "flow.start" if outcome.ok else "flow.start_refused",
        outcome.phone or phone,
        flow=flow,
        **({"run_id": str(outcome.run_id)} if outcome.run_id else {"error": outcome.error}),
    )
    chosen = find_flow(catalogue, flow)
    context = {"console": console} | _start_form(
        console,
        runtime,
        catalogue,
        flow=chosen,
        phone="" if outcome.ok else phone,
        variables=None if outcome.ok else variables,
        outcome=outcome,
    )
    headers = {"HX-Trigger": "flow-started"} if outcome.ok else None
    return render(request, "partials/flow_start.html", context, headers=headers)


@router.get("/partials/flows/runs")
def runs_partial(
    request: Request, console: PageContextDep, db: DbSession, flow: str = ""
) -> Response:
    """The latest runs (of one flow, if given), re-rendered after a start."""
    runs = recent_runs(db, scope=brand_scope(console.agent), flow=flow or None, limit=RECENT_RUNS)
    return render(
        request,
        "partials/flow_runs.html",
        {"console": console, "runs": runs, "flow_name": flow},
    )

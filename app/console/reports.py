"""The Reports page (per-agent figures) and the CSV exports of it and of the dashboard."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from app.config import Settings
from app.console.agent_report import AgentReport, agent_report
from app.console.dashboard import PERIOD_NAMES, require_supervisor
from app.console.deps import DbSession, PageContextDep
from app.console.metrics import PERIODS, Period, brand_scope, dashboard_metrics, parse_period
from app.console.report_csv import agents_csv, dashboard_csv
from app.console.templating import business_zone, render
from app.handoff.sla import FirstResponseSla
from app.storage.tables import Agent

router = APIRouter(prefix="/console", include_in_schema=False)


def _report(db: Session, settings: Settings, agent: Agent, period: Period) -> AgentReport:
    clock = FirstResponseSla.from_settings(settings).clock  # the SLA's business hours
    return agent_report(db, period=period, scope=brand_scope(agent), clock=clock)


def _csv(body: str, name: str, period: Period, end: datetime) -> Response:
    """A download: UTF-8 CSV named after what it holds, the period and its last day (UTC)."""
    filename = f"smsdesk-{name}-{period}-{end:%Y%m%d}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/reports")
def reports_page(
    request: Request, console: PageContextDep, db: DbSession, period: str | None = None
) -> Response:
    """Per-agent report over the chosen period, for the viewer's brands (admins: all)."""
    require_supervisor(console.agent)
    chosen = parse_period(period)
    report = _report(db, request.app.state.runtime.settings, console.agent, chosen)
    return render(
        request,
        "reports.html",
        {
            "console": console,
            "section": "reports",
            "report": report,
            "period": chosen,
            "periods": [(p, PERIOD_NAMES[p]) for p in PERIODS],
            "period_name": PERIOD_NAMES[chosen],
        },
    )


@router.get("/reports/agents.csv")
def agents_csv_export(
    request: Request, console: PageContextDep, db: DbSession, period: str | None = None
) -> Response:
    """The per-agent report as CSV (one header row; durations in business seconds)."""
    require_supervisor(console.agent)
    chosen = parse_period(period)
    report = _report(db, request.app.state.runtime.settings, console.agent, chosen)
    return _csv(agents_csv(report), "agents", chosen, report.window.end)


@router.get("/dashboard.csv")
def dashboard_csv_export(
    request: Request, console: PageContextDep, db: DbSession, period: str | None = None
) -> Response:
    """The dashboard's figures as CSV (`metric,value,unit`)."""
    require_supervisor(console.agent)
    chosen = parse_period(period)
    zone = business_zone(request.app.state.runtime.settings.business_timezone)
    metrics = dashboard_metrics(db, period=chosen, scope=brand_scope(console.agent), zone=zone)
    return _csv(dashboard_csv(metrics), "dashboard", chosen, metrics.window.end)

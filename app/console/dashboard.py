"""The supervisor dashboard: queue, response times, containment, escalations, opt-outs, traffic,
flows."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response

from app.console.charts import BarChart, Series, bar_list, column_chart
from app.console.deps import DbSession, PageContextDep
from app.console.events import stream_url
from app.console.metrics import (
    PERIODS,
    DashboardMetrics,
    Period,
    brand_scope,
    dashboard_metrics,
    parse_period,
)
from app.console.templating import business_zone, reason_label, render
from app.flows.metrics import flow_metrics
from app.handoff.routing import Routing
from app.handoff.workload import workloads
from app.storage.messages import now
from app.storage.tables import Agent

router = APIRouter(prefix="/console", include_in_schema=False)

PERIOD_NAMES: dict[Period, str] = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
}


def require_supervisor(agent: Agent) -> None:
    """Supervisors and admins only (403 for everyone else)."""
    if agent.role not in ("supervisor", "admin"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="supervisors and admins only")


def percent(value: float | None) -> str:
    """`82%`, `2.5%` under 10 %, `–` when there is nothing to divide by."""
    if value is None:
        return "–"
    share = value * 100
    return f"{share:.1f}%" if 0 < share < 10 else f"{share:.0f}%"


def _bucket_label(start: datetime, unit: str) -> tuple[str, str]:
    """(axis label, tooltip name) of one traffic bucket, on the clock `start` is in."""
    if unit == "hour":
        return f"{start:%H}:00", f"{start:%a %d %b %H}:00 {start:%Z}"
    return f"{start:%d %b}", f"{start:%a %d %b} ({start:%Z})"


def traffic_chart(metrics: DashboardMetrics, zone: tzinfo = UTC) -> BarChart:
    """Inbound and outbound texts per hour (24 h) or per day, labelled on `zone`'s clock."""
    unit = metrics.window.unit
    names = [_bucket_label(b.start.astimezone(zone), unit) for b in metrics.traffic]
    return column_chart(
        [label for label, _ in names],
        [
            Series("inbound", [b.inbound for b in metrics.traffic], "bar"),
            Series("outbound", [b.outbound for b in metrics.traffic], "bar alt"),
        ],
        title=f"Texts per {unit}, inbound and outbound",
        tooltips=[name for _, name in names],
    )


def reasons_chart(metrics: DashboardMetrics) -> BarChart:
    """Handoff items per reason."""
    return bar_list(
        [(reason_label(r.reason), r.count) for r in metrics.reasons],
        title="Escalations by reason",
    )


@router.get("/dashboard")
def dashboard_page(
    request: Request, console: PageContextDep, db: DbSession, period: str | None = None
) -> Response:
    """Supervisor dashboard over the chosen period, for the viewer's brands (admins: all)."""
    require_supervisor(console.agent)
    # First: what changes from here on reaches the page live. Not for the page's own refresh
    # (htmx selects #dashboard out of it and keeps the stream it has).
    live = "" if request.headers.get("HX-Request") else stream_url(db)
    chosen = parse_period(period)
    scope = brand_scope(console.agent)
    zone = business_zone(request.app.state.runtime.settings.business_timezone)
    metrics = dashboard_metrics(db, period=chosen, scope=scope, zone=zone)
    flows = flow_metrics(db, start=metrics.window.start, end=metrics.window.end, scope=scope)
    routing = Routing.from_settings(request.app.state.runtime.settings)
    return render(
        request,
        "dashboard.html",
        {
            "console": console,
            "section": "dashboard",
            "m": metrics,
            "period": chosen,
            "live": live,
            "periods": [(p, PERIOD_NAMES[p]) for p in PERIODS],
            "period_name": PERIOD_NAMES[chosen],
            "traffic_chart": traffic_chart(metrics, zone),
            "reasons_chart": reasons_chart(metrics),
            "flows": flows,
            "percent": percent,
            "routing": routing,
            "workloads": workloads(db, routing=routing, scope=scope, at=now()),
        },
    )

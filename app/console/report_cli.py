"""`smsdesk report agents`: the console's per-agent report on the command line (or as CSV)."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from app.cli_output import fail
from app.config import get_settings
from app.console.agent_report import agent_report
from app.console.metrics import PERIODS, parse_period
from app.console.report_csv import agents_csv
from app.console.templating import duration
from app.handoff.agents import AgentError
from app.handoff.scopes import check_brands, known_brands
from app.handoff.sla import FirstResponseSla
from app.storage import open_database

report_app = typer.Typer(
    help="Reports: per-agent handled items, response and resolution times, satisfaction.",
    no_args_is_help=True,
)

PeriodOption = StrEnum("PeriodOption", {p: p for p in PERIODS})  # type: ignore[misc]


@report_app.command("agents")
def agents_command(
    period: Annotated[PeriodOption, typer.Option(help="The period up to now.")] = PeriodOption(
        "7d"
    ),
    brand: Annotated[
        list[str] | None, typer.Option(help="Only these brands (repeatable); default: all.")
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="CSV on standard output.")] = False,
) -> None:
    """Per agent: items resolved, first response p50/p90 and resolution p50 (business time),
    survey ratings; the same figures as the console's Reports page."""
    settings = get_settings()
    clock = FirstResponseSla.from_settings(settings).clock
    with Session(open_database(settings.db_url)) as session:
        try:
            check_brands(brand or [], known_brands(session, settings))
        except AgentError as exc:
            fail(exc)
        report = agent_report(
            session,
            period=parse_period(str(period)),
            scope=tuple(brand) if brand else None,
            clock=clock,
        )
    if csv:
        sys.stdout.write(agents_csv(report))
        return
    table = Table(title=f"Agents, last {period} (business time, {settings.business_timezone})")
    for name in ("agent", "handled", "first response p50", "p90", "resolution p50", "rating"):
        table.add_column(name, justify="left" if name == "agent" else "right", overflow="fold")
    for r in report.rows:
        rating = f"{r.survey_mean:.1f} ({r.survey_responses})" if r.survey_mean is not None else "–"
        table.add_row(
            r.email,
            str(r.handled),
            duration(r.first_response_median),
            duration(r.first_response_p90),
            duration(r.resolution_median),
            rating,
        )
    Console(soft_wrap=True, highlight=False).print(table)

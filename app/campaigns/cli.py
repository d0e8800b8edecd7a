"""`smsdesk flows send FLOW --csv FILE [--dry-run]`: a bulk send with a progress bar.

The campaign is written to the database and run by whoever runs jobs: a running `smsdesk serve`
or `smsdesk worker` (this command then only follows it), or, when none is running, this command
itself (only the campaign's batches and sends, at the configured pace) until every recipient is
started or skipped.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from app.campaigns.contract import FlowInfo, Flows, default_flows
from app.campaigns.recipients import RecipientList, read_csv
from app.campaigns.service import (
    RUN_CAMPAIGN,
    CampaignProgress,
    DryRunReport,
    campaign_progress,
    create_campaign,
    dry_run,
)
from app.cli_output import fail
from app.compliance.service import Compliance
from app.config import Settings, get_settings
from app.jobs.heartbeat import live_workers
from app.jobs.inprocess import InProcessEngine
from app.outbound.send import SEND_OUTBOUND
from app.storage import open_database

POLL_SECONDS = 0.5
WAITING = ("queued", "sending")
"""First texts still on their way (`scheduled` ones wait for quiet hours: reported, not awaited)."""

campaigns_app = typer.Typer(
    help="Bulk sends (started with `smsdesk flows send FLOW --csv FILE`).", no_args_is_help=True
)
_out = Console(soft_wrap=True, highlight=False)


@campaigns_app.command("show")
def show_command(campaign_id: Annotated[str, typer.Argument(help="The campaign's id.")]) -> None:
    """A campaign's progress."""
    try:
        key = uuid.UUID(campaign_id)
    except ValueError:
        fail(f"not a campaign id: {campaign_id!r:.60}")
    progress = campaign_progress(open_database(get_settings().db_url), key)
    if progress is None:
        fail(f"no campaign {campaign_id}")
    _print_summary(progress)


def bulk_send(
    flow: str,
    csv_path: Path,
    *,
    dry_run: bool = False,
    campaign_name: str | None = None,
    flows: Flows | None = None,
    settings: Settings | None = None,
) -> int:
    """The bulk send behind `flows send FLOW --csv`: dry run, or create and follow; exit code."""
    settings = settings or get_settings()
    flows = flows or default_flows(settings)
    info = flows.catalog(flow)
    if info is None:
        fail(f"no flow named {flow!r} (see `smsdesk flows list`)")
    try:
        text = csv_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{csv_path}: cannot read it ({exc})")
    recipients = read_csv(text, info)
    engine = open_database(settings.db_url, busy_timeout=settings.sqlite_busy_timeout_seconds)
    if dry_run:
        report = _dry_run(engine, settings, info, recipients)
        _print_dry_run(report)
        return 0
    if recipients.problems:
        for problem in recipients.problems:  # one line each: file:line: what is wrong
            typer.echo(f"{csv_path}:{problem.line}: {problem.message}", err=True)
        fail(f"{csv_path}: {len(recipients.problems)} problem(s); nothing was sent")
    campaign = create_campaign(
        engine,
        flow=info,
        recipients=recipients,
        brand=settings.brand_id,
        name=campaign_name,
        source="cli",
    )
    _out.print(f"campaign {campaign.id}: {campaign.total} recipient(s) of flow {flow}")
    if live_workers(engine, mode=settings.execution_mode):
        progress = _follow(engine, campaign.id, run=None)
    elif settings.execution_mode == "procrastinate":
        # Its jobs are on procrastinate's queue, which only `smsdesk worker` runs: they wait
        # there, durably, and nothing is sent twice when a worker starts.
        _out.print(
            "no smsdesk worker is running: the campaign is queued and is sent when one starts "
            f"(smsdesk worker); follow it with GET /api/v1/campaigns/{campaign.id}"
        )
        return 0
    else:
        _out.print("no smsdesk server or worker is running: sending from here")
        progress = _follow(engine, campaign.id, run=_local_runner(settings, engine, flows))
    _print_summary(progress)
    return 0


def _dry_run(
    engine: Engine, settings: Settings, info: FlowInfo, recipients: RecipientList
) -> DryRunReport:
    compliance = Compliance(engine, settings)
    return dry_run(compliance, flow=info, recipients=recipients, brand=settings.brand_id)


def _local_runner(settings: Settings, engine: Engine, flows: Flows) -> InProcessEngine:
    """An embedded engine that runs only bulk-send work (batches and sends), in this thread."""
    from app.runtime import build_runtime

    local = settings.model_copy(update={"worker_process": False, "execution_mode": "inprocess"})
    runtime = build_runtime(local, engine=engine, campaign_flows=flows)
    assert isinstance(runtime.jobs, InProcessEngine)
    runtime.jobs.kinds = frozenset({RUN_CAMPAIGN, SEND_OUTBOUND})
    return runtime.jobs


def _follow(
    engine: Engine, campaign_id: uuid.UUID, *, run: InProcessEngine | None
) -> CampaignProgress:
    """Show a progress bar until the campaign is done and its first texts have left."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[counts]}"),
    )
    with Progress(*columns, console=_out, transient=False) as bar:
        task = bar.add_task("recipients", total=None, counts="")
        while True:
            if run is not None:
                run.drain()
            progress = campaign_progress(engine, campaign_id)
            assert progress is not None
            handled = sum(n for state, n in progress.states.items() if state != "pending")
            bar.update(task, total=progress.total, completed=handled, counts=_counts(progress))
            if progress.done and not any(progress.texts.get(s) for s in WAITING):
                return progress
            time.sleep(POLL_SECONDS)


def _counts(progress: CampaignProgress) -> str:
    parts = [f"started {progress.states.get('started', 0)}"]
    parts += [f"skipped {reason} {n}" for reason, n in sorted(progress.skipped.items())]
    if progress.states.get("failed"):
        parts.append(f"failed {progress.states['failed']}")
    sent = sum(progress.texts.get(s, 0) for s in ("sent", "delivered"))
    parts.append(f"texts sent {sent}")
    return " · ".join(parts)


def _print_summary(progress: CampaignProgress) -> None:
    table = Table(title=f"campaign {progress.name} ({progress.id})", show_header=False)
    table.add_row("flow", progress.flow)
    table.add_row("status", progress.status)
    table.add_row("recipients", str(progress.total))
    for state in ("started", "skipped", "failed", "pending"):
        table.add_row(state, str(progress.states.get(state, 0)))
    for reason, count in sorted(progress.skipped.items()):
        table.add_row(f"  skipped: {reason}", str(count))
    for reason, count in sorted(progress.failed.items()):
        table.add_row(f"  failed: {reason}", str(count))
    for status, count in sorted(progress.texts.items()):
        table.add_row(f"texts {status}", str(count))
    _out.print(table)


def _print_dry_run(report: DryRunReport) -> None:
    counts = report.counts()
    table = Table(title=f"dry run of {report.flow} ({report.category}): nothing was sent")
    for column in ("line", "phone", "outcome", "reason", "when / detail"):
        table.add_column(column)
    for entry in report.entries:
        if entry.outcome == "send":
            continue
        table.add_row(
            str(entry.line),
            entry.phone,
            entry.outcome,
            entry.reason or "",
            entry.send_at or entry.detail,
        )
    _out.print(table)
    _out.print(" · ".join(f"{key} {value}" for key, value in counts.items()))

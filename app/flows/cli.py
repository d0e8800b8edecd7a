"""`smsdesk flows`: check a folder of flow files, list the flows, send one to one customer or
to every customer of a CSV (a bulk send: `app.campaigns`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from app.cli_output import fail
from app.config import get_settings
from app.flows.loader import InvalidFlowFile, load_flows

flows_app = typer.Typer(
    help="Two-way flows: notifications that invite a reply (docs/flows.md).",
    no_args_is_help=True,
)
_out = Console(soft_wrap=True, highlight=False)


@flows_app.command("check")
def check(
    folder: Annotated[
        Path | None, typer.Argument(help="Folder of flow files (default SMSDESK_FLOWS_DIR).")
    ] = None,
) -> None:
    """Validate every flow file of a folder; exit 1 listing every problem (file:line)."""
    folder = folder or get_settings().flows_dir
    if not folder.is_dir():
        fail(f"{folder}: no such folder")
    try:
        catalogue = load_flows(folder)
    except InvalidFlowFile as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        typer.echo(f"{len(exc.problems)} problem(s) in {folder}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"{len(catalogue)} flow(s) in {folder}: ok")


@flows_app.command("list")
def list_flows() -> None:
    """The flows this deployment can start, with their category, variables and questions."""
    settings = get_settings()
    try:
        catalogue = load_flows(settings.flows_dir)
    except InvalidFlowFile as exc:
        fail(f"{settings.flows_dir} has problems (run `smsdesk flows check`):\n{exc}")
    table = Table("flow", "category", "variables", "questions", "description")
    for flow in catalogue:
        table.add_row(
            flow.name, flow.category, ", ".join(flow.variables) or "-",
            ", ".join(flow.nodes), flow.description,
        )  # fmt: skip
    _out.print(table)


@flows_app.command("send")
def send(
    flow: Annotated[str, typer.Argument(help="The flow's name (`smsdesk flows list`).")],
    to: Annotated[
        str | None, typer.Option("--to", help="The customer's number, E.164 (+1...).")
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="A variable as name=value (repeatable).")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="Idempotency key: the same key never sends twice.")
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option(help="A bulk send: one recipient per line (phone + the flow's variables)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="With --csv: report who would be sent, later or skipped, and why.")
    ] = False,
    campaign_name: Annotated[
        str | None, typer.Option(help="With --csv: the campaign's name in reports.")
    ] = None,
) -> None:
    """Start a flow for one customer (--to), or for every line of a CSV (--csv, with a progress
    bar; resumable: nobody is sent twice). Every text meets the send-time gate."""
    from app.flows.runs import FlowStart, start_flow
    from app.runtime import build_runtime

    if (to is None) == (csv is None):
        fail("give either --to NUMBER (one customer) or --csv FILE (a bulk send)")
    if csv is not None:
        if var or key:
            fail("--var and --key are for --to; a CSV gives each line's variables")
        from app.campaigns.cli import bulk_send

        raise typer.Exit(bulk_send(flow, csv, dry_run=dry_run, campaign_name=campaign_name))
    assert to is not None
    if dry_run or campaign_name:
        fail("--dry-run and --campaign-name are for --csv")
    variables: dict[str, str] = {}
    for item in var or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(f"--var {item!r}: expected name=value")
        variables[name.strip()] = value
    settings = get_settings().model_copy(update={"worker_process": False})
    runtime = build_runtime(settings)
    assert runtime.flows is not None
    try:
        with Session(runtime.engine, expire_on_commit=False) as session:
            started = start_flow(
                session,
                FlowStart(
                    flow=flow,
                    brand=settings.brand_id,
                    phone=to,
                    variables=variables,
                    source="cli",
                    idempotency_key=key or f"cli:{uuid.uuid4()}",
                ),
                flows=runtime.flows,
            )
            session.commit()
    finally:
        runtime.close()
    if started.refusal is not None:
        fail(f"{started.refusal.code}: {started.refusal.detail}")
    state = "already started (same key)" if started.duplicate else "started"
    typer.echo(f"{flow} {state}: run {started.run_id}, first text {started.message_id} queued")

"""`smsdesk compliance export-optouts` and `smsdesk compliance reconcile` (REC-4)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import structlog
import typer
from rich.console import Console
from rich.table import Table

from app import log
from app.cli_output import fail
from app.config import get_settings
from app.errors import SmsdeskError

if TYPE_CHECKING:
    from app.compliance.reconcile import Reconciliation

_out = Console(soft_wrap=True, highlight=False)


class _Stderr:
    """Standard error looked up at each write: a test runner swaps it per invocation."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _log_to_stderr(level: str) -> None:
    # Logs (with numbers redacted) go to stderr: stdout is the CSV or JSON a script reads.
    # Not cached: a logger bound now would keep this process-wide choice past the command.
    log.configure(level)
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def register(compliance_app: typer.Typer) -> None:
    """Add the REC-4 commands to the `compliance` sub-app."""
    compliance_app.command("export-optouts")(export_optouts_command)
    compliance_app.command("reconcile")(reconcile_command)


def export_optouts_command(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the CSV here (default: standard output).")
    ] = None,
    brand: Annotated[
        str | None, typer.Option(help="Only this brand (default: every brand).")
    ] = None,
) -> None:
    """Print the numbers opted out now, per brand, as CSV: brand, phone_e164, since, source,
    scope (from the consent ledger's current state)."""
    from app.compliance.reconcile import opted_out_numbers, write_export
    from app.storage import open_database

    engine = open_database(get_settings().db_url)
    try:
        rows = opted_out_numbers(engine, brand=brand)
    finally:
        engine.dispose()
    if out is None:
        write_export(rows, sys.stdout)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        count = write_export(rows, handle)
    typer.echo(f"{count} opted-out numbers written to {out}", err=True)


def reconcile_command(
    file: Annotated[
        Path,
        typer.Argument(help="The provider's opt-out list: CSV with a phone column."),
    ],
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Record the provider's opt-outs our ledger lacks and cancel queued texts.",
        ),
    ] = False,
    brand: Annotated[
        str | None, typer.Option(help="The brand the list belongs to (default: SMSDESK_BRAND_ID).")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary instead of the table.")
    ] = False,
) -> None:
    """Compare a provider's opt-out list (Twilio blocklist, toll-free carrier state) with the
    consent ledger.

    Exit code 0: in agreement; 1: the provider has opted out numbers our ledger has not (drift,
    even if --apply just fixed it); 2: the file could not be used, or (without drift) some rows
    are not valid numbers: each is reported on its own line, and the valid rows still count.
    """
    from app.compliance.reconcile import reconcile
    from app.compliance.service import Compliance
    from app.storage import open_database

    settings = get_settings()
    _log_to_stderr(settings.log_level)
    engine = open_database(settings.db_url)
    try:
        result = reconcile(Compliance(engine, settings), file, brand=brand, apply=apply)
    except SmsdeskError as exc:
        fail(" ".join(str(exc).split()))
    finally:
        engine.dispose()
    for bad in result.bad_rows:
        typer.echo(f"error: {file.name} {bad}", err=True)
    if json_out:
        typer.echo(json.dumps(result.summary(), indent=2, ensure_ascii=False))
    else:
        _print_table(result)
    # Drift outranks bad rows: it is the one that means texts to people who opted out.
    raise typer.Exit(code=1 if result.drift else 2 if result.bad_rows else 0)


def _print_table(result: Reconciliation) -> None:
    table = Table(title=f"Opt-outs: {result.file} against the ledger of brand {result.brand}")
    for column in ("phone_e164", "provider", "ledger", "action"):
        table.add_column(column)
    applied = set(result.applied)
    marketing_only = set(result.marketing_only)
    for phone in result.provider_only:
        ledger = "opted out of marketing only" if phone in marketing_only else "subscribed"
        action = "[green]opt-out recorded[/]" if phone in applied else "[red]drift[/]"
        table.add_row(phone, "opted out", ledger, action)
    for phone in result.ledger_only:
        table.add_row(phone, "not listed", "opted out", "none (ours is stricter)")
    _out.print(table)
    typer.echo(
        f"{result.provider_numbers} numbers on the provider list; "
        f"{len(result.provider_only)} opted out there but not in our ledger"
        f" ({len(result.applied)} recorded now, {result.cancelled} queued texts cancelled); "
        f"{len(result.ledger_only)} opted out only in our ledger; "
        f"{len(result.bad_rows)} bad rows"
    )

"""The `smsdesk` command line: serve the app, and ask the compliance layer questions."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from app import log
from app.ai.knowledge_cli import kb_app
from app.campaigns.cli import campaigns_app
from app.cli_output import fail, quiet_libraries, working
from app.compliance.reconcile_cli import register as register_reconcile
from app.config import get_settings
from app.console.report_cli import report_app
from app.context.cli import context_app
from app.errors import SmsdeskError
from app.evals.cli import eval_app
from app.flows.cli import flows_app
from app.handoff.agents_cli import agents_app
from app.signups.cli import signups_app


class _OneLineErrors(TyperGroup):
    """Every command, however deep: a bad setting, or an error smsdesk raises on purpose that
    the command did not catch, is one `error:` line and exit status 2, never a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context (typer vendors click)
        try:
            return super().invoke(ctx)
        except SmsdeskError as exc:  # SettingsInvalid names the variable
            typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(2)


app = typer.Typer(
    name="smsdesk",
    cls=_OneLineErrors,
    help="smsdesk: two-way business texting that answers what it can and hands the rest to people.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
compliance_app = typer.Typer(
    help="Ask the deterministic compliance layer (STOP/HELP/START, quiet hours) a question.",
    no_args_is_help=True,
)
db_app = typer.Typer(
    help="The database schema: `db upgrade` migrates it (`smsdesk serve` also does on start).",
    no_args_is_help=True,
)
app.add_typer(compliance_app, name="compliance")
app.add_typer(db_app, name="db")
app.add_typer(kb_app, name="kb")
app.add_typer(eval_app, name="eval")
app.add_typer(agents_app, name="agents")
app.add_typer(flows_app, name="flows")
app.add_typer(context_app, name="context")
app.add_typer(signups_app, name="signups")
app.add_typer(report_app, name="report")
app.add_typer(campaigns_app, name="campaigns")  # bulk sends; `flows send --csv` calls bulk_send
register_reconcile(compliance_app)  # export-optouts, reconcile (REC-4)


@app.callback()
def _options(
    ctx: typer.Context,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also show debug logs and the ML libraries' own progress bars and messages.",
        ),
    ] = False,
) -> None:
    if verbose:
        os.environ["SMSDESK_LOG_LEVEL"] = "DEBUG"  # read by the settings, for this command
        _configure_logs("DEBUG")
        return
    quiet_libraries()
    if ctx.invoked_subcommand not in ("serve", "worker") and not structlog.is_configured():
        # Unconfigured, structlog prints every level: `train` and the evals showed `[debug]`
        # lines. A command prints its results; servers log at SMSDESK_LOG_LEVEL.
        _configure_logs("WARNING")


def _configure_logs(level: str) -> None:
    log.configure(level)
    # Not cached: a logger bound now would keep this level past the command (in a process
    # that runs several, such as the tests), as in compliance/reconcile_cli.py.
    structlog.configure(cache_logger_on_first_use=False)


_out = Console(soft_wrap=True, highlight=False)


class StateOption(StrEnum):
    subscribed = "subscribed"
    opted_out = "opted_out"


class CategoryOption(StrEnum):
    marketing = "marketing"
    transactional = "transactional"
    reply = "reply"


def _fail(message: str) -> NoReturn:
    # One line: a message quoting customer text must not be wrapped.
    fail(" ".join(message.split()))


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
) -> None:
    """Start the smsdesk web service (FastAPI on uvicorn) with the configured settings."""
    import uvicorn

    from app.demo import start_up

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    try:
        lines = start_up(settings, host=host, port=port)  # seeds the demo when it is on
    except SmsdeskError as exc:
        _fail(str(exc))
    for line in lines:
        typer.echo(line)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        # Open console pages hold event streams: give them a moment, then stop anyway.
        timeout_graceful_shutdown=5,
    )


@compliance_app.command("classify")
def classify_command(
    text: Annotated[str, typer.Argument(help="The inbound message body.")],
    from_: Annotated[str, typer.Option("--from", help="Sender, E.164 (e.g. +12125550123).")],
    state: Annotated[
        StateOption, typer.Option(help="The sender's consent state before this message.")
    ] = StateOption.subscribed,
    at: Annotated[
        str | None, typer.Option(help="When it was received, ISO-8601 with offset (default: now).")
    ] = None,
) -> None:
    """Print what an inbound text means for consent (SPEC §6) as JSON."""
    received = at or datetime.now(UTC).isoformat()
    data = {"id": "cli", "kind": "inbound", "text": text, "from": from_, "received_at": received}
    data["prior_state"] = state.value
    _run_one(data)


@compliance_app.command("gate")
def gate_command(
    to: Annotated[str, typer.Option(help="Recipient, E.164.")],
    at: Annotated[str, typer.Option(help="Send time, ISO-8601 with offset.")],
    category: Annotated[CategoryOption, typer.Option(help="What kind of message it is.")],
    state: Annotated[
        StateOption, typer.Option(help="The recipient's consent state.")
    ] = StateOption.subscribed,
    last_inbound: Annotated[
        str | None, typer.Option(help="When the customer last texted us (replies, IN-7).")
    ] = None,
    urgent: Annotated[
        bool, typer.Option(help="Transactional and urgent (fraud alert, OTP): send now.")
    ] = False,
    known_state: Annotated[
        str | None, typer.Option(help="Verified residence state, two letters (QH-2).")
    ] = None,
    verified_tz: Annotated[
        str | None, typer.Option(help="Verified IANA time zone on file (TZ-1).")
    ] = None,
    prior_marketing_send: Annotated[
        list[str] | None,
        typer.Option(help="A marketing send already made (repeat the option; caps, QH-3)."),
    ] = None,
) -> None:
    """Print whether an outbound message may be sent then, and if not when (SPEC §10), as JSON."""
    data: dict[str, Any] = {
        "id": "cli",
        "kind": "outbound",
        "to": to,
        "send_at": at,
        "category": category.value,
        "recipient_state": state.value,
        "urgent": urgent,
        "last_inbound_at": last_inbound,
        "known_state": known_state,
        "verified_time_zone": verified_tz,
        "prior_marketing_sends": prior_marketing_send or [],
    }
    _run_one({k: v for k, v in data.items() if v is not None})


def _run_one(data: dict[str, Any]) -> None:
    """Run one case built from the command's options on a scratch ledger and print it."""
    from app.compliance.cases import parse_case, run_case

    try:
        case = parse_case(data, where="arguments", need_expect=False)
        _print_json(run_case(case, get_settings()))
    except SmsdeskError as exc:
        _fail(str(exc))


@compliance_app.command("eval")
def eval_command(
    file: Annotated[Path, typer.Argument(help="A case file in the SPEC §13 form (JSON lines).")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.")
    ] = None,
) -> None:
    """Run a compliance case file through the real code path and report every mismatch.

    The last line is exactly `N passed, M failed`; the exit code is 0 only when M is 0.
    """
    from app.compliance.cases import run_file

    try:
        _cases, report, _decisions = run_file(file, get_settings())
    except SmsdeskError as exc:
        _fail(str(exc))
    for m in report.mismatches:
        expected, got = json.dumps(m.expected, ensure_ascii=False), json.dumps(m.got)
        typer.echo(f"FAIL {m.case_id} {m.field}: expected {expected}, got {got}")
    table = Table(title="Compliance cases by category")
    for column in ("category", "passed", "failed"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for name, (passed, failed) in sorted(report.by_category.items()):
        table.add_row(name, str(passed), f"[red]{failed}[/]" if failed else "0")
    _out.print(table)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n")
    typer.echo(f"{report.passed} passed, {report.failed} failed")
    raise typer.Exit(code=0 if report.failed == 0 else 1)


@app.command()
def chat(
    from_: Annotated[
        str, typer.Option("--from", help="The customer's number, E.164 (e.g. +12125550123).")
    ],
    url: Annotated[
        str | None, typer.Option(help="The running server (default: SMSDESK_PUBLIC_BASE_URL).")
    ] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for replies after the last line.")
    ] = 3.0,
) -> None:
    """A terminal phone: what you type is texted to the running server, its replies appear."""
    from app.chat import Phone, prompt_lines, run
    from app.compliance.parsing import parse_e164

    settings = get_settings()
    try:
        number = parse_e164(from_)
    except SmsdeskError as exc:
        _fail(str(exc))
    phone = Phone(settings, number, url or settings.public_base_url, out=typer.echo)
    typer.echo(f"Texting {settings.brand_name} as {number}. Type a message; Ctrl-D to quit.")
    run(phone, prompt_lines(number), wait_seconds=wait)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate the configured database (SMSDESK_DATABASE_URL) to `revision`."""
    from app.storage import make_engine, migrate

    settings = get_settings()
    migrate(make_engine(settings.db_url), revision)
    typer.echo(f"database at {revision}: {settings.db_url.split('@')[-1]}")


@app.command()
def train() -> None:
    """Train the intent classifier on the knowledge base and save it (the server also does
    this by itself on start whenever the knowledge changed)."""
    from app.ai.knowledge import load_knowledge
    from app.ai.training import train_intents

    settings = get_settings()
    try:
        with working("Training the intent classifier (the sentence encoder loads first)"):
            report = train_intents(settings, load_knowledge(settings.knowledge_dir))
    except SmsdeskError as exc:
        _fail(str(exc))
    scores = ", ".join(f"{name} {value:.1f}" for name, value in report.validation.items())
    typer.echo(
        f"trained {report.intents} intents on {report.examples} texts in {report.seconds:.1f} s"
        f" ({scores or 'no validation metrics'}); saved to {report.path}"
    )


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Jobs each process runs at once (default: SMSDESK_WORKERS)."
        ),
    ] = None,
    processes: Annotated[int, typer.Option(min=1, max=64, help="Worker processes to run.")] = 1,
) -> None:
    """Run procrastinate workers for scale-out mode (PostgreSQL) until SIGTERM or Ctrl-C.

    Start it on as many machines as needed; each conversation is still handled one text at a
    time, in order. Needs SMSDESK_EXECUTION_MODE=procrastinate and a PostgreSQL database. With
    --processes N (one per core), the worker processes are children restarted if they die; one
    dying within 10 s of its start stops them all with its exit code.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from app.storage import normalise_url

    settings = get_settings()
    if settings.execution_mode != "procrastinate":
        _fail(
            "smsdesk worker needs SMSDESK_EXECUTION_MODE=procrastinate (in the default "
            "in-process mode, `smsdesk serve` runs the jobs itself)"
        )
    try:
        backend = make_url(normalise_url(settings.db_url)).get_backend_name()
    except ArgumentError:
        backend = "an unreadable URL"
    if backend != "postgresql":
        _fail(
            f"smsdesk worker needs a PostgreSQL database (SMSDESK_DATABASE_URL=postgresql://...), "
            f"and the configured database is {backend}"
        )
    from app.jobs.procrastinate_engine import run_worker_processes

    code = run_worker_processes(processes=processes, concurrency=concurrency or settings.workers)
    raise typer.Exit(code=code)


def main() -> None:
    """Entry point that never shows a traceback for expected errors."""
    try:
        app()
    except SmsdeskError as exc:  # pragma: no cover - defensive; commands catch their own
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

"""`smsdesk signups list`: the brand's signups and where each stands."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.cli_output import fail
from app.config import get_settings
from app.errors import InvalidInput

signups_app = typer.Typer(help="Signups (double opt-in): list them.", no_args_is_help=True)
_out = Console(soft_wrap=True, highlight=False)


@signups_app.command("list")
def list_command(
    phone: Annotated[str | None, typer.Option(help="Only this number's (E.164).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """The brand's signups, newest first: status, categories, source, when asked and confirmed."""
    # Imported here: `smsdesk --help` should not load the messaging stack.
    from app.compliance.parsing import parse_e164
    from app.compliance.service import Compliance
    from app.signups.service import Signups
    from app.storage import open_database

    settings = get_settings()
    try:
        number = parse_e164(phone) if phone else None
    except InvalidInput as exc:
        fail(str(exc))
    engine = open_database(settings.db_url)
    try:
        signups = Signups(engine, Compliance(engine, settings), settings, provider="")
        views = signups.list(brand=settings.brand_id, phone=number, limit=limit)
    finally:
        engine.dispose()
    if as_json:
        for view in views:
            typer.echo(json.dumps({
                "id": str(view.id), "phone": view.phone, "status": view.status,
                "mode": view.mode, "categories": list(view.categories), "source": view.source,
                "requested_at": view.requested_at.isoformat(),
                "confirmed_at": view.confirmed_at.isoformat() if view.confirmed_at else None,
                "request_sent": view.request_sent, "note": view.request_note or view.cancel_reason,
            }))  # fmt: skip
        return
    table = Table("id", "phone", "status", "categories", "source", "requested", "confirmed")
    for view in views:
        table.add_row(
            str(view.id)[:8],
            view.phone,
            view.status,
            ", ".join(view.categories),
            view.source,
            f"{view.requested_at:%Y-%m-%d %H:%M}",
            f"{view.confirmed_at:%Y-%m-%d %H:%M}" if view.confirmed_at else "",
        )
    _out.print(table if views else "No signups.")

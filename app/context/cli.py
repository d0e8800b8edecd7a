"""`smsdesk context import|show`: the built-in customer context from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli_output import fail
from app.config import get_settings
from app.errors import InvalidInput

context_app = typer.Typer(
    help="Customer context: import customers, orders, appointments and memberships; look one up.",
    no_args_is_help=True,
)

Brand = Annotated[str | None, typer.Option(help="The brand (default SMSDESK_BRAND_ID).")]


@context_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A CSV (columns: docs/customer-context.md).")],
    brand: Brand = None,
) -> None:
    """Import (create or update) the records of a CSV; a file with a problem imports nothing."""
    from app.context.importer import import_csv
    from app.storage import open_database

    settings = get_settings()
    engine = open_database(settings.db_url)
    try:
        result = import_csv(engine, file, brand=brand or settings.brand_id)
    except InvalidInput as exc:
        fail(exc)
    finally:
        engine.dispose()
    kinds = ", ".join(f"{n} {kind}s" for kind, n in sorted(result.counts.items()))
    typer.echo(f"imported {kinds} for {result.customers} numbers from {file}")


@context_app.command("show")
def show_command(
    phone: Annotated[str, typer.Argument(help="The customer's number, E.164 (+1...).")],
    brand: Brand = None,
) -> None:
    """What the bot would know about this number (from the configured source)."""
    from app.compliance.parsing import parse_e164
    from app.context import ContextUnavailable, build_context
    from app.storage import open_database

    settings = get_settings()
    try:
        number = parse_e164(phone)
    except InvalidInput as exc:
        fail(exc)
    engine = open_database(settings.db_url)
    try:
        customer = build_context(settings, engine).customer(brand or settings.brand_id, number)
    except ContextUnavailable as exc:
        fail(f"the customer system is unavailable: {exc}")
    finally:
        engine.dispose()
    if customer is None:
        fail(f"no customer on file for {number}")
    typer.echo(f"{customer.name or '(no name)'} · {customer.phone} · {customer.language}")
    for order in customer.orders:
        typer.echo(f"  order {order.id}: {order.status} · placed {order.placed_at:%Y-%m-%d}"
                   f"{' · ' + order.items if order.items else ''}")  # fmt: skip
    for appointment in customer.appointments:
        starts = f"{appointment.starts_at:%Y-%m-%d %H:%M} UTC"
        typer.echo(
            f"  appointment {appointment.id}: {appointment.service} · {starts} · "
            f"{appointment.status}"
        )
    if customer.subscription is not None:
        sub = customer.subscription
        typer.echo(f"  membership: {sub.plan} · {sub.status} · renews {sub.renews_on or '-'}")

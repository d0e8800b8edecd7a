"""How every `smsdesk` command reports an error it expects: one message on stderr, exit 2."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: object) -> NoReturn:
    """Print `error: <message>` (plain echo, never rich markup) and exit with status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)

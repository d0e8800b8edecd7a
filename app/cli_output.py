"""How every `smsdesk` command talks to a person: one-line errors, a spinner while slow work
runs, and the machine-learning libraries' own chatter kept out unless asked for."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console

_QUIET_LIBRARIES = {
    # Weight-loading and download bars (huggingface_hub, transformers, sentence-transformers).
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",  # its fork warning, printed mid-table
}
_CHATTY_LOGGERS = ("sentence_transformers", "transformers", "huggingface_hub", "chromadb", "httpx")


def fail(message: object) -> NoReturn:
    """Print `error: <message>` (plain echo, never rich markup) and exit with status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def quiet_libraries() -> None:
    """Keep progress bars and info logs of the ML libraries out of a command's output (a
    variable the user set themselves wins; `smsdesk --verbose` skips this)."""
    for name, value in _QUIET_LIBRARIES.items():
        os.environ.setdefault(name, value)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner saying what is being done, on standard error while the block runs (only on
    a terminal: piped output stays clean)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with console.status(f"{message}...", spinner="dots"):
        yield

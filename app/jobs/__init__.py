"""Execution engines behind one interface: in-process (default) and procrastinate (scale-out).

Both read the same durable `jobs` table, written in the same transaction as the work that
needs it (a transactional outbox), so switching engines changes who runs jobs, never what runs.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class NotYet(Exception):
    """A handler cannot do its job yet (the AI is still loading): run it again in `seconds`.

    Not a failure: the attempt is not counted and nothing is logged as an error. Later jobs of
    the same key keep waiting behind it, so their order is kept."""

    def __init__(self, reason: str, *, seconds: float = 1.0) -> None:
        super().__init__(reason)
        self.seconds = seconds


class JobEngine(Protocol):
    """Runs jobs from the `jobs` table: one key at a time in id order, keys in parallel."""

    def notify(self) -> None:
        """New work was committed: start on it soon (thread-safe, never blocks)."""
        ...

    def drain(self, limit: int = 10_000) -> int:
        """Run runnable jobs in this thread until none is left; how many ran."""
        ...

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set."""
        ...

    def is_ready(self) -> bool:
        """Whether jobs are being taken (False while the workers start)."""
        ...

"""Execution engines behind one interface: in-process (default) and procrastinate (scale-out).

One queue per mode, each written in the same transaction as the work that needs it
(`app.storage.messages.enqueue` routes): embedded mode's own `jobs` table (SQLite or PostgreSQL),
or procrastinate's queue in scale-out mode (PostgreSQL). The handlers are the same: switching
modes changes who queues and runs jobs, never what runs. Worker processes of both modes are
started and kept by one supervisor (`app.jobs.supervisor`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class NotYet(Exception):
    """A handler cannot do its job yet (the AI is still loading): run it again in `seconds`.

    Not a failure: the attempt is not counted and nothing is logged as an error. Later jobs of
    the same key keep waiting behind it, so their order is kept. `arrived`: whether what it
    waits for has come, asked once the wait is recorded. A wake-up that ran while this job was
    still running found nothing to wake; then the job runs again at once, not in `seconds`."""

    def __init__(
        self, reason: str, *, seconds: float = 1.0, arrived: Callable[[], bool] | None = None
    ) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.arrived = arrived


class JobEngine(Protocol):
    """Runs queued jobs: one key (conversation) at a time in arrival order, keys in parallel."""

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

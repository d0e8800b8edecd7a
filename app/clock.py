"""The current instant: one source for all of smsdesk, so evals and tests can set the time.

Production code asks `now()`. Evals and tests that need a given time (business hours, quiet
hours, an SLA clock) run inside `frozen(at)`, which stops the clock at `at` until they move it
with `advance`, or inside `running_from(at)`, which moves it and lets it run. The override is
process-wide (worker threads see it too), so it is only for code that runs one scenario at a
time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_lock = threading.Lock()
_frozen: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """The current instant, UTC (the frozen one inside `frozen`, moved inside `running_from`)."""
    at = _frozen
    return at if at is not None else datetime.now(UTC) + _offset


class FrozenClock:
    """The handle `frozen` yields: read, set or move the stopped clock."""

    def now(self) -> datetime:
        """The frozen instant."""
        return now()

    def set(self, at: datetime) -> None:
        """Stop the clock at `at` (timezone-aware)."""
        global _frozen
        if at.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware instant")
        with _lock:
            _frozen = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta`; returns the new instant."""
        self.set(now() + delta)
        return now()


@contextmanager
def frozen(at: datetime) -> Iterator[FrozenClock]:
    """Run the block with the clock stopped at `at` (restored afterwards)."""
    global _frozen
    previous = _frozen
    clock = FrozenClock()
    clock.set(at)
    try:
        yield clock
    finally:
        with _lock:
            _frozen = previous


@contextmanager
def running_from(at: datetime) -> Iterator[None]:
    """Run the block with the clock moved to `at` and running at its real pace (restored
    afterwards): for a benchmark or test that must meet daytime whenever it runs, and measures
    rates from the stored instants (a stopped clock would make them all one)."""
    global _offset
    if at.tzinfo is None:
        raise ValueError("the clock needs a timezone-aware instant")
    previous = _offset
    with _lock:
        _offset = at - datetime.now(UTC)
    try:
        yield
    finally:
        with _lock:
            _offset = previous


def next_daytime() -> datetime:
    """Tomorrow at 19:00 UTC: the afternoon in every US time zone from New York to Honolulu
    (no recipient's quiet hours), whenever it is asked."""
    return (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=19, minute=0, second=0, microsecond=0
    )

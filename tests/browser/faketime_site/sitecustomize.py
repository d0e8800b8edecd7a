"""Loaded (through PYTHONPATH) only by servers run under libfaketime for the browser tests.

libfaketime 0.9.10 (Debian 12) with FAKETIME_DONT_FAKE_MONOTONIC=1 breaks an absolute
clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME): it shifts the deadline by the fake offset, so
the call fails with EINVAL, and that is what CPython's time.sleep() uses. Faking the monotonic
clock as well is worse: every timed wait on a lock (threading, queue) then hangs. So the
monotonic clock stays real and time.sleep() waits with select(), which libfaketime leaves
alone. Everything else (datetime.now, SQLite's clock) sees the faked wall clock.
"""

from __future__ import annotations

import math
import select
import time
from typing import SupportsIndex


def _sleep(value: float | SupportsIndex) -> None:
    seconds = float(value)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError("sleep length must be non-negative")
    # select() is retried after a signal with the time left (PEP 475).
    select.select([], [], [], seconds)


time.sleep = _sleep

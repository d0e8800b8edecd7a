"""Field types the API shares: values the rest of smsdesk can compute with without overflowing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Instants a text can be received or sent at. Python's datetime ends at year 9999 and at
year 1, so `9999-12-31T23:59:59-23:59` parses but overflows once moved to UTC (stored, or
shifted to a quiet-hours window); it used to reach the database and come back as 503, which
a provider retries for ever."""


def _within_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"must fall between {EARLIEST:%Y} and {LATEST:%Y} (UTC)")
    return utc


Instant = Annotated[AwareDatetime, AfterValidator(_within_range)]
"""A timezone-aware instant within EARLIEST..LATEST, given back in UTC (else 400)."""

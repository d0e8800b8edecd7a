"""The first-response SLA clock runs in business hours only, in the business's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.errors import InvalidInput
from app.handoff.sla import BusinessClock

NEW_YORK = BusinessClock("mon-fri 09:00-18:00", "America/New_York", "US")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_within_the_day_it_is_plain_addition() -> None:
    # Tuesday 2026-11-24 10:00 New York = 15:00 UTC.
    assert NEW_YORK.add(utc("2026-11-24T15:00"), 15) == utc("2026-11-24T15:15")


def test_friday_evening_rolls_to_monday_morning() -> None:
    # Friday 2026-11-20 17:55 New York (22:55 UTC): 5 min on Friday, 10 on Monday.
    assert NEW_YORK.add(utc("2026-11-20T22:55"), 15) == utc("2026-11-23T14:10")


def test_a_public_holiday_is_skipped() -> None:
    # Wednesday 2026-11-25 17:50 New York; Thursday 26 is Thanksgiving: due Friday 09:05.
    assert NEW_YORK.add(utc("2026-11-25T22:50"), 15) == utc("2026-11-27T14:05")


def test_a_night_escalation_starts_counting_at_opening() -> None:
    assert NEW_YORK.add(utc("2026-11-24T03:00"), 30) == utc("2026-11-24T14:30")


def test_daylight_saving_is_the_zone_s_business() -> None:
    # Monday 2026-03-09, the day after US clocks go forward: 09:00 EDT is 13:00 UTC.
    assert NEW_YORK.add(utc("2026-03-09T05:00"), 0) == utc("2026-03-09T13:00")


def test_elapsed_counts_only_business_time() -> None:
    start, end = utc("2026-11-20T22:00"), utc("2026-11-23T15:00")  # Fri 17:00 -> Mon 10:00
    assert NEW_YORK.elapsed(start, end) == timedelta(hours=2)


def test_several_day_rules_and_a_weekend_shift() -> None:
    clock = BusinessClock("mon-fri 09:00-17:00; sat 10:00-12:00", "UTC")
    # Friday 16:50 + 30 min: 10 on Friday, 20 on Saturday from 10:00.
    assert clock.add(utc("2026-11-20T16:50"), 30) == utc("2026-11-21T10:20")


@pytest.mark.parametrize(
    ("hours", "zone", "country"),
    [
        ("weekdays 9-5", "UTC", None),
        ("mon-fri 18:00-09:00", "UTC", None),
        ("mon-fri 09:00-18:00", "Mars/Olympus", None),
        ("mon-fri 09:00-18:00", "UTC", "XX"),
        ("", "UTC", None),
    ],
)
def test_unusable_settings_are_refused_with_a_reason(
    hours: str, zone: str, country: str | None
) -> None:
    with pytest.raises(InvalidInput):
        BusinessClock(hours, zone, country).validate()

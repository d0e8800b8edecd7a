"""The first-response SLA clock: a target in business minutes, run only during business hours.

A text that escalates at 17:55 on a Friday with a 15-minute target is due at 09:10 on Monday
(or Tuesday after a public holiday), not at 18:10 on Friday.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from app.errors import InvalidInput

if TYPE_CHECKING:
    from app.config import Settings

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RULE = re.compile(
    r"^(?P<days>[a-z]{3}(?:-[a-z]{3})?)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$"
)
_MAX_DAYS_AHEAD = 400  # a clock that never runs (no hours at all) gives up after about a year


def _parse_hours(spec: str) -> dict[int, tuple[time, time]]:
    """`mon-fri 09:00-18:00; sat 10:00-14:00` -> {weekday: (start, end)}."""
    hours: dict[int, tuple[time, time]] = {}
    for part in filter(None, (p.strip().lower() for p in spec.split(";"))):
        match = _RULE.match(part)
        if match is None:
            raise InvalidInput(f"business hours {part!r}: expected e.g. 'mon-fri 09:00-18:00'")
        first, _, last = match["days"].partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise InvalidInput(f"business hours {part!r}: days are mon, tue, ... sun")
        start, end = time.fromisoformat(match["start"]), time.fromisoformat(match["end"])
        if end <= start:
            raise InvalidInput(f"business hours {part!r}: the day must end after it starts")
        lo, hi = _DAYS.index(first), _DAYS.index(last or first)
        for day in range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(0, hi + 1)]:
            hours[day] = (start, end)
    if not hours:
        raise InvalidInput("business hours: at least one day is needed")
    return hours


@dataclass(frozen=True)
class BusinessClock:
    """Business hours in one time zone, minus a country's public holidays."""

    hours_spec: str
    timezone: str
    holiday_country: str | None = None

    @cached_property
    def _hours(self) -> dict[int, tuple[time, time]]:
        return _parse_hours(self.hours_spec)

    @cached_property
    def _zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"unknown time zone {self.timezone!r}") from None

    @cached_property
    def _holidays(self) -> holidays.HolidayBase | None:
        if not self.holiday_country:
            return None
        try:
            return holidays.country_holidays(self.holiday_country)
        except NotImplementedError:
            raise InvalidInput(f"no public holidays known for {self.holiday_country!r}") from None

    def validate(self) -> None:
        """Raise `InvalidInput` now rather than on the first escalation."""
        _ = self._hours, self._zone, self._holidays

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        hours = self._hours.get(day.weekday())
        if hours is None or (self._holidays is not None and day in self._holidays):
            return None
        start, end = (datetime.combine(day, t, tzinfo=self._zone) for t in hours)
        return start, end

    def add(self, start: datetime, minutes: float) -> datetime:
        """The instant `minutes` of business time after `start` (UTC)."""
        local = start.astimezone(self._zone)
        left = timedelta(minutes=minutes)
        for offset in range(_MAX_DAYS_AHEAD):
            window = self._window(local.date() + timedelta(days=offset))
            if window is None:
                continue
            opens, closes = window
            begin = max(opens, local)
            if begin >= closes:
                continue
            if begin + left <= closes:
                return (begin + left).astimezone(UTC)
            left -= closes - begin
        raise InvalidInput("business hours: the SLA clock never runs (no working day ahead)")

    def next_open(self, at: datetime) -> datetime:
        """`at` itself while the business is open, else when it next opens (local time)."""
        local = at.astimezone(self._zone)
        for offset in range(_MAX_DAYS_AHEAD):
            window = self._window(local.date() + timedelta(days=offset))
            if window is None:
                continue
            opens, closes = window
            if local < closes:
                return local if local >= opens else opens
        raise InvalidInput("business hours: the business never opens (no working day ahead)")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants (zero when `end` is not after `start`)."""
        total = timedelta()
        first, last = start.astimezone(self._zone), end.astimezone(self._zone)
        day = first.date()
        while day <= last.date():
            window = self._window(day)
            if window is not None:
                lo, hi = max(window[0], first), min(window[1], last)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total


@dataclass(frozen=True)
class FirstResponseSla:
    """A first-response target in business minutes on a business clock."""

    clock: BusinessClock
    minutes: int
    safety_minutes: int = 5
    """Safety has its own target, on the wall clock: nobody waits for Monday in danger."""

    @classmethod
    def from_settings(cls, settings: Settings) -> FirstResponseSla:
        """The configured SLA; raises `InvalidInput` for unusable hours or time zone."""
        clock = BusinessClock(
            settings.business_hours, settings.business_timezone, settings.business_holidays
        )
        clock.validate()
        return cls(
            clock, settings.sla_first_response_minutes, settings.safety_first_response_minutes
        )

    def due(self, escalated_at: datetime, *, around_the_clock: bool = False) -> datetime:
        """When the first human response to an escalation at `escalated_at` is due."""
        if around_the_clock:
            return (escalated_at + timedelta(minutes=self.safety_minutes)).astimezone(UTC)
        return self.clock.add(escalated_at, self.minutes)

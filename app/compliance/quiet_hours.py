"""The marketing quiet-hours table of SPEC §10.3, loaded from `data/quiet_hours.yaml` (QH-10).

The table is data so counsel can review and switch rows without code changes; this module only
parses and validates it. Any bad row is a `ConfigurationError` naming the row, raised when the
table is first loaded, never a silent default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import holidays
import yaml

from app.errors import ConfigurationError

FEDERAL = "US"
DAY_KEYS = ("weekday", "saturday", "sunday", "holiday")
_REQUIRED = frozenset(
    {
        "jurisdiction",
        "name",
        "weekday",
        "cap_per_24h",
        "effective_from",
        "verified_by_counsel",
        "enforced",
        "source",
    }
)
_KNOWN = _REQUIRED | {"saturday", "sunday", "holiday"}
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_CODE = re.compile(r"^[A-Z]{2}$")
_BANNED = "none"
_DAY_NAMES = ("Mon-Fri",) * 5 + ("Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Window:
    """Allowed local time of day, in seconds after midnight: `[start, end)` (QH-1)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"

    def contains(self, second_of_day: float) -> bool:
        """Start inclusive, end exclusive: 21:00:00 is outside 08:00-21:00 (QH-1)."""
        return self.start <= second_of_day < self.end


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}"


def intersect(a: Window | None, b: Window | None) -> Window | None:
    """The stricter of two day rules; None (banned all day) absorbs everything."""
    if a is None or b is None:
        return None
    start, end = max(a.start, b.start), min(a.end, b.end)
    return Window(start, end) if start < end else None


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """One row of the table: the federal rule or one state's."""

    code: str
    name: str
    label: str
    """How reasons name the row: `Federal`, `TX`."""
    by_weekday: tuple[Window | None, ...]
    """Rule for Monday..Sunday (`date.weekday()` order); None = banned all day."""
    has_holiday_rule: bool
    holiday: Window | None
    cap_per_24h: int | None
    effective_from: date
    verified_by_counsel: bool
    enforced: bool
    source: str

    def window(self, weekday: int, is_holiday: bool) -> Window | None:
        """The rule of one local day; on a holiday the stricter of both rules applies (QH-9)."""
        rule = self.by_weekday[weekday]
        if is_holiday and self.has_holiday_rule:
            return intersect(rule, self.holiday)
        return rule

    def describe(self, weekday: int, is_holiday: bool) -> str:
        """`TX Sunday window 12:00-21:00`, `RI Sunday: no solicitation`: for decision reasons."""
        holiday = is_holiday and self.has_holiday_rule
        rule = self.window(weekday, is_holiday)
        if not holiday and len(set(self.by_weekday)) == 1:
            day = ""  # same rule every day: "Federal window 08:00-21:00"
        else:
            day = " holiday" if holiday else f" {_DAY_NAMES[weekday]}"
        if rule is None:
            return f"{self.label}{day}: no solicitation"
        return f"{self.label}{day} window {rule}"


@dataclass(frozen=True, slots=True)
class QuietHoursTable:
    """The federal row and the state rows, by two-letter code."""

    federal: Jurisdiction
    states: dict[str, Jurisdiction]


@cache
def _holiday_subdivisions() -> frozenset[str]:
    return frozenset(holidays.list_supported_countries()["US"])


def _fail(row: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"quiet_hours.yaml, row {row}: {message}")


def _parse_window(row: str, key: str, value: Any) -> Window | None:
    if value == _BANNED:
        return None
    match = _WINDOW.match(value) if isinstance(value, str) else None
    if match is None:
        raise _fail(row, f"{key} must be 'HH:MM-HH:MM' or 'none', got {value!r}")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if m1 > 59 or m2 > 59 or not 0 <= start < end <= 24 * 3600:
        raise _fail(row, f"{key} window {value!r} is not a time range within one day")
    return Window(start, end)


def _parse_bool(row: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(row, f"{key} must be true or false, got {value!r}")
    return value


def _parse_date(row: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _fail(row, f"effective_from must be a date (YYYY-MM-DD), got {value!r}") from None


def _parse_cap(row: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(row, f"cap_per_24h must be a positive integer or null, got {value!r}")
    return value


def parse_row(raw: Any) -> Jurisdiction:
    """One validated row; `ConfigurationError` on anything missing, unknown or malformed."""
    if not isinstance(raw, dict):
        raise ConfigurationError(f"quiet_hours.yaml: a row must be a mapping, got {raw!r:.80}")
    code = raw.get("jurisdiction")
    row = repr(code)
    if not isinstance(code, str) or not _CODE.match(code):
        raise _fail(row, "jurisdiction must be two capital letters ('US' = federal)")
    if missing := sorted(_REQUIRED - raw.keys()):
        raise _fail(row, f"missing {', '.join(missing)}")
    if unknown := sorted(str(key) for key in raw.keys() - _KNOWN):
        raise _fail(row, f"unknown key(s) {', '.join(unknown)}")
    weekday = _parse_window(row, "weekday", raw["weekday"])
    # An absent Saturday/Sunday rule is the weekday rule (the §10.3 rows that list none).
    saturday = _parse_window(row, "saturday", raw.get("saturday", raw["weekday"]))
    sunday = _parse_window(row, "sunday", raw.get("sunday", raw["weekday"]))
    has_holiday = "holiday" in raw
    if has_holiday and code not in _holiday_subdivisions():
        # QH-9 takes the holiday list from `holidays`; a row it cannot serve must fail here.
        raise _fail(row, "has a holiday rule but `holidays` has no US subdivision for it")
    if not isinstance(raw["name"], str) or not isinstance(raw["source"], str):
        raise _fail(row, "name and source must be text")
    return Jurisdiction(
        code=code,
        name=raw["name"],
        label="Federal" if code == FEDERAL else code,
        by_weekday=(weekday,) * 5 + (saturday, sunday),
        has_holiday_rule=has_holiday,
        holiday=_parse_window(row, "holiday", raw["holiday"]) if has_holiday else None,
        cap_per_24h=_parse_cap(row, raw["cap_per_24h"]),
        effective_from=_parse_date(row, raw["effective_from"]),
        verified_by_counsel=_parse_bool(row, "verified_by_counsel", raw["verified_by_counsel"]),
        enforced=_parse_bool(row, "enforced", raw["enforced"]),
        source=raw["source"],
    )


def parse_table(data: Any) -> QuietHoursTable:
    """The table from the parsed YAML document: exactly one federal row, no duplicate states."""
    rows = data.get("jurisdictions") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ConfigurationError("quiet_hours.yaml: expected a non-empty `jurisdictions` list")
    federal: Jurisdiction | None = None
    states: dict[str, Jurisdiction] = {}
    for raw in rows:
        row = parse_row(raw)
        if row.code in states or (row.code == FEDERAL and federal is not None):
            raise _fail(repr(row.code), "duplicate jurisdiction")
        if row.code == FEDERAL:
            # FCC-6 is federal law, not a secondary-source row: it cannot be switched off.
            if not row.enforced:
                raise _fail(repr(row.code), "the federal row must stay enforced (FCC-6)")
            federal = row
        else:
            states[row.code] = row
    if federal is None:
        raise ConfigurationError("quiet_hours.yaml: no federal row (jurisdiction: US)")
    return QuietHoursTable(federal=federal, states=states)


@cache
def quiet_hours_table() -> QuietHoursTable:
    """The table shipped in `app/compliance/data`, parsed and validated once per process."""
    text = resources.files("app.compliance.data").joinpath("quiet_hours.yaml").read_bytes()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"quiet_hours.yaml is not valid YAML: {exc}") from None
    return parse_table(data)

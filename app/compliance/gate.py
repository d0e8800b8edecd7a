"""The outbound gate: may this message go out now, and if not, when? (SPEC §10, IN-7, QH-1..QH-9).

Order of checks (first hit decides): consent (QH-7, IN-7) -> content (§12) -> reply to a
consumer-initiated message (QH-6) -> urgent transactional (QH-5) -> US scope and location for
marketing (QH-4) -> time windows and caps (QH-1..QH-3, QH-5). A time or cap block comes with the
first instant at which every rule passes (QH-8).

Pure: no I/O besides the package data files, each read once.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

from app.compliance.lexicon import ruleset_version
from app.compliance.model import (
    Category,
    ConsentState,
    ContentVerdict,
    GateDecision,
    GateRequest,
    Policy,
)
from app.compliance.quiet_hours import Jurisdiction, Window, quiet_hours_table
from app.compliance.timezones import TRANSACTIONAL_FALLBACK_ZONES, Location, locate, zone
from app.errors import ConfigurationError, InvalidInput, InvalidTimestamp

HORIZON_DAYS = 14
"""How far ahead QH-8 looks; the longest ban in §10.3 (ME weekend + holidays) is far shorter."""

_DAY = timedelta(hours=24)
_MINUTE = timedelta(minutes=1)

# QH-5: non-urgent transactional texts keep the federal hours, with no state overlays. The same
# window is used for transactional texts to non-US numbers (the SPEC is silent; this is the
# conservative reading of "recipient local time").
_TRANSACTIONAL = Jurisdiction(
    code="US",
    name="Transactional default (QH-5)",
    label="Transactional",
    by_weekday=(Window(8 * 3600, 21 * 3600),) * 7,
    has_holiday_rule=False,
    holiday=None,
    cap_per_24h=None,
    effective_from=date.min,
    verified_by_counsel=False,
    enforced=True,
    source="SPEC QH-5",
)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything the time rules need for one request, resolved once."""

    zones: tuple[tuple[str, ZoneInfo], ...]
    rows: tuple[Jurisdiction, ...]
    cap: int | None
    cap_label: str
    sends: tuple[datetime, ...]
    """Prior marketing sends, UTC, ascending (QH-3 and the brand's own cap)."""
    governor_days: frozenset[date]
    brand_cap: int | None = None
    """The brand's own cap on marketing texts per number per `brand_period` (settings)."""
    brand_period: timedelta = _DAY


@cache
def _state_holidays(state: str, year: int) -> frozenset[date]:
    """Legal holidays of a state in one year (QH-9), observed days included (conservative)."""
    return frozenset(holidays.country_holidays("US", subdiv=state, years=year))


@cache
def _governor_days(days: frozenset[str]) -> frozenset[date]:
    try:
        return frozenset(date.fromisoformat(day) for day in days)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"policy.governor_holidays: not ISO dates: {sorted(days)}"
        ) from None


def _aware(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidTimestamp(f"{field} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidTimestamp(f"{field} has no time zone: {value.isoformat()} (use an aware time)")
    return value.astimezone(UTC)


def _is_holiday(row: Jurisdiction, day: date, governor: frozenset[date]) -> bool:
    # Governor-declared days carry no state in the policy: they apply to every row with a
    # holiday rule (QH-9 names Louisiana, but the policy is per deployment).
    return day in governor or day in _state_holidays(row.code, day.year)


def _failures(plan: _Plan, at: datetime, *, explain: bool) -> list[str]:
    """Rules that `at` breaks; without `explain`, stops at the first one (the hot path)."""
    found: list[str] = []
    for name, tz in plan.zones:
        local = at.astimezone(tz)
        day, weekday = local.date(), local.weekday()
        second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        for row in plan.rows:
            if day < row.effective_from:
                continue
            holiday = row.has_holiday_rule and _is_holiday(row, day, plan.governor_days)
            window = row.window(weekday, holiday)
            if window is None or not window.contains(second):
                if not explain:
                    return ["blocked"]
                found.append(f"{row.describe(weekday, holiday)} ({name} {local:%a %H:%M})")
    if plan.cap is not None:
        # QH-3, rolling 24 h: a send exactly 24 h before `at` no longer counts (case QH-009).
        recent = bisect_right(plan.sends, at) - bisect_right(plan.sends, at - _DAY)
        if recent >= plan.cap:
            found.append(f"{plan.cap_label} cap: {recent} marketing texts in 24 h")
    if plan.brand_cap is not None:
        period = plan.brand_period
        recent = bisect_right(plan.sends, at) - bisect_right(plan.sends, at - period)
        if recent >= plan.brand_cap:
            hours = int(period.total_seconds() // 3600)
            found.append(f"brand cap: {recent} marketing texts in {hours} h (frequency cap)")
    return found


def _ceil_minute(at: datetime) -> datetime:
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + _MINUTE


def _window_starts(plan: _Plan, tz: ZoneInfo, day: date) -> list[datetime]:
    starts: set[int] = set()
    for row in plan.rows:
        if day < row.effective_from:
            continue
        holiday = row.has_holiday_rule and _is_holiday(row, day, plan.governor_days)
        window = row.window(day.weekday(), holiday)
        if window is not None:
            starts.add(window.start)
    # Window starts are 08:00 or later, never inside a DST gap (US transitions are at 02:00).
    return [
        datetime.combine(day, time(s // 3600, s // 60 % 60), tzinfo=tz).astimezone(UTC)
        for s in starts
    ]


def _next_allowed(plan: _Plan, after: datetime) -> datetime | None:
    """QH-8: the first instant after `after` at which every rule passes.

    Allowed-ness can only begin at a window start in some zone or when a capped send rolls
    off, so only those instants are tested, in ascending order. Window starts are generated a
    local day at a time; a candidate is tested once no later day can produce an earlier one.
    """
    heap = [_ceil_minute(s + _DAY) for s in plan.sends[bisect_right(plan.sends, after - _DAY) :]]
    if plan.brand_cap is not None:
        period = plan.brand_period
        heap += [
            _ceil_minute(s + period) for s in plan.sends[bisect_right(plan.sends, after - period) :]
        ]
    heapq.heapify(heap)
    first_days = [(tz, after.astimezone(tz).date()) for _, tz in plan.zones]
    tested: datetime | None = None
    for offset in range(HORIZON_DAYS + 1):
        for tz, first in first_days:
            for start in _window_starts(plan, tz, first + timedelta(days=offset)):
                if start > after:
                    heapq.heappush(heap, start)
        next_midnight = min(
            datetime.combine(first + timedelta(days=offset + 1), time(), tzinfo=tz).astimezone(UTC)
            for tz, first in first_days
        )
        while heap and (heap[0] < next_midnight or offset == HORIZON_DAYS):
            candidate = heapq.heappop(heap)
            if candidate != tested and not _failures(plan, candidate, explain=False):
                return candidate
            tested = candidate
    return None


def _iso_utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class _Context:
    category: Category
    location: Location
    content: ContentVerdict | None

    def decide(
        self,
        allowed: bool,
        rule: str,
        reasons: list[str],
        *,
        zones: Sequence[str] | None = None,
        states: Sequence[str] = (),
        next_at: datetime | None = None,
        local_zone: ZoneInfo | None = None,
    ) -> GateDecision:
        local = None
        if next_at is not None and local_zone is not None:
            local = next_at.astimezone(local_zone).isoformat(timespec="seconds")
        return GateDecision(
            allowed=allowed,
            rule=rule,
            next_allowed_utc=_iso_utc(next_at) if next_at is not None else None,
            next_allowed_local=local,
            category=self.category,
            time_zones=list(self.location.zones if zones is None else zones),
            states=list(states),
            reasons=reasons,
            segments=self.content.segments if self.content is not None else None,
            encoding=self.content.encoding if self.content is not None else None,
            ruleset_version=ruleset_version(),
        )


def _marketing_states(location: Location, known_state: str | None) -> list[str]:
    """QH-2: the area code's state and the customer's known residence state, if different."""
    states = [location.state] if location.state is not None else []
    if known_state is not None:
        code = known_state.strip().upper()
        if len(code) != 2 or not code.isalpha():
            raise InvalidInput(f"known_state must be a two-letter state code: {known_state!r:.40}")
        if code not in states:
            states.append(code)
    return states


def _marketing_plan(
    location: Location, states: list[str], sends: Sequence[datetime], policy: Policy
) -> _Plan:
    table = quiet_hours_table()
    rows = [table.federal]
    rows += [table.states[s] for s in states if s in table.states and table.states[s].enforced]
    capped = [row for row in rows if row.cap_per_24h is not None]
    return _Plan(
        zones=tuple((name, zone(name)) for name in location.zones),
        rows=tuple(rows),
        cap=min((row.cap_per_24h for row in capped if row.cap_per_24h), default=None),
        cap_label="/".join(row.code for row in capped),
        sends=tuple(sorted(_aware(s, "prior_marketing_sends[]") for s in sends)),
        governor_days=_governor_days(policy.governor_holidays),
        brand_cap=policy.marketing_cap,
        brand_period=timedelta(hours=policy.marketing_cap_hours),
    )


def _transactional_plan(location: Location) -> _Plan:
    names = location.zones or TRANSACTIONAL_FALLBACK_ZONES
    return _Plan(
        zones=tuple((name, zone(name)) for name in names),
        rows=(_TRANSACTIONAL,),
        cap=None,
        cap_label="",
        sends=(),
        governor_days=frozenset(),
    )


def _timed(ctx: _Context, plan: _Plan, send_at: datetime, states: list[str]) -> GateDecision:
    """Decide by windows and caps at `send_at` (QH-1..QH-3, QH-5, QH-8)."""
    zones = [name for name, _ in plan.zones]
    failures = _failures(plan, send_at, explain=True)
    if not failures:
        labels = ", ".join(row.label for row in plan.rows)
        return ctx.decide(
            True,
            "within_window",
            [f"inside {labels} window(s) in {', '.join(zones)}"],
            zones=zones,
            states=states,
        )
    next_at = _next_allowed(plan, send_at)
    if next_at is None:
        failures.append(f"no allowed time within {HORIZON_DAYS} days")
    # QH-8: next_allowed_local is given in the first zone returned for the number.
    return ctx.decide(
        False,
        "outside_window",
        failures,
        zones=zones,
        states=states,
        next_at=next_at,
        local_zone=plan.zones[0][1],
    )


def check_outbound(
    request: GateRequest,
    *,
    consent: ConsentState,
    prior_marketing_sends: Sequence[datetime],
    replies_since_last_inbound: int,
    policy: Policy,
    content: ContentVerdict | None = None,
) -> GateDecision:
    """May `request` be sent at `request.send_at`? If not for time reasons, from when? (§10)."""
    send_at = _aware(request.send_at, "send_at")
    last_inbound = (
        _aware(request.last_inbound_at, "last_inbound_at")
        if request.last_inbound_at is not None
        else None
    )
    location = locate(request.to, request.verified_time_zone)
    category = request.category
    ctx = _Context(category, location, content)
    # QH-6: "within 24 h" is strict, like the cap: exactly 24 h later is outside the window.
    in_reply_window = last_inbound is not None and (
        timedelta(0) <= send_at - last_inbound < timedelta(hours=policy.reply_window_hours)
    )

    if consent.blocks(category):  # QH-7
        return ctx.decide(False, "opted_out", [f"recipient opted out ({consent.scope or 'all'})"])
    if category == "reply" and consent.blocks("transactional"):
        # IN-7: an opted-out customer's new message may get one direct reply, in the reply
        # window, and none at all in strict mode.
        if policy.strict_mode:
            return ctx.decide(False, "opted_out", ["opted out; strict mode allows no reply"])
        if replies_since_last_inbound > 0:
            return ctx.decide(False, "opted_out", ["opted out; the one allowed reply was sent"])
        if not in_reply_window:
            return ctx.decide(False, "opted_out", ["opted out; no inbound within the reply window"])
    if content is not None and not content.ok:
        return ctx.decide(False, "content_blocked", list(content.reasons))

    if category == "reply" and in_reply_window:
        hours = policy.reply_window_hours
        reason = f"reply within {hours} h of the customer's message (QH-6)"
        if consent.blocks("transactional"):
            reason += "; single reply to an opted-out customer (IN-7)"
        return ctx.decide(True, "reply_to_consumer_initiated", [reason])
    if category != "marketing":
        # QH-6: a reply outside the reply window is treated as transactional.
        if request.urgent:
            return ctx.decide(True, "urgent_transactional", ["urgent transactional (QH-5)"])
        plan = _transactional_plan(location)
        return _timed(ctx, plan, send_at, [])

    if not location.in_us_scope:
        reason = f"{location.region or 'unknown'} number: no marketing outside the US (QH-4)"
        return ctx.decide(False, "non_us_marketing_out_of_scope", [reason])
    states = _marketing_states(location, request.known_state)
    if not location.zones:
        reason = f"location unknown ({len(location.reported_zones)} zones) and no verified zone"
        return ctx.decide(False, "unknown_location", [reason], zones=[], states=states)
    plan = _marketing_plan(location, states, prior_marketing_sends, policy)
    return _timed(ctx, plan, send_at, states)

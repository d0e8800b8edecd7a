"""The outbound gate (SPEC §10, IN-7): public cases, then one group of unit tests per rule."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.compliance import gate as gate_module
from app.compliance import timezones
from app.compliance.gate import check_outbound
from app.compliance.model import (
    OPTED_OUT,
    SUBSCRIBED,
    Category,
    ConsentState,
    ContentVerdict,
    GateDecision,
    GateRequest,
    Policy,
)
from app.compliance.quiet_hours import QuietHoursTable, parse_table, quiet_hours_table
from app.compliance.timezones import TRANSACTIONAL_FALLBACK_ZONES, locate, state_from_description
from app.errors import ConfigurationError, InvalidInput, InvalidPhoneNumber, InvalidTimestamp

CASES = Path(__file__).parents[2] / "evals" / "compliance" / "cases_public.jsonl"
SHARED_CASES = Path("/work/shared/compliance/cases_public.jsonl")

NY = "+12125550101"
FL = "+13055550147"
TX = "+12145550110"
RI = "+14015550108"
UT = "+18015550100"
LA = "+15045550100"
AL = "+12055550105"
MS = "+16015550100"
PA = "+12155550100"
KY = "+15025550100"
OK = "+14055550100"
MD = "+14105550100"
AZ = "+16025550100"
HI = "+18085550199"
ID = "+12085550100"
AK = "+19075550101"
TOLL_FREE = "+18005550100"
CANADA = "+14165550123"
UK = "+442079460958"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def decide(
    to: str,
    send_at: str | datetime,
    category: Category = "marketing",
    *,
    consent: ConsentState = SUBSCRIBED,
    sends: Sequence[str] = (),
    replies: int = 0,
    policy: Policy | None = None,
    content: ContentVerdict | None = None,
    **request: Any,
) -> GateDecision:
    at = utc(send_at) if isinstance(send_at, str) else send_at
    return check_outbound(
        GateRequest(to=to, send_at=at, category=category, **request),
        consent=consent,
        prior_marketing_sends=[utc(s) for s in sends],
        replies_since_last_inbound=replies,
        policy=policy or Policy(),
        content=content,
    )


def blocked_until(decision: GateDecision, next_utc: str, next_local: str | None = None) -> None:
    """A time/cap block whose next allowed instant is `next_utc` (QH-8)."""
    assert (decision.allowed, decision.rule) == (False, "outside_window"), decision
    assert decision.next_allowed_utc == next_utc, decision
    if next_local is not None:
        assert decision.next_allowed_local == next_local, decision


def allowed(decision: GateDecision, rule: str = "within_window") -> None:
    assert (decision.allowed, decision.rule) == (True, rule), decision
    assert decision.next_allowed_utc is None and decision.next_allowed_local is None


# --- public cases (SPEC §13) -------------------------------------------------------------------


def _outbound_cases() -> list[dict[str, Any]]:
    if not CASES.exists():  # the lead engineer copies it; fall back to the shared original
        CASES.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED_CASES, CASES)
    lines = CASES.read_text("utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    return [case for case in cases if case["kind"] == "outbound"]


OUTBOUND = _outbound_cases()


def test_public_case_file_has_the_24_outbound_cases() -> None:
    # The specification's 24, plus the cases of the rule-by-rule audit (QH-101 on).
    assert len([case for case in OUTBOUND if int(case["id"].split("-")[1]) < 100]) == 24
    assert len(OUTBOUND) >= 30


@pytest.mark.parametrize("case", OUTBOUND, ids=[case["id"] for case in OUTBOUND])
def test_public_outbound_case(case: dict[str, Any]) -> None:
    state = case.get("recipient_state", "subscribed")
    decision = decide(
        case["to"],
        case["send_at"],
        case["category"],
        consent=OPTED_OUT if state == "opted_out" else SUBSCRIBED,
        sends=case.get("prior_marketing_sends", []),
        urgent=case.get("urgent", False),
        known_state=case.get("known_state"),
        last_inbound_at=utc(case["last_inbound_at"]) if case.get("last_inbound_at") else None,
    ).model_dump()
    got = {key: decision[key] for key in case["expect"]}
    assert got == case["expect"], case["why"]


# --- windows: start inclusive, end exclusive (QH-1) ---------------------------------------------


def test_window_edges_to_the_second() -> None:
    allowed(decide(NY, "2026-06-10T12:00:00Z"))  # 08:00:00 EDT
    allowed(decide(NY, "2026-06-11T00:59:59Z"))  # 20:59:59 EDT
    blocked_until(decide(NY, "2026-06-10T11:59:59Z"), "2026-06-10T12:00:00Z")
    blocked_until(decide(FL, "2026-07-15T00:00:00Z"), "2026-07-15T12:00:00Z")  # FL 20:00


def test_every_decision_carries_the_ruleset_version() -> None:
    decision = decide(NY, "2026-06-10T18:00:00Z")
    assert decision.ruleset_version.startswith("spec-2026-11-23+")
    assert decision.time_zones == ["America/New_York"] and decision.states == ["NY"]


# --- DST (TZ-1) ---------------------------------------------------------------------------------


def test_spring_forward_next_slot_uses_the_new_offset() -> None:
    # 01:30 EST on 2026-03-08; 08:00 that day is already EDT (12:00Z, not 13:00Z).
    decision = decide(NY, "2026-03-08T06:30:00Z")
    blocked_until(decision, "2026-03-08T12:00:00Z", "2026-03-08T08:00:00-04:00")


def test_repeated_hour_on_fall_back_is_blocked_both_times() -> None:
    for first_or_second in ("2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"):  # 01:30 EDT / EST
        decision = decide(NY, first_or_second)
        blocked_until(decision, "2026-11-01T13:00:00Z", "2026-11-01T08:00:00-05:00")


def test_evening_after_fall_back_uses_standard_time() -> None:
    allowed(decide(NY, "2026-11-02T01:59:00Z"))  # 20:59 EST on Nov 1
    blocked_until(decide(NY, "2026-11-02T02:00:00Z"), "2026-11-02T13:00:00Z")


def test_arizona_has_no_dst() -> None:
    # July: MST = UTC-7 (Denver would be MDT, UTC-6).
    blocked_until(
        decide(AZ, "2026-07-15T14:59:00Z"), "2026-07-15T15:00:00Z", "2026-07-15T08:00:00-07:00"
    )
    allowed(decide(AZ, "2026-01-15T15:00:00Z"))  # January: 08:00 MST too


def test_hawaii_has_no_dst() -> None:
    for day in ("2026-01-15", "2026-07-15"):
        allowed(decide(HI, f"{day}T18:00:00Z"))  # 08:00 HST all year
        blocked_until(decide(HI, f"{day}T17:59:00Z"), f"{day}T18:00:00Z", f"{day}T08:00:00-10:00")


# --- multi-zone and unknown location (TZ-2, QH-4, QH-5) ---------------------------------------


def test_idaho_needs_the_window_in_boise_and_los_angeles() -> None:
    # 08:30 MDT in Boise but 07:30 PDT in Los Angeles.
    decision = decide(ID, "2026-06-10T14:30:00Z")
    blocked_until(decision, "2026-06-10T15:00:00Z", "2026-06-10T09:00:00-06:00")
    assert decision.time_zones == ["America/Boise", "America/Los_Angeles"]
    # 21:00 MDT in Boise closes the window although Los Angeles is at 20:00.
    blocked_until(decide(ID, "2026-06-11T03:00:00Z"), "2026-06-11T15:00:00Z")


def test_alaska_evening_is_closed_by_anchorage_first() -> None:
    # 21:00 AKST in Anchorage, 20:00 HST in Adak -> next 08:00 in Adak (first zone).
    decision = decide(AK, "2026-01-16T06:00:00Z")
    blocked_until(decision, "2026-01-16T18:00:00Z", "2026-01-16T08:00:00-10:00")


def test_toll_free_marketing_is_unknown_location() -> None:
    decision = decide(TOLL_FREE, "2026-06-10T18:00:00Z")
    assert (decision.allowed, decision.rule, decision.next_allowed_utc) == (
        False,
        "unknown_location",
        None,
    )


def test_verified_time_zone_unlocks_toll_free_marketing() -> None:
    decision = decide(TOLL_FREE, "2026-06-10T18:00:00Z", verified_time_zone="America/Chicago")
    allowed(decision)
    assert decision.time_zones == ["America/Chicago"]
    blocked_until(
        decide(TOLL_FREE, "2026-06-10T12:30:00Z", verified_time_zone="America/Chicago"),
        "2026-06-10T13:00:00Z",
        "2026-06-10T08:00:00-05:00",
    )


def test_verified_time_zone_overrides_the_exchange() -> None:
    # A New York number whose owner lives in Los Angeles: 08:30 EDT is 05:30 PDT.
    decision = decide(NY, "2026-06-10T12:30:00Z", verified_time_zone="America/Los_Angeles")
    blocked_until(decision, "2026-06-10T15:00:00Z", "2026-06-10T08:00:00-07:00")


def test_toll_free_transactional_uses_the_seven_zone_intersection() -> None:
    # 08:30 EDT but 02:30 HST: held until 08:00 in Honolulu.
    decision = decide(TOLL_FREE, "2026-06-10T12:30:00Z", "transactional")
    blocked_until(decision, "2026-06-10T18:00:00Z", "2026-06-10T14:00:00-04:00")
    assert decision.time_zones == list(TRANSACTIONAL_FALLBACK_ZONES)
    # 14:30 HST is 20:30 EDT: inside everywhere.
    allowed(decide(TOLL_FREE, "2026-06-11T00:30:00Z", "transactional"))


# --- US scope (QH-4) ----------------------------------------------------------------------------


def test_non_us_marketing_is_out_of_scope() -> None:
    for number in (CANADA, UK):
        decision = decide(number, "2026-06-10T16:00:00Z")
        assert (decision.allowed, decision.rule) == (False, "non_us_marketing_out_of_scope")
        assert decision.next_allowed_utc is None and decision.next_allowed_local is None


def test_non_us_transactional_keeps_08_to_21_in_the_numbers_zone() -> None:
    decision = decide(CANADA, "2026-06-11T02:30:00Z", "transactional")  # 22:30 EDT Toronto
    blocked_until(decision, "2026-06-11T12:00:00Z", "2026-06-11T08:00:00-04:00")
    allowed(decide(UK, "2026-06-10T08:00:00Z", "transactional"))  # 09:00 BST


def test_us_territories_are_in_scope() -> None:
    allowed(decide("+13405550100", "2026-06-10T16:00:00Z"))  # USVI, 12:00 AST
    assert decide("+13405550100", "2026-06-10T16:00:00Z").states == ["VI"]


# --- state rows (§10.3, QH-2) -------------------------------------------------------------------


def test_texas_weekday_starts_at_nine_and_sunday_at_noon() -> None:
    blocked_until(decide(TX, "2026-03-06T14:30:00Z"), "2026-03-06T15:00:00Z")  # Fri 08:30 CST
    allowed(decide(TX, "2026-03-07T15:00:00Z"))  # Sat 09:00 CST
    allowed(decide(TX, "2026-03-08T17:00:00Z"))  # Sun 12:00 CDT
    decision = decide(TX, "2026-03-08T16:59:00Z")
    assert decision.reasons[0].startswith("TX Sunday window 12:00-21:00")


def test_rhode_island_saturday_and_sunday() -> None:
    # Saturday 09:30 EDT: Saturday opens at 10:00.
    blocked_until(decide(RI, "2026-05-02T13:30:00Z"), "2026-05-02T14:00:00Z")
    allowed(decide(RI, "2026-05-02T20:59:00Z"))  # Sat 16:59
    # Sunday: no solicitation -> Monday 09:00.
    blocked_until(
        decide(RI, "2026-05-03T15:00:00Z"), "2026-05-04T13:00:00Z", "2026-05-04T09:00:00-04:00"
    )
    allowed(decide(RI, "2026-05-04T21:59:00Z"))  # Mon 17:59
    blocked_until(decide(RI, "2026-05-04T22:00:00Z"), "2026-05-05T13:00:00Z")  # Mon 18:00


@pytest.mark.parametrize(
    ("number", "monday_open"),
    [
        (UT, "2026-05-04T14:00:00Z"),  # 08:00 MDT
        (LA, "2026-05-04T13:00:00Z"),  # 08:00 CDT
        (AL, "2026-05-04T13:00:00Z"),  # 08:00 CDT
        (MS, "2026-05-04T13:00:00Z"),  # 08:00 CDT
    ],
)
def test_no_sunday_states(number: str, monday_open: str) -> None:
    decision = decide(number, "2026-05-03T18:00:00Z")  # Sunday midday
    blocked_until(decision, monday_open)
    assert "Sunday: no solicitation" in decision.reasons[0]


def test_utah_saturday_evening_until_nine() -> None:
    allowed(decide(UT, "2026-05-03T02:30:00Z"))  # Sat 20:30 MDT
    blocked_until(decide(UT, "2026-05-03T03:00:00Z"), "2026-05-04T14:00:00Z")  # Sat 21:00 -> Mon


def test_mississippi_holiday_window_versus_alabama_holiday_ban() -> None:
    christmas_evening = "2026-12-26T01:30:00Z"  # Fri 2026-12-25 19:30 CST
    allowed(decide(MS, christmas_evening))
    blocked_until(decide(MS, "2026-12-26T02:00:00Z"), "2026-12-26T14:00:00Z")  # 20:00 CST
    decision = decide(AL, christmas_evening)
    blocked_until(decision, "2026-12-26T14:00:00Z", "2026-12-26T08:00:00-06:00")
    assert decision.reasons[0].startswith("AL holiday: no solicitation")


def test_louisiana_mardi_gras_is_a_state_holiday() -> None:
    mardi_gras = "2026-02-17T16:00:00Z"  # Tue 10:00 CST
    blocked_until(decide(LA, mardi_gras), "2026-02-18T14:00:00Z", "2026-02-18T08:00:00-06:00")
    allowed(decide(MS, mardi_gras))  # not a Mississippi holiday


def test_pennsylvania_thanksgiving_and_the_day_after() -> None:
    # Both are Pennsylvania holidays in `holidays`; Saturday is an ordinary day again.
    blocked_until(decide(PA, "2026-11-26T15:00:00Z"), "2026-11-28T13:00:00Z")
    allowed(decide(PA, "2026-11-28T13:00:00Z"))
    allowed(decide(NY, "2026-11-26T15:00:00Z"))  # New York has no holiday rule


def test_governor_holiday_from_the_policy() -> None:
    tuesday = "2026-03-10T16:00:00Z"  # 11:00 CDT, an ordinary day
    allowed(decide(LA, tuesday))
    policy = Policy(governor_holidays=frozenset({"2026-03-10"}))
    blocked_until(decide(LA, tuesday, policy=policy), "2026-03-11T13:00:00Z")
    allowed(decide(NY, tuesday, policy=policy))  # no holiday rule in New York


def test_bad_governor_holiday_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="governor_holidays"):
        decide(LA, "2026-03-10T16:00:00Z", policy=Policy(governor_holidays=frozenset({"3/10"})))


def test_kentucky_starts_at_ten() -> None:
    blocked_until(decide(KY, "2026-06-10T13:30:00Z"), "2026-06-10T14:00:00Z")


def test_known_state_adds_a_stricter_state() -> None:
    allowed(decide(NY, "2026-06-10T12:30:00Z"))  # 08:30 EDT, New York: federal only
    decision = decide(NY, "2026-06-10T12:30:00Z", known_state="ct")
    blocked_until(decision, "2026-06-10T13:00:00Z", "2026-06-10T09:00:00-04:00")
    assert decision.states == ["NY", "CT"]


def test_known_state_brings_its_cap() -> None:
    sends = ["2026-06-10T13:00:00Z", "2026-06-10T14:00:00Z", "2026-06-10T15:00:00Z"]
    allowed(decide(NY, "2026-06-10T16:00:00Z", sends=sends))
    blocked_until(
        decide(NY, "2026-06-10T16:00:00Z", sends=sends, known_state="MD"), "2026-06-11T13:00:00Z"
    )


def test_bad_known_state_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        decide(NY, "2026-06-10T16:00:00Z", known_state="Florida")


# --- caps (QH-3) --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "state"), [(FL, "FL"), (OK, "OK"), (MD, "MD")], ids=["FL", "OK", "MD"]
)
def test_three_per_rolling_24_hours(number: str, state: str) -> None:
    sends = ["2026-07-14T15:00:00Z", "2026-07-14T16:00:00Z", "2026-07-14T17:00:00Z"]
    allowed(decide(number, "2026-07-14T18:00:00Z", sends=sends[:2]))
    decision = decide(number, "2026-07-14T18:00:00Z", sends=sends)
    blocked_until(decision, "2026-07-15T15:00:00Z")  # the oldest rolls off
    assert decision.reasons == [f"{state} cap: 3 marketing texts in 24 h"]


def test_send_exactly_24_hours_earlier_no_longer_counts() -> None:
    sends = ["2026-07-14T15:00:00Z", "2026-07-14T16:00:00Z", "2026-07-14T17:00:00Z"]
    allowed(decide(FL, "2026-07-15T15:00:00Z", sends=sends))
    blocked_until(decide(FL, "2026-07-15T14:59:00Z", sends=sends), "2026-07-15T15:00:00Z")


def test_cap_roll_off_outside_the_window_waits_for_the_window() -> None:
    # Three sends the evening before; the oldest rolls off at 19:00 EDT (inside the FL window)
    # but the next morning all three still count.
    sends = ["2026-07-14T23:00:00Z", "2026-07-14T23:30:00Z", "2026-07-14T23:45:00Z"]
    blocked_until(decide(FL, "2026-07-15T12:00:00Z", sends=sends), "2026-07-15T23:00:00Z")
    # Sends made after 20:00 EDT (e.g. before the FL row applied) roll off after the window
    # has closed: the next slot is the next morning's 08:00, not the roll-off.
    late = ["2026-07-15T00:30:00Z", "2026-07-15T00:40:00Z", "2026-07-15T00:50:00Z"]
    blocked_until(decide(FL, "2026-07-15T23:30:00Z", sends=late), "2026-07-16T12:00:00Z")


def test_cap_roll_off_is_rounded_up_to_the_minute() -> None:
    sends = ["2026-07-14T15:00:30Z", "2026-07-14T16:00:00Z", "2026-07-14T17:00:00Z"]
    blocked_until(decide(FL, "2026-07-15T14:00:00Z", sends=sends), "2026-07-15T15:01:00Z")


def test_states_without_a_cap_ignore_prior_sends() -> None:
    sends = [f"2026-06-10T{hour:02d}:00:00Z" for hour in range(12, 18)]
    allowed(decide(NY, "2026-06-10T18:00:00Z", sends=sends))


# --- categories (QH-5, QH-6) --------------------------------------------------------------------


def test_transactional_has_no_state_overlays() -> None:
    allowed(decide(FL, "2026-07-15T00:15:00Z", "transactional"))  # 20:15 EDT: FL is marketing only
    allowed(decide(RI, "2026-05-03T15:00:00Z", "transactional"))  # Sunday in RI


def test_reply_window_boundary() -> None:
    inbound = utc("2026-06-10T03:00:00Z")
    night = "2026-06-11T02:59:00Z"  # 22:59 EDT, 23 h 59 min later
    allowed(decide(NY, night, "reply", last_inbound_at=inbound), "reply_to_consumer_initiated")
    # Exactly 24 h later the reply counts as transactional (held to 08:00).
    decision = decide(NY, "2026-06-11T03:00:00Z", "reply", last_inbound_at=inbound)
    blocked_until(decision, "2026-06-11T12:00:00Z")
    assert decision.category == "reply"


def test_reply_without_inbound_is_transactional() -> None:
    blocked_until(decide(NY, "2026-06-11T03:40:00Z", "reply"), "2026-06-11T12:00:00Z")
    allowed(decide(NY, "2026-06-11T03:40:00Z", "reply", urgent=True), "urgent_transactional")


def test_policy_reply_window_hours() -> None:
    inbound = utc("2026-06-10T20:00:00Z")
    policy = Policy(reply_window_hours=2)
    blocked_until(
        decide(NY, "2026-06-11T03:40:00Z", "reply", last_inbound_at=inbound, policy=policy),
        "2026-06-11T12:00:00Z",
    )


def test_urgent_marketing_is_not_a_thing() -> None:
    blocked_until(decide(NY, "2026-06-11T06:00:00Z", urgent=True), "2026-06-11T12:00:00Z")


# --- consent (QH-7, IN-7) -----------------------------------------------------------------------


def _opted_out(decision: GateDecision) -> None:
    assert (decision.allowed, decision.rule) == (False, "opted_out"), decision
    assert decision.next_allowed_utc is None and decision.next_allowed_local is None


def test_opted_out_blocks_marketing_and_transactional_at_any_hour() -> None:
    _opted_out(decide(NY, "2026-06-10T18:00:00Z", consent=OPTED_OUT))
    _opted_out(decide(NY, "2026-06-10T18:00:00Z", "transactional", consent=OPTED_OUT))
    _opted_out(decide(NY, "2026-06-10T18:00:00Z", "transactional", urgent=True, consent=OPTED_OUT))


def test_opted_out_customer_gets_one_reply() -> None:
    inbound = utc("2026-06-10T17:55:00Z")
    kwargs: dict[str, Any] = {"consent": OPTED_OUT, "last_inbound_at": inbound}
    decision = decide(NY, "2026-06-10T18:00:00Z", "reply", replies=0, **kwargs)
    allowed(decision, "reply_to_consumer_initiated")
    assert "IN-7" in decision.reasons[0]
    _opted_out(decide(NY, "2026-06-10T18:00:00Z", "reply", replies=1, **kwargs))
    _opted_out(decide(NY, "2026-06-11T18:00:00Z", "reply", replies=0, **kwargs))  # 24 h later
    strict = Policy(strict_mode=True)
    _opted_out(decide(NY, "2026-06-10T18:00:00Z", "reply", policy=strict, **kwargs))


def test_opted_out_reply_without_inbound_is_blocked() -> None:
    _opted_out(decide(NY, "2026-06-10T18:00:00Z", "reply", consent=OPTED_OUT))


def test_marketing_only_opt_out_keeps_transactional_and_replies() -> None:
    marketing_only = ConsentState("opted_out", "marketing")
    _opted_out(decide(NY, "2026-06-10T18:00:00Z", consent=marketing_only))
    allowed(decide(NY, "2026-06-10T18:00:00Z", "transactional", consent=marketing_only))
    inbound = utc("2026-06-10T17:55:00Z")
    allowed(
        decide(
            NY,
            "2026-06-10T18:00:00Z",
            "reply",
            consent=marketing_only,
            replies=5,
            last_inbound_at=inbound,
        ),
        "reply_to_consumer_initiated",
    )


# --- content (§12) ------------------------------------------------------------------------------


def test_content_blocked_with_the_verdicts_reasons() -> None:
    verdict = ContentVerdict(False, ("SHAFT: alcohol",), 2, "UCS-2")
    decision = decide(NY, "2026-06-10T18:00:00Z", "transactional", content=verdict)
    assert (decision.allowed, decision.rule, decision.reasons) == (
        False,
        "content_blocked",
        ["SHAFT: alcohol"],
    )
    assert (decision.segments, decision.encoding, decision.next_allowed_utc) == (2, "UCS-2", None)


def test_content_ok_copies_segments_and_encoding() -> None:
    decision = decide(NY, "2026-06-10T18:00:00Z", content=ContentVerdict(True, (), 1, "GSM-7"))
    allowed(decision)
    assert (decision.segments, decision.encoding) == (1, "GSM-7")
    assert decide(NY, "2026-06-10T18:00:00Z").segments is None


# --- input errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", ["2125550101", "+1 212 555", "+1abc", "+19995550100", "", "+" + "1" * 40]
)
def test_invalid_numbers_raise(number: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        decide(number, "2026-06-10T18:00:00Z")


def test_naive_timestamps_raise() -> None:
    naive = datetime(2026, 6, 10, 18, 0)
    with pytest.raises(InvalidTimestamp, match="send_at"):
        decide(NY, naive)
    with pytest.raises(InvalidTimestamp, match="last_inbound_at"):
        decide(NY, "2026-06-10T18:00:00Z", "reply", last_inbound_at=naive)
    with pytest.raises(InvalidTimestamp, match="prior_marketing_sends"):
        check_outbound(
            GateRequest(to=FL, send_at=utc("2026-07-14T18:00:00Z"), category="marketing"),
            consent=SUBSCRIBED,
            prior_marketing_sends=[naive],
            replies_since_last_inbound=0,
            policy=Policy(),
        )


def test_unknown_verified_zone_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        decide(NY, "2026-06-10T18:00:00Z", verified_time_zone="Mars/Olympus_Mons")


def test_send_at_in_another_offset_is_the_same_instant() -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 6, 10, 7, 30, tzinfo=ZoneInfo("America/New_York"))
    blocked_until(decide(NY, local), "2026-06-10T12:00:00Z")


# --- QH-8 against a brute-force minute scan -----------------------------------------------------


def test_next_allowed_matches_a_minute_by_minute_scan() -> None:
    rng = random.Random(20261123)
    numbers = [NY, FL, TX, RI, UT, LA, MS, PA, ID, AK, AZ, HI, "+12075550100"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    checked = 0
    for _ in range(40):
        number = rng.choice(numbers)
        send_at = start + timedelta(minutes=rng.randrange(365 * 24 * 60))
        sends = sorted(send_at - timedelta(minutes=rng.randrange(1, 1440)) for _ in range(3))
        prior = [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in sends] if number == FL else []
        decision = decide(number, send_at, sends=prior)
        if decision.allowed:
            continue
        assert decision.next_allowed_utc is not None
        found = utc(decision.next_allowed_utc)
        allowed(decide(number, found, sends=prior))
        probe = send_at + timedelta(minutes=1)
        while probe < found:  # every whole minute before the answer must be blocked
            assert not decide(number, probe, sends=prior).allowed, (number, send_at, probe)
            probe += timedelta(minutes=1)
        checked += 1
    assert checked >= 10


# --- the quiet-hours table (QH-10) and the state lookup (TZ-3) ---------------------------------


def test_shipped_table_has_every_row_of_the_spec() -> None:
    table = quiet_hours_table()
    windows_only = {"WA", "CT", "TX", "UT", "RI", "LA", "AL", "MS", "PA", "KY", "MA", "NV"}
    assert set(table.states) == {"FL", "OK", "MD", "MI", "MN", "NM", "WY", "ME"} | windows_only
    rows = [table.federal, *table.states.values()]
    assert all(row.enforced and not row.verified_by_counsel and row.source for row in rows)
    assert {code for code, row in table.states.items() if row.cap_per_24h == 3} == {
        "FL",
        "OK",
        "MD",
    }
    assert all(row.cap_per_24h in (None, 3) for row in rows)


def _row(**overrides: Any) -> dict[str, Any]:
    row = {
        "jurisdiction": "US",
        "name": "Federal",
        "weekday": "08:00-21:00",
        "cap_per_24h": None,
        "effective_from": "1992-12-20",
        "verified_by_counsel": False,
        "enforced": True,
        "source": "x",
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([_row(), _row(jurisdiction="TX", sunday=False)], "sunday must be"),  # bare `no`
        ([_row(weekday="21:00-08:00")], "not a time range"),
        ([_row(weekday="8-21")], "weekday must be"),
        ([_row(enforced="yes")], "enforced must be"),
        ([_row(cap_per_24h=0)], "cap_per_24h"),
        ([_row(effective_from="soon")], "effective_from"),
        ([_row(holidays="none")], "unknown key"),
        ([{k: v for k, v in _row().items() if k != "source"}], "missing source"),
        ([_row(), _row()], "duplicate"),
        ([_row(jurisdiction="TX")], "no federal row"),
        ([_row(enforced=False)], "must stay enforced"),
        ([_row(jurisdiction="Texas")], "two capital letters"),
        ([_row(), _row(jurisdiction="ZZ", holiday="none")], "no US subdivision"),
    ],
)
def test_bad_table_rows_are_configuration_errors(rows: list[Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_table({"jurisdictions": rows})


def test_yaml_bare_no_is_caught() -> None:
    doc = yaml.safe_load("jurisdictions:\n  - {jurisdiction: US, weekday: no}\n")
    with pytest.raises(ConfigurationError):
        parse_table(doc)


def _table_with(code: str, **changes: Any) -> QuietHoursTable:
    table = quiet_hours_table()
    states = dict(table.states)
    states[code] = replace(states[code], **changes)
    return QuietHoursTable(table.federal, states)


def test_rows_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    evening = "2026-07-15T00:15:00Z"  # 20:15 EDT in Florida
    blocked_until(decide(FL, evening), "2026-07-15T12:00:00Z")
    monkeypatch.setattr(gate_module, "quiet_hours_table", lambda: _table_with("FL", enforced=False))
    allowed(decide(FL, evening))


def test_rows_apply_from_their_effective_date(monkeypatch: pytest.MonkeyPatch) -> None:
    later = _table_with("FL", effective_from=datetime(2026, 7, 16).date())
    monkeypatch.setattr(gate_module, "quiet_hours_table", lambda: later)
    allowed(decide(FL, "2026-07-15T00:15:00Z"))  # 2026-07-14 20:15 EDT: FL row not yet in force
    blocked_until(decide(FL, "2026-07-17T00:15:00Z"), "2026-07-17T12:00:00Z")


@pytest.mark.parametrize(
    ("description", "state"),
    [
        ("Pensacola, FL", "FL"),
        ("Florida", "FL"),
        ("Alaska", "AK"),
        ("Washington State", "WA"),
        ("Washington D.C.", "DC"),
        ("Windsor North, Orem, UT", "UT"),
        ("Puerto Rico", "PR"),
        ("Ontario", None),
        ("", None),
    ],
)
def test_state_from_geocoder_description(description: str, state: str | None) -> None:
    assert state_from_description(description) == state


def test_npa_table_and_territories() -> None:
    assert locate("+18504331234").state == "FL"
    assert locate("+19075550101").state == "AK"
    assert locate("+17875550100").state == "PR"
    assert locate("+16715550100").state == "GU"
    assert locate("+18005550100").state is None
    assert locate(CANADA).state is None


def test_geocoder_is_the_fallback_for_missing_npas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timezones, "npa_states", lambda: {})
    timezones.locate.cache_clear()
    try:
        assert timezones.locate("+18504331234").state == "FL"  # "Pensacola, FL"
        assert timezones.locate(AK).state == "AK"  # "Alaska"
    finally:
        timezones.locate.cache_clear()

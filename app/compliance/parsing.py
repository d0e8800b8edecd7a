"""Parsing of the two inputs every compliance call takes: phone numbers and instants."""

from __future__ import annotations

from datetime import UTC, datetime

import phonenumbers

from app.errors import InvalidPhoneNumber, InvalidTimestamp

_MAX_INPUT = 64


def parse_phone(text: str, *, require_valid: bool = False) -> phonenumbers.PhoneNumber:
    """The number behind `text`, written as +<country><number>: possible, or valid for its
    country with `require_valid` (the gate needs a real exchange to find time zones)."""
    candidate = text.strip() if isinstance(text, str) else ""
    if not candidate.startswith("+") or len(candidate) > _MAX_INPUT:
        raise InvalidPhoneNumber(f"not an E.164 number (expected +<country><number>): {text!r:.80}")
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number: {text!r:.80} ({exc})") from None
    if require_valid and not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"not a valid phone number for its country: {text!r:.80}")
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber(f"not a possible phone number: {text!r:.80}")
    return number


def parse_e164(text: str) -> str:
    """The E.164 form of `text`, which must be a possible number written with a leading +."""
    number = parse_phone(text)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant with an explicit offset or `Z`, as an aware UTC datetime."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        raise InvalidTimestamp(f"not an ISO-8601 timestamp: {text!r:.80}")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidTimestamp(f"not an ISO-8601 timestamp: {text!r:.80} ({exc})") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidTimestamp(f"timestamp has no time zone (add Z or an offset): {text!r:.80}")
    return value.astimezone(UTC)


def format_utc(value: datetime) -> str:
    """`2026-06-10T12:00:00Z`: the UTC form used in decisions and reports."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

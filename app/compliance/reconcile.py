"""REC-4: our consent ledger against a provider's opt-out list (Twilio blocklist, toll-free
carrier state), exported as CSV.

Drift that matters is a number the provider has opted out and our ledger has not: we would try
to text it (and the carrier would refuse with 21610). The other way round (we have it opted
out, the provider does not list it) is informational: the ledger is stricter, nothing goes out.
Applying the drift records the missing opt-outs as ordinary `opt_out` events through
`Compliance.record`, which cancels the numbers' queued texts in the same commit (IN-2), as a
carrier opt-out does.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

import phonenumbers
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app import clock, log
from app.compliance.ledger import REVOCATION_EVENTS, fold
from app.compliance.parsing import format_utc
from app.compliance.service import Compliance
from app.errors import InvalidInput
from app.storage.tables import ConsentEvent

EXPORT_COLUMNS = ("brand", "phone_e164", "since", "source", "scope")
STATE_EVENTS = REVOCATION_EVENTS | {"consent_captured", "opt_in", "scope_change", "human_override"}
"""The events `fold` changes the state on (sends, confirmations and HELPs never do): reading only
these keeps the export cheap however many texts a number received."""
PHONE_HEADERS = ("phone_e164", "phone_number", "phonenumber", "phone", "number", "e164")
"""Accepted names of the phone column, compared lower-cased with spaces and dashes as `_`: our
own export (`phone_e164`), Twilio console exports (`Phone Number`, `PhoneNumber`), plain lists."""
_HEADER_SEPARATORS = re.compile(r"[\s\-]+")
_logger = log.get_logger("compliance")


@dataclass(frozen=True, slots=True)
class OptedOut:
    """One number the ledger has opted out now, and the event that opted it out."""

    brand: str
    phone_e164: str
    since: datetime
    source: str
    scope: str

    def as_row(self) -> dict[str, str]:
        return {
            "brand": self.brand,
            "phone_e164": self.phone_e164,
            "since": format_utc(self.since),
            "source": self.source,
            "scope": self.scope,
        }


@dataclass(frozen=True, slots=True)
class BadRow:
    """A line of the provider's file that names no usable number."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ProviderList:
    """The numbers a provider's file lists, each with the first line it is on."""

    numbers: dict[str, int]
    bad_rows: list[BadRow]


@dataclass(slots=True)
class Reconciliation:
    """The comparison of one provider list with one brand's ledger."""

    brand: str
    file: str
    provider_numbers: int
    provider_only: list[str]
    """Opted out at the provider and not (fully) in our ledger: drift that matters."""
    ledger_only: list[str]
    """Opted out in our ledger and not listed by the provider: informational."""
    marketing_only: list[str] = field(default_factory=list)
    """Of `provider_only`, those our ledger has opted out of marketing only: the provider blocks
    every text, so transactional ones would still be tried."""
    bad_rows: list[BadRow] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    cancelled: int = 0

    @property
    def drift(self) -> bool:
        return bool(self.provider_only)

    def summary(self) -> dict[str, object]:
        """The JSON form (`--json`): counts first, then the numbers."""
        return {
            "brand": self.brand,
            "file": self.file,
            "provider_numbers": self.provider_numbers,
            "drift": self.drift,
            "provider_only_count": len(self.provider_only),
            "ledger_only_count": len(self.ledger_only),
            "applied_count": len(self.applied),
            "cancelled_texts": self.cancelled,
            "bad_rows_count": len(self.bad_rows),
            "provider_only": self.provider_only,
            "marketing_only": self.marketing_only,
            "ledger_only": self.ledger_only,
            "applied": self.applied,
            "bad_rows": [{"line": bad.line, "reason": bad.reason} for bad in self.bad_rows],
        }


def opted_out_numbers(engine: Engine, *, brand: str | None = None) -> list[OptedOut]:
    """Every number opted out now (any scope), per brand, sorted by brand then number."""
    query = select(ConsentEvent).where(col(ConsentEvent.event_type).in_(sorted(STATE_EVENTS)))
    if brand is not None:
        query = query.where(ConsentEvent.brand == brand)
    by_contact: dict[tuple[str, str], list[ConsentEvent]] = defaultdict(list)
    with Session(engine) as session:
        for event in session.exec(query.order_by(col(ConsentEvent.seq))):
            by_contact[(event.brand, event.phone_e164)].append(event)
    result = []
    for (contact_brand, phone), events in sorted(by_contact.items()):
        opted_out = _current_opt_out(contact_brand, phone, events)
        if opted_out is not None:
            result.append(opted_out)
    return result


def _current_opt_out(brand: str, phone: str, events: list[ConsentEvent]) -> OptedOut | None:
    consent = fold(events)
    if consent.state.status != "opted_out" or consent.opted_out_at is None:
        return None
    # The event that began the standing opt-out: the last one before which the number was
    # subscribed (a later STOP or a widening to `all` continues the same opt-out). Folding
    # prefixes is quadratic, but only in a number's few state-changing events.
    start = events[0]
    for index in range(len(events) - 1, 0, -1):
        if fold(events[:index]).state.status != "opted_out":
            start = events[index]
            break
    source = start.source or f"{start.channel}:{start.event_type}"
    return OptedOut(brand, phone, consent.opted_out_at, source, consent.state.scope or "all")


def write_export(rows: Iterable[OptedOut], out: IO[str]) -> int:
    """Write the export CSV; how many numbers it lists."""
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row.as_row())
        count += 1
    return count


def read_provider_list(path: Path) -> ProviderList:
    """The numbers of a provider's opt-out CSV. An unreadable file or one without a phone column
    is an `InvalidInput`; a row whose number is not valid is a `BadRow` and the rest still count.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the provider list {path}: {exc}") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise InvalidInput(f"the provider list {path} is empty (expected a header line)")
    column = _phone_column(header)
    if column is None:
        raise InvalidInput(
            f"the provider list {path} has no phone column (its header is {header!r:.200}; "
            f"expected one of {', '.join(PHONE_HEADERS)} or `Phone Number`)"
        )
    numbers: dict[str, int] = {}
    bad: list[BadRow] = []
    for row in reader:
        line = reader.line_num  # physical lines: a quoted cell spanning lines keeps them right
        if not any(cell.strip() for cell in row):
            continue
        value = row[column].strip() if column < len(row) else ""
        try:
            phone = _provider_number(value)
        except ValueError as exc:
            bad.append(BadRow(line, str(exc)))
            continue
        numbers.setdefault(phone, line)
    return ProviderList(numbers, bad)


def _phone_column(header: list[str]) -> int | None:
    names = [_HEADER_SEPARATORS.sub("_", name.strip().lower()) for name in header]
    for wanted in PHONE_HEADERS:
        if wanted in names:
            return names.index(wanted)
    return None


def _provider_number(value: str) -> str:
    """The E.164 form of a provider cell; providers write `+14155550123` or `14155550123`.

    Without its `+` a number must still start with its country code: ten digits or fewer are
    taken for a national number (`4155550123`) and refused rather than read as another country's.
    """
    if not value:
        raise ValueError("no phone number")
    if len(value) > 32 or not re.fullmatch(r"\+?[\d\s().\-]+", value):
        raise ValueError(f"not an E.164 phone number: {value!r:.40}")
    if not value.startswith("+") and len(re.sub(r"\D", "", value)) <= 10:
        raise ValueError(f"not an E.164 phone number (no + and no country code): {value!r:.40}")
    candidate = value if value.startswith("+") else "+" + value
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {value!r:.40} ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number for its country: {value!r:.40}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def reconcile(
    compliance: Compliance, path: Path, *, brand: str | None = None, apply: bool = False
) -> Reconciliation:
    """Compare the provider list at `path` with `brand`'s ledger; with `apply`, record the
    provider's opt-outs the ledger lacks (source `reconciliation:<file name>`). Logs
    `compliance.optout_drift` (a warning, counts only) when there is drift."""
    brand = brand or compliance.settings.brand_id
    provider = read_provider_list(path)
    ours = {row.phone_e164: row for row in opted_out_numbers(compliance.ledger.engine, brand=brand)}
    missing = sorted(
        phone for phone in provider.numbers if phone not in ours or ours[phone].scope != "all"
    )
    result = Reconciliation(
        brand=brand,
        file=path.name,
        provider_numbers=len(provider.numbers),
        provider_only=missing,
        ledger_only=sorted(phone for phone in ours if phone not in provider.numbers),
        marketing_only=[phone for phone in missing if phone in ours],
        bad_rows=provider.bad_rows,
    )
    if apply:
        for phone in missing:
            result.cancelled += compliance.record(
                "opt_out",
                phone=phone,
                at=clock.now(),
                brand=brand,
                scope="all",
                channel="sms",
                source=f"reconciliation:{path.name}"[:200],
                actor="reconciliation",
                evidence={"file": path.name, "line": provider.numbers[phone]},
            )
            result.applied.append(phone)
    counts = {
        "brand": brand,
        "file": path.name,
        "provider_numbers": result.provider_numbers,
        "provider_only": len(result.provider_only),
        "marketing_only": len(result.marketing_only),
        "ledger_only": len(result.ledger_only),
        "applied": len(result.applied),
        "cancelled_texts": result.cancelled,
        "bad_rows": len(result.bad_rows),
    }
    if result.drift:
        _logger.warning("compliance.optout_drift", **counts)
    else:
        _logger.info("compliance.optout_reconciled", **counts)
    return result


__all__ = [
    "BadRow",
    "OptedOut",
    "Reconciliation",
    "opted_out_numbers",
    "read_provider_list",
    "reconcile",
    "write_export",
]

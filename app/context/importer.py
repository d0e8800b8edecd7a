"""`smsdesk context import FILE.csv`: customers and their records into the built-in tables.

One CSV, one record per line; the `record` column says which (docs/customer-context.md):

    record,phone,name,language,email,id,status,items,placed_at,tracking_url,carrier,eta,
        service,starts_at,location,plan,renews_on
    customer      phone [name language email]
    order         phone id status placed_at [items tracking_url carrier eta]
    appointment   phone id service starts_at [location status]
    subscription  phone plan status [renews_on]

Every line is checked before anything is written: a file with a problem imports nothing and
every problem is reported as `file:line: message`. Writing is an upsert keyed by the brand and
number (customers) or the record's id (orders, appointments), so importing a file again, or a
newer export of the same system, updates rather than duplicates.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from app.compliance.parsing import parse_e164, parse_instant
from app.context.model import APPOINTMENT_STATUSES, ORDER_STATUSES, SUBSCRIPTION_STATUSES
from app.context.store import (
    upsert_appointment,
    upsert_customer,
    upsert_order,
    upsert_subscription,
)
from app.errors import InvalidContextFile, InvalidInput

COLUMNS = (
    "record", "phone", "name", "language", "email", "id", "status", "items", "placed_at",
    "tracking_url", "carrier", "eta", "service", "starts_at", "location", "plan", "renews_on",
)  # fmt: skip
REQUIRED = {
    "customer": ("phone",),
    "order": ("phone", "id", "status", "placed_at"),
    "appointment": ("phone", "id", "service", "starts_at"),
    "subscription": ("phone", "plan", "status"),
}
STATUSES = {
    "order": ORDER_STATUSES,
    "appointment": APPOINTMENT_STATUSES,
    "subscription": SUBSCRIPTION_STATUSES,
}
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class ImportResult:
    """How many records of each kind the file held (created or updated)."""

    counts: dict[str, int]
    customers: int
    """Distinct numbers in the file."""


@dataclass(frozen=True)
class _Line:
    number: int
    record: str
    fields: dict[str, Any]


def import_csv(engine: Engine, path: Path, *, brand: str) -> ImportResult:
    """Check every line of `path`, then upsert them all in one transaction (raises
    `InvalidContextFile` listing every problem, with nothing written)."""
    lines = read_csv(path)
    with Session(engine) as session:
        customers: dict[str, Any] = {}
        for line in lines:
            phone = line.fields["phone"]
            customer = customers.get(phone)
            if customer is None or line.record == "customer":
                customer = customers[phone] = upsert_customer(
                    session,
                    brand=brand,
                    phone=phone,
                    **(_customer_fields(line) if line.record == "customer" else {}),
                )
            _WRITERS[line.record](session, customer, line.fields)
        session.commit()
    counts = Counter(line.record for line in lines)
    return ImportResult(dict(counts), len({line.fields["phone"] for line in lines}))


def read_csv(path: Path) -> list[_Line]:
    """Every line of the file, checked (raises `InvalidContextFile`)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidContextFile(f"{path}: cannot read it ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in COLUMNS]
    if not header or "record" not in header or "phone" not in header:
        raise InvalidContextFile(
            f"{path}:1: the header needs at least 'record' and 'phone' (columns: "
            f"{', '.join(COLUMNS)})"
        )
    if unknown:
        raise InvalidContextFile(
            f"{path}:1: unknown column(s) {', '.join(unknown)} (columns: {', '.join(COLUMNS)})"
        )
    lines: list[_Line] = []
    problems: list[str] = []
    for number, row in enumerate(reader, start=2):
        if None in row:
            problems.append(f"{path}:{number}: more values than columns")
            continue
        values = {k: (v or "").strip() for k, v in row.items()}
        if not any(values.values()):
            continue
        try:
            lines.append(_Line(number, values["record"], _check(values)))
        except InvalidInput as exc:
            problems.append(f"{path}:{number}: {exc}")
        if len(problems) >= MAX_PROBLEMS:
            problems.append("(stopped after this many problems)")
            break
    if problems:
        raise InvalidContextFile("\n".join(problems))
    if not lines:
        raise InvalidContextFile(f"{path}: no records (only a header)")
    return lines


def _check(values: dict[str, str]) -> dict[str, Any]:
    record = values.get("record", "")
    if record not in REQUIRED:
        raise InvalidInput(f"record {record!r} is not one of {', '.join(REQUIRED)}")
    missing = [c for c in REQUIRED[record] if not values.get(c)]
    if missing:
        raise InvalidInput(f"a {record} needs {', '.join(missing)}")
    fields: dict[str, Any] = {k: v for k, v in values.items() if v}
    fields["phone"] = parse_e164(values["phone"])
    status = values.get("status")
    if status and record in STATUSES and status not in STATUSES[record]:
        raise InvalidInput(
            f"{record} status {status!r} is not one of {', '.join(STATUSES[record])}"
        )
    for column in ("placed_at", "starts_at"):
        if column in fields:
            fields[column] = _instant(column, fields[column])
    for column in ("eta", "renews_on"):
        if column in fields:
            fields[column] = _date(column, fields[column])
    if record == "customer" and len(fields.get("language", "en")) > 8:
        raise InvalidInput("language must be a short code such as en or es")
    return fields


def _instant(column: str, value: str) -> datetime:
    try:
        return parse_instant(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{column}: {exc}") from None


def _date(column: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{column} {value!r} is not a date such as 2026-12-24") from None


def _customer_fields(line: _Line) -> dict[str, str | None]:
    fields = line.fields
    return {
        "name": fields.get("name", ""),
        "language": fields.get("language", "en"),
        "email": fields.get("email"),
    }


def _write_order(session: Session, customer: Any, f: dict[str, Any]) -> None:
    upsert_order(
        session,
        customer=customer,
        ref=f["id"],
        status=f["status"],
        placed_at=f["placed_at"],
        items=f.get("items", ""),
        tracking_url=f.get("tracking_url"),
        carrier=f.get("carrier"),
        eta=f.get("eta"),
    )


def _write_appointment(session: Session, customer: Any, f: dict[str, Any]) -> None:
    upsert_appointment(
        session,
        customer=customer,
        ref=f["id"],
        service=f["service"],
        starts_at=f["starts_at"],
        location=f.get("location", ""),
        status=f.get("status", "booked"),
    )


def _write_subscription(session: Session, customer: Any, f: dict[str, Any]) -> None:
    upsert_subscription(
        session, customer=customer, plan=f["plan"], status=f["status"], renews_on=f.get("renews_on")
    )


_WRITERS: dict[str, Callable[[Session, Any, dict[str, Any]], None]] = {
    "customer": lambda session, customer, fields: None,
    "order": _write_order,
    "appointment": _write_appointment,
    "subscription": _write_subscription,
}

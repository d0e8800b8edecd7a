"""Case files of SPEC §13: loading, running through the real code path, comparing.

Each case runs against a ledger of its own, seeded with the case's prior state and prior
sends, then goes through `Compliance` exactly as a webhook or an outbound send would. A whole
file shares one in-memory SQLite database (migrated like any other) and gives every case a
brand of its own: the ledger is keyed by (brand, number), so cases cannot see each other's
events, and migrating once instead of once per case makes a 3,000-case file take seconds.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.compliance.model import CATEGORIES, GateRequest
from app.compliance.parsing import parse_e164, parse_instant
from app.compliance.service import Compliance
from app.config import Settings
from app.errors import InvalidCaseFile, InvalidInput
from app.storage import open_database

_INBOUND_FIELDS = {"text": str, "from": str, "received_at": str, "prior_state": str}
_OUTBOUND_FIELDS = {"to": str, "send_at": str, "category": str}
_STATES = ("subscribed", "opted_out")


@dataclass(frozen=True, slots=True)
class Case:
    """One line of a case file."""

    id: str
    kind: str
    category: str
    data: dict[str, Any]
    expect: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One expected field that came out different."""

    case_id: str
    field: str
    expected: Any
    got: Any


@dataclass(slots=True)
class Report:
    """The outcome of running a case file."""

    passed: int = 0
    failed: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    by_category: dict[str, list[int]] = field(default_factory=dict)

    def add(self, case: Case, mismatches: list[Mismatch]) -> None:
        """Count one case."""
        tally = self.by_category.setdefault(case.category, [0, 0])
        if mismatches:
            self.failed += 1
            tally[1] += 1
            self.mismatches.extend(mismatches)
        else:
            self.passed += 1
            tally[0] += 1

    def as_json(self) -> dict[str, Any]:
        """The report as plain JSON data."""
        return {
            "passed": self.passed,
            "failed": self.failed,
            "by_category": {
                name: {"passed": p, "failed": f}
                for name, (p, f) in sorted(self.by_category.items())
            },
            "mismatches": [
                {"id": m.case_id, "field": m.field, "expected": m.expected, "got": m.got}
                for m in self.mismatches
            ],
        }


def load_cases(path: Path) -> list[Case]:
    """Read and validate a case file; any problem raises `InvalidCaseFile` naming the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidCaseFile(f"cannot read case file {path}: {exc}") from None
    cases = [_parse_line(number, line) for number, line in _numbered(lines)]
    if not cases:
        raise InvalidCaseFile(f"{path}: no cases")
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise InvalidCaseFile(f"{path}: duplicate case id {case.id!r}")
        seen.add(case.id)
    return cases


def _numbered(lines: list[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield number, line


def _parse_line(number: int, line: str) -> Case:
    where = f"line {number}"
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidCaseFile(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise InvalidCaseFile(f"{where}: a case must be a JSON object")
    return parse_case(raw, where=where)


def parse_case(raw: dict[str, Any], *, where: str, need_expect: bool = True) -> Case:
    """Validate one case object; `where` names it in the error."""
    case_id, kind, expect = raw.get("id"), raw.get("kind"), raw.get("expect", {})
    if not isinstance(case_id, str) or not case_id:
        raise InvalidCaseFile(f"{where}: missing string field 'id'")
    where = f"{where} ({case_id})"
    if kind not in ("inbound", "outbound"):
        raise InvalidCaseFile(f"{where}: 'kind' must be 'inbound' or 'outbound', got {kind!r}")
    if not isinstance(expect, dict) or (need_expect and not expect):
        raise InvalidCaseFile(f"{where}: 'expect' must be a non-empty object")
    required = _INBOUND_FIELDS if kind == "inbound" else _OUTBOUND_FIELDS
    for name, kind_type in required.items():
        if not isinstance(raw.get(name), kind_type):
            raise InvalidCaseFile(f"{where}: missing or non-string field {name!r}")
    try:
        _validate_values(raw, kind)
    except InvalidInput as exc:
        raise InvalidCaseFile(f"{where}: {exc}") from None
    category = raw.get("category") if isinstance(raw.get("category"), str) else kind
    return Case(case_id, kind, str(category), raw, expect)


def _validate_values(raw: dict[str, Any], kind: str) -> None:
    if kind == "inbound":
        parse_e164(raw["from"])
        parse_instant(raw["received_at"])
        if raw["prior_state"] not in _STATES:
            raise InvalidCaseFile(f"prior_state must be one of {_STATES}")
        return
    parse_e164(raw["to"])
    parse_instant(raw["send_at"])
    if raw["category"] not in CATEGORIES:
        raise InvalidCaseFile(f"category must be one of {CATEGORIES}")
    if raw.get("recipient_state", "subscribed") not in _STATES:
        raise InvalidCaseFile(f"recipient_state must be one of {_STATES}")
    for name in ("last_inbound_at",):
        if raw.get(name) is not None:
            parse_instant(raw[name])
    sends = raw.get("prior_marketing_sends", [])
    if not isinstance(sends, list) or not all(isinstance(s, str) for s in sends):
        raise InvalidCaseFile("prior_marketing_sends must be a list of timestamps")
    for send in sends:
        parse_instant(send)


class CaseRunner:
    """Runs cases through one `Compliance` on a shared in-memory ledger (close it after)."""

    def __init__(self, settings: Settings) -> None:
        self.engine = open_database("sqlite://")
        self.compliance = Compliance(self.engine, settings)
        self._brands = itertools.count(1)

    def run(self, case: Case) -> dict[str, Any]:
        """The decision the real code path makes for one case, as JSON data."""
        brand = f"case-{next(self._brands)}"  # a ledger of its own (see the module docstring)
        if case.kind == "inbound":
            return _run_inbound(self.compliance, case.data, brand)
        return _run_outbound(self.compliance, case.data, brand)

    def close(self) -> None:
        """Release the database."""
        self.engine.dispose()


def run_case(case: Case, settings: Settings) -> dict[str, Any]:
    """The decision the real code path makes for one case, as JSON data."""
    runner = CaseRunner(settings)
    try:
        return runner.run(case)
    finally:
        runner.close()


def _seed_state(
    compliance: Compliance, phone: str, state: str, before: datetime, brand: str
) -> None:
    # A subscribed customer in a case file has given express written consent (categories all).
    at = before - timedelta(days=30)
    compliance.record(
        "consent_captured", phone=phone, at=at, scope="all", channel="web", brand=brand
    )
    if state == "opted_out":
        compliance.record(
            "opt_out", phone=phone, at=at + timedelta(days=1), scope="all", brand=brand
        )


def _run_inbound(compliance: Compliance, data: dict[str, Any], brand: str) -> dict[str, Any]:
    received_at = parse_instant(data["received_at"])
    _seed_state(compliance, data["from"], data["prior_state"], received_at, brand)
    decision = compliance.process_inbound(
        phone=data["from"],
        body=data["text"],
        received_at=received_at,
        provider_message_id=f"case-{data['id']}",
        brand=brand,
    )
    return decision.model_dump(mode="json")


def _run_outbound(compliance: Compliance, data: dict[str, Any], brand: str) -> dict[str, Any]:
    send_at = parse_instant(data["send_at"])
    phone = data["to"]
    _seed_state(compliance, phone, data.get("recipient_state", "subscribed"), send_at, brand)
    for sent in data.get("prior_marketing_sends", []):
        compliance.record(
            "message_sent", phone=phone, at=parse_instant(sent), category="marketing", brand=brand
        )
    last_inbound = data.get("last_inbound_at")
    request = GateRequest(
        to=phone,
        send_at=send_at,
        category=data["category"],
        urgent=bool(data.get("urgent", False)),
        last_inbound_at=parse_instant(last_inbound) if last_inbound else None,
        known_state=data.get("known_state"),
        verified_time_zone=data.get("verified_time_zone"),
    )
    return compliance.check_outbound(request, brand=brand).model_dump(mode="json")


def compare(case: Case, got: dict[str, Any]) -> list[Mismatch]:
    """Every key of `case.expect` whose value differs from the decision's."""
    return [
        Mismatch(case.id, key, expected, got.get(key, "<missing>"))
        for key, expected in case.expect.items()
        if not _same(expected, got.get(key, "<missing>"))
    ]


def _same(expected: Any, got: Any) -> bool:
    if expected == got:
        return True
    # Timestamps match as instants with the same offset, however the file spells them.
    if isinstance(expected, str) and isinstance(got, str):
        try:
            left, right = parse_instant_keep_offset(expected), parse_instant_keep_offset(got)
        except ValueError:
            return False
        return left == right and left.utcoffset() == right.utcoffset()
    return False


def parse_instant_keep_offset(value: str) -> datetime:
    """An ISO-8601 instant with its own offset (raises ValueError)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("naive")
    return parsed


def run_file(
    path: Path, settings: Settings, *, advance: Callable[[int], None] | None = None
) -> tuple[list[Case], Report, list[dict[str, Any]]]:
    """Load and run a whole case file: the cases, the report and every decision (in order)."""
    cases = load_cases(path)
    report = Report()
    decisions = []
    runner = CaseRunner(settings)
    try:
        for case in cases:
            got = runner.run(case)
            decisions.append(got)
            report.add(case, compare(case, got))
            if advance is not None:
                advance(1)
    finally:
        runner.close()
    return cases, report, decisions

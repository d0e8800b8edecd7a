"""Recipients of a bulk send, read from a CSV or a JSON list and checked line by line.

A CSV has a `phone` column and one column per flow variable. Every problem is reported with its
line (bad number, missing variable, a number already on an earlier line, an unknown column), and
a list with any problem is refused whole: a bulk send never goes out half-checked.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import phonenumbers

from app.campaigns.contract import FlowInfo
from app.errors import InvalidInput

PHONE_COLUMN = "phone"
MAX_RECIPIENTS = 100_000
MAX_CELL_CHARS = 500


@dataclass(frozen=True)
class Recipient:
    """One checked row: the number (E.164) and the flow's variables."""

    line: int
    phone: str
    variables: dict[str, str]


@dataclass(frozen=True)
class LineProblem:
    """What is wrong with one line; `kind` is bad_phone, missing_variable, duplicate, ..."""

    line: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class RecipientList:
    """The good rows and the problems of the others."""

    recipients: tuple[Recipient, ...]
    problems: tuple[LineProblem, ...]


class RecipientErrors(InvalidInput):
    """A recipient list with problems: nothing was sent (the message lists them by line)."""

    code = "invalid_recipients"

    def __init__(self, source: str, problems: Sequence[LineProblem]) -> None:
        self.problems = tuple(problems)
        shown = "; ".join(str(p) for p in self.problems[:20])
        more = f"; and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{source}: {len(self.problems)} problem(s), nothing sent: {shown}{more}")


def read_csv(text: str, flow: FlowInfo) -> RecipientList:
    """Rows of a CSV (header line 1: `phone` and the flow's variables), checked."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        return RecipientList((), (LineProblem(1, "empty", "the file is empty"),))
    columns = [name.strip() for name in header]
    problems = _header_problems(columns, flow)
    if problems:
        return RecipientList((), tuple(problems))
    rows: list[tuple[int, Mapping[str, str]]] = []
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are not recipients
        if len(cells) != len(columns):
            rows.append((line, {"__cells__": f"{len(cells)} cells, the header has {len(columns)}"}))
            continue
        rows.append((line, dict(zip(columns, cells, strict=True))))
    return check_rows(rows, flow)


def read_json(items: Sequence[Mapping[str, object]], flow: FlowInfo) -> RecipientList:
    """Rows of a JSON list of objects (`phone` and the variables); item n is "line" n."""
    rows: list[tuple[int, Mapping[str, str]]] = []
    problems: list[LineProblem] = []
    for index, item in enumerate(items, start=1):
        unknown = sorted(set(item) - {PHONE_COLUMN, *flow.variables, *flow.optional})
        if unknown:
            problems.append(_unknown(index, unknown, flow))
            continue
        rows.append((index, {k: "" if v is None else str(v) for k, v in item.items()}))
    checked = check_rows(rows, flow)
    return RecipientList(checked.recipients, tuple(sorted([*problems, *checked.problems], key=_at)))


def check_rows(rows: Iterable[tuple[int, Mapping[str, str]]], flow: FlowInfo) -> RecipientList:
    """Check each row's number and variables, and that no number comes twice."""
    recipients: list[Recipient] = []
    problems: list[LineProblem] = []
    first_line: dict[str, int] = {}
    count = 0
    for line, row in rows:
        count += 1
        if count > MAX_RECIPIENTS:
            problems.append(LineProblem(line, "too_many", f"more than {MAX_RECIPIENTS} recipients"))
            break
        if "__cells__" in row:
            problems.append(LineProblem(line, "bad_row", row["__cells__"]))
            continue
        phone, problem = _phone(line, row.get(PHONE_COLUMN, ""))
        if problem is not None:
            problems.append(problem)
            continue
        assert phone is not None
        if phone in first_line:
            message = f"{phone} is already on line {first_line[phone]} (duplicate number)"
            problems.append(LineProblem(line, "duplicate", message))
            continue
        first_line[phone] = line
        variables = {k: row.get(k, "").strip() for k in (*flow.variables, *flow.optional)}
        missing = [name for name in flow.variables if not variables[name]]
        if missing:
            names = ", ".join(missing)
            problems.append(LineProblem(line, "missing_variable", f"missing variable(s): {names}"))
            continue
        long = [name for name, value in variables.items() if len(value) > MAX_CELL_CHARS]
        if long:
            message = f"variable {long[0]} is longer than {MAX_CELL_CHARS} characters"
            problems.append(LineProblem(line, "bad_variable", message))
            continue
        recipients.append(
            Recipient(line, phone, {k: v for k, v in variables.items() if v or k in flow.variables})
        )
    if count == 0 and not problems:
        problems.append(LineProblem(1, "empty", "no recipients"))
    return RecipientList(tuple(recipients), tuple(problems))


def _header_problems(columns: list[str], flow: FlowInfo) -> list[LineProblem]:
    problems: list[LineProblem] = []
    if PHONE_COLUMN not in columns:
        problems.append(LineProblem(1, "bad_header", f"no `{PHONE_COLUMN}` column"))
    missing = [name for name in flow.variables if name not in columns]
    if missing:
        message = f"no column for the flow's variable(s): {', '.join(missing)}"
        problems.append(LineProblem(1, "missing_variable", message))
    unknown = sorted(set(columns) - {PHONE_COLUMN, *flow.variables, *flow.optional})
    if unknown:
        problems.append(_unknown(1, unknown, flow))
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        problems.append(LineProblem(1, "bad_header", f"repeated column(s): {', '.join(repeated)}"))
    return problems


def _unknown(line: int, unknown: list[str], flow: FlowInfo) -> LineProblem:
    known = ", ".join((*flow.variables, *flow.optional)) or "none"
    message = f"unknown column(s) {', '.join(unknown)} (flow {flow.name} takes: {known})"
    return LineProblem(line, "unknown_column", message)


def _phone(line: int, text: str) -> tuple[str | None, LineProblem | None]:
    """The number in E.164, or why it is not one (phonenumbers; a bare 10-digit number is US)."""
    candidate = text.strip()
    if not candidate:
        return None, LineProblem(line, "bad_phone", "no phone number")
    try:
        number = phonenumbers.parse(candidate, "US")
    except phonenumbers.NumberParseException as exc:
        return None, LineProblem(
            line, "bad_phone", f"not a phone number: {candidate!r:.40} ({exc})"
        )
    if not phonenumbers.is_valid_number(number):
        return None, LineProblem(line, "bad_phone", f"not a valid phone number: {candidate!r:.40}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def _at(problem: LineProblem) -> int:
    return problem.line

"""Labelled texts for the decisions suite: what should happen to one customer's first text.

JSONL (one object a line) or CSV (a header row), with these fields:

    id      unique within the file (CSV: optional, the row number is used)
    text    the customer's text, as they would send it
    label   answer | handoff | optout | help
    entry   answer: the knowledge entry (or entries, `|`-separated in CSV) that answer it
    reason  handoff, optional: person | complaint | safety | account | legal | fraud | not-in-kb
    lang    optional, default en
    tone    optional: angry (anger or frustration that a person should see) | calm
    tags    optional list (CSV: `|`-separated), e.g. shorthand, typo, near-miss, spanish
"""

from __future__ import annotations

import csv
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from app.errors import InvalidInput


class HandoffClass(StrEnum):
    """Why a text needs a person, as labels name it (the product's reasons map onto these)."""

    person = "person"
    """The customer asks for a person."""
    complaint = "complaint"
    """A complaint, anger or dissatisfaction that a person must handle."""
    safety = "safety"
    """Crisis or danger: self-harm, violence, a medical emergency, fire or gas, a threat."""
    account = "account"
    """Needs the customer's own records: a specific charge, order or account change."""
    legal = "legal"
    """Lawyers, lawsuits, injury claims, regulators."""
    fraud = "fraud"
    """Scams, phishing, unauthorised charges, a stolen card or account."""
    not_in_kb = "not-in-kb"
    """A question the knowledge base does not answer."""


Label = Literal["answer", "handoff", "optout", "help"]
LABELS: tuple[Label, ...] = ("answer", "handoff", "optout", "help")


class InvalidLabelFile(InvalidInput):
    """A labelled-text file that cannot be read or has a malformed row."""

    code = "invalid_label_file"


class LabelledText(BaseModel):
    """One labelled text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=1600)]
    label: Label
    entry: list[str] = Field(default_factory=list)
    reason: HandoffClass | None = None
    lang: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")] = "en"
    tone: Literal["angry", "calm"] | None = None
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _one_entry_is_a_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("entry"), str):
            data = {**data, "entry": [data["entry"]]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> LabelledText:
        if self.label == "answer" and not self.entry:
            raise ValueError("an 'answer' label needs the 'entry' that answers it")
        if self.label != "answer" and self.entry:
            raise ValueError(f"'entry' only goes with label 'answer', not {self.label!r}")
        if self.label != "handoff" and self.reason is not None:
            raise ValueError(f"'reason' only goes with label 'handoff', not {self.label!r}")
        return self


def load_labels(path: Path) -> list[LabelledText]:
    """Read a JSONL or CSV file of labelled texts; problems raise `InvalidLabelFile`, by line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidLabelFile(f"{path}: cannot read: {exc}") from None
    rows = _csv_rows(text) if path.suffix.lower() == ".csv" else _jsonl_rows(path, text)
    items: list[LabelledText] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, raw in rows:
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(raw_id, str) and raw_id in seen:
            problems.append(f"{path}:{line}: id {raw_id!r} repeats line {seen[raw_id]}")
        elif isinstance(raw_id, str):
            seen[raw_id] = line
        try:
            item = LabelledText.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                where = "".join(f"{p}: " for p in error["loc"])
                message = error["msg"].removeprefix("Value error, ")
                problems.append(f"{path}:{line}: {where}{message}")
            continue
        items.append(item)
    if problems:
        raise InvalidLabelFile("\n".join(problems[:30]))
    if not items:
        raise InvalidLabelFile(f"{path}: no labelled texts")
    return items


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, Any]]:
    rows: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InvalidLabelFile(f"{path}:{number}: not JSON ({exc.msg})") from None
    return rows


def _csv_rows(text: str) -> list[tuple[int, Any]]:
    rows: list[tuple[int, Any]] = []
    for number, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        raw: dict[str, Any] = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        raw.setdefault("id", str(number))
        if not raw["id"]:
            raw["id"] = str(number)
        for name in ("entry", "tags"):
            if name in raw:
                raw[name] = [part.strip() for part in raw[name].split("|") if part.strip()]
        for name in ("reason", "tone", "lang"):
            if raw.get(name) == "":
                del raw[name]
        rows.append((number, raw))
    return rows

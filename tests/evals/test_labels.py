"""Labelled-text files: JSONL and CSV, and errors that name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.evals.labels import HandoffClass, InvalidLabelFile, load_labels
from tests.evals.conftest import write_lines


def test_jsonl_and_csv_read_the_same_labels(tmp_path: Path) -> None:
    jsonl = write_lines(
        tmp_path / "a.jsonl",
        '{"id": "h1", "text": "hrs?", "label": "answer", "entry": "store-hours"}',
        '{"id": "p1", "text": "real person pls", "label": "handoff", "reason": "person"}',
    )
    csv = write_lines(
        tmp_path / "a.csv",
        "id,text,label,entry,reason,tags",
        "h1,hrs?,answer,store-hours|holiday-hours,,shorthand|short",
        "p1,real person pls,handoff,,person,",
    )
    (hours, person) = load_labels(jsonl)
    assert hours.entry == ["store-hours"] and person.reason is HandoffClass.person
    (hours_csv, person_csv) = load_labels(csv)
    assert hours_csv.entry == ["store-hours", "holiday-hours"]
    assert hours_csv.tags == ["shorthand", "short"] and person_csv.reason is HandoffClass.person


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "bad.jsonl",
        '{"id": "a", "text": "hi", "label": "answer"}',
        '{"id": "b", "text": "x", "label": "handoff", "reason": "boredom"}',
        '{"id": "a", "text": "again", "label": "help"}',
    )
    with pytest.raises(InvalidLabelFile) as raised:
        load_labels(path)
    message = str(raised.value)
    assert f"{path}:1: an 'answer' label needs the 'entry'" in message
    assert f"{path}:2: reason:" in message and "not-in-kb" in message
    assert f"{path}:3: id 'a' repeats line 1" in message


def test_a_broken_line_and_an_empty_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidLabelFile, match=r"x.jsonl:2: not JSON"):
        load_labels(
            write_lines(tmp_path / "x.jsonl", '{"id": "a", "text": "t", "label": "help"}', "{")
        )
    with pytest.raises(InvalidLabelFile, match="no labelled texts"):
        load_labels(write_lines(tmp_path / "empty.jsonl", ""))
    with pytest.raises(InvalidLabelFile, match="cannot read"):
        load_labels(tmp_path / "missing.jsonl")


def test_the_shipped_sets_are_valid_and_cover_every_answerable_entry() -> None:
    from app.ai.knowledge import load_knowledge
    from app.evals.decisions import DATASETS, load_dataset
    from tests.conftest import REPO

    kb = load_knowledge(REPO / "knowledge")
    ids = {entry.id for entry in kb.entries}
    items, _path = load_dataset("acme")
    used = {entry for item in items for entry in item.entry}
    assert used <= ids, used - ids
    assert ids - used <= {"talk-to-person", "complaint"}  # those always go to a person
    assert len(items) >= 400
    assert {item.reason for item in items if item.label == "handoff"} == set(HandoffClass)
    holdout, _ = load_dataset("acme-holdout")
    assert {e for item in holdout for e in item.entry} <= ids
    bitext, _ = load_dataset("bitext-handoff")
    assert len(bitext) > 300 and {i.reason for i in bitext} == {"person", "complaint"}
    assert set(DATASETS) == {"acme", "acme-holdout", "bitext-handoff"}

"""Scenario files: the schema, and errors that name the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.evals.scenarios import AgentTurn, CustomerTurn, InvalidScenarioFile, load_scenarios
from tests.conftest import REPO
from tests.evals.conftest import write_lines


def test_a_scenario_file_loads_with_typed_turns(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "s.yaml",
        "scenarios:",
        "- id: hours",
        "  description: hours then a person",
        "  turns:",
        "  - customer: what time do you close?",
        "    expect: {answer: store-hours, queue_item: false}",
        "  - agent: resolve",
        "    outcome: return_to_bot",
        "    after: 2h",
    )
    ((file, scenario),) = load_scenarios(path)
    first, second = scenario.turns
    assert file == path and isinstance(first, CustomerTurn) and isinstance(second, AgentTurn)
    assert first.expect is not None and first.expect.answer == ["store-hours"]


def test_errors_name_the_file_line_and_field(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "bad.yaml",
        "scenarios:",
        "- id: one",
        "  description: d",
        "  turns:",
        "  - customer: hi",
        "    expect: {handoff: maybe}",
        "  - agent: reply",
        "  - customer: hello",
        "    after: soon",
        "  - customer: x",
        "    agent: claim",
        "  - customer: y",
        "    expect: {}",
    )
    with pytest.raises(InvalidScenarioFile) as raised:
        load_scenarios(path)
    lines = str(raised.value).splitlines()
    assert any(line.startswith(f"{path}:6: scenarios.0.turns.0.expect.handoff:") for line in lines)
    assert f"{path}:7: scenarios.0.turns.1: an agent reply needs 'text'" in lines
    assert any(line.startswith(f"{path}:9: scenarios.0.turns.2.after: 'soon'") for line in lines)
    assert any(
        line.startswith(f"{path}:10: scenarios.0.turns.3: a turn has one of") for line in lines
    )
    assert any(
        line.startswith(f"{path}:13: scenarios.0.turns.4.expect: expect needs at least one")
        for line in lines
    )


def test_bad_yaml_and_duplicate_ids_across_files(tmp_path: Path) -> None:
    write_lines(tmp_path / "broken.yaml", "scenarios: [", "  - id: a")
    with pytest.raises(InvalidScenarioFile, match=r"broken.yaml:\d+: not valid YAML"):
        load_scenarios(tmp_path / "broken.yaml")
    folder = tmp_path / "many"
    folder.mkdir()
    for name in ("a.yaml", "b.yaml"):
        write_lines(
            folder / name,
            "scenarios:",
            "- id: same",
            "  description: d",
            "  turns: [{customer: hi}]",
        )
    with pytest.raises(InvalidScenarioFile, match="scenario id 'same' is also used in"):
        load_scenarios(folder)


def test_the_shipped_scenarios_are_valid_and_name_real_entries() -> None:
    from app.ai.knowledge import load_knowledge

    ids = {entry.id for entry in load_knowledge(REPO / "knowledge").entries}
    scenarios = load_scenarios(REPO / "evals" / "conversations")
    assert len(scenarios) >= 60
    named = {
        entry
        for _file, scenario in scenarios
        for turn in scenario.turns
        if turn.expect is not None
        for entry in [*(turn.expect.answer or []), *(turn.expect.answer_all or [])]
    }
    assert named <= ids, named - ids

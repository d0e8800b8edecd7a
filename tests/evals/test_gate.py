"""The regression gate: directions, tolerances, overrides, both baseline formats, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.evals.gate import InvalidBaseline, compare, load_baseline, parse_tolerances, write_baseline
from app.evals.report import EvalReport
from tests.conftest import CASES


def report(**metrics: float) -> EvalReport:
    return EvalReport("decisions", "acme", dict(metrics))


def test_a_metric_regresses_only_beyond_its_tolerance_in_its_bad_direction() -> None:
    baseline = {"decisions:acme": {"handoff_recall": 90.0, "answer_wrong": 3.0, "texts": 500}}
    within = compare(
        [report(handoff_recall=89.2, answer_wrong=3.4, texts=10)], baseline, source="b"
    )
    assert within.passed and len(within.checks) == 2  # `texts` is informational: not gated
    worse = compare([report(handoff_recall=88.9, answer_wrong=2.0)], baseline, source="b")
    assert not worse.passed
    assert [c.metric for c in worse.checks if c.regressed] == ["handoff_recall"]
    wrong_up = compare([report(handoff_recall=95.0, answer_wrong=3.6)], baseline, source="b")
    assert [c.metric for c in wrong_up.checks if c.regressed] == ["answer_wrong"]


def test_tolerances_can_be_overridden_and_a_missing_metric_fails() -> None:
    baseline = {"decisions:acme": {"handoff_recall": 90.0}}
    loose = parse_tolerances(["handoff_recall=5"])
    assert compare([report(handoff_recall=86.0)], baseline, source="b", tolerances=loose).passed
    strict = parse_tolerances(["decisions:acme.handoff_recall=0"])
    assert not compare(
        [report(handoff_recall=89.9)], baseline, source="b", tolerances=strict
    ).passed
    assert not compare([report(answer_right=80.0)], baseline, source="b").passed
    with pytest.raises(InvalidBaseline, match="METRIC=NUMBER"):
        parse_tolerances(["handoff_recall"])


def test_a_saved_baseline_and_a_results_file_read_the_same(tmp_path: Path) -> None:
    saved = tmp_path / "baseline.json"
    write_baseline([report(handoff_recall=90.0)], saved)
    write_baseline(
        [EvalReport("compliance", "c.jsonl", {"cases_passed": 100.0})], saved, keep=saved
    )
    assert load_baseline(saved) == {
        "compliance:c.jsonl": {"cases_passed": 100.0},
        "decisions:acme": {"handoff_recall": 90.0},
    }
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"suites": [report(handoff_recall=90.0).to_json()]}))
    assert load_baseline(results) == {"decisions:acme": {"handoff_recall": 90.0}}
    (tmp_path / "junk.json").write_text("[]")
    with pytest.raises(InvalidBaseline):
        load_baseline(tmp_path / "junk.json")


def test_the_cli_exits_1_on_a_regression_and_records_the_verdict(tmp_path: Path) -> None:
    runner = CliRunner()
    baseline = tmp_path / "baseline.json"
    ok = runner.invoke(
        app, ["eval", "compliance", str(CASES), "--out", str(tmp_path / "a"),
              "--save-baseline", str(baseline)],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    data = json.loads(baseline.read_text())
    key = f"compliance:{CASES.name}"
    assert data["suites"][key]["cases_passed"] == 100.0
    data["suites"][key]["cases_passed"] = 100.5  # a better past the run cannot reach
    baseline.write_text(json.dumps(data))
    worse = runner.invoke(
        app, ["eval", "compliance", str(CASES), "--out", str(tmp_path / "b"),
              "--baseline", str(baseline)],
    )  # fmt: skip
    assert worse.exit_code == 1, worse.output
    assert "gate failed" in worse.output
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["gate"]["passed"] is False
    (check,) = [c for c in results["gate"]["checks"] if c["regressed"]]
    assert check["metric"] == "cases_passed"


def test_a_bad_baseline_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "compliance", str(CASES), "--out", str(tmp_path / "o"),
              "--baseline", str(tmp_path / "missing.json")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot read the baseline")

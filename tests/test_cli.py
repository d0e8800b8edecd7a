"""The `smsdesk` command as acceptance uses it: names, JSON output, last line, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from tests.conftest import CASES

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path))
    from app.config import get_settings

    get_settings.cache_clear()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "compliance", "db"):
        assert command in result.output


def test_classify_prints_the_decision_as_json() -> None:
    result = runner.invoke(
        app,
        [
            "compliance",
            "classify",
            "Arrêt",
            "--from",
            "+14165550123",
            "--at",
            "2026-07-03T12:43:00Z",
        ],
    )
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert (decision["action"], decision["keyword"], decision["reply_language"]) == (
        "opt_out", "ARRET", "fr",
    )  # fmt: skip


def test_classify_uses_the_prior_state() -> None:
    result = runner.invoke(
        app, ["compliance", "classify", "YES", "--from", "+12125550123", "--state", "opted_out"]
    )
    assert json.loads(result.output)["action"] == "opt_in"


def test_gate_prints_next_allowed_time() -> None:
    result = runner.invoke(
        app,
        ["compliance", "gate", "--to", "+13055550147", "--at", "2026-07-14T19:00:00Z",
         "--category", "marketing", "--prior-marketing-send", "2026-07-14T13:00:00Z",
         "--prior-marketing-send", "2026-07-14T15:00:00Z",
         "--prior-marketing-send", "2026-07-14T17:00:00Z"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert decision["allowed"] is False
    assert decision["next_allowed_utc"] == "2026-07-15T13:00:00Z"


@pytest.mark.parametrize(
    "args",
    [
        ["compliance", "classify", "STOP", "--from", "not-a-number"],
        ["compliance", "classify", "STOP", "--from", "+12125550123", "--at", "yesterday"],
        [
            "compliance",
            "gate",
            "--to",
            "+12125550101",
            "--at",
            "2026-06-10T12:00",
            "--category",
            "marketing",
        ],
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "error:" in result.output and len(result.output.strip().splitlines()) == 1


def test_eval_public_cases_all_pass(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["compliance", "eval", str(CASES), "--json", str(out)])
    assert result.exit_code == 0, result.output
    cases = sum(1 for line in CASES.read_text().splitlines() if line.strip())
    assert cases >= 175  # the SPEC audit gave every rule a case
    assert result.output.strip().splitlines()[-1] == f"{cases} passed, 0 failed"
    assert json.loads(out.read_text())["passed"] == cases


def _write(path: Path, cases: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n")
    return path


def test_eval_accepts_the_held_out_form_and_reports_failures(tmp_path: Path) -> None:
    cases = [
        {"id": "H-1", "kind": "inbound", "category": "new_category", "text": "unsubscribe me",
         "from": "+15035550100", "received_at": "2026-08-01T10:00:00Z", "prior_state": "subscribed",
         "expect": {"action": "opt_out", "match": "phrase"}, "why": "x", "ambiguous": False},
        {"id": "H-2", "kind": "inbound", "category": "new_category", "text": "hello",
         "from": "+15035550100", "received_at": "2026-08-01T10:00:00Z", "prior_state": "subscribed",
         "expect": {"action": "opt_out"}, "why": "deliberately wrong"},
        {"id": "H-3", "kind": "outbound", "category": "marketing", "to": "+15035550100",
         "send_at": "2026-08-01T10:00:00Z", "recipient_state": "opted_out",
         "expect": {"allowed": False, "next_allowed_local": None}, "why": "x"},
    ]  # fmt: skip
    result = runner.invoke(app, ["compliance", "eval", str(_write(tmp_path / "h.jsonl", cases))])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1] == "2 passed, 1 failed"
    assert any(line.startswith("FAIL H-2 action") for line in lines)


@pytest.mark.parametrize(
    "content",
    [
        "not json\n",
        '{"id": "X", "kind": "inbound", "expect": {"action": "pass"}}\n',
        '{"id": "X", "kind": "sideways", "expect": {}}\n',
        '{"id": "X", "kind": "outbound", "to": "+12125550101", "send_at": "2026-13-01T00:00:00Z",'
        ' "category": "marketing", "expect": {"allowed": true}}\n',
        "",
    ],
)
def test_eval_rejects_a_malformed_file_with_exit_2(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    result = runner.invoke(app, ["compliance", "eval", str(path)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1


def test_eval_rejects_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compliance", "eval", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2

"""The other product suites: the team's own catalogue, tone, latency, the LLM mode's cost, and
one `smsdesk eval` command end to end (its own models, report directory, errors)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.ai.models import AiModels
from app.cli import app
from app.config import Settings
from app.evals.runner import EvalContext, run_catalogue, run_decisions, run_latency, run_tone
from tests.ai.fake_openai import Action, FakeOpenAI, classification
from tests.conftest import REPO
from tests.evals.conftest import write_lines


def test_the_catalogue_shows_entries_that_collide(ai_models: AiModels, tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge)
    clash = (knowledge / "entries" / "store-hours.md").read_text()
    clash = clash.replace("id: store-hours", "id: opening-times").replace(
        "what time do you open", "what time does acme open"
    )
    (knowledge / "entries" / "opening-times.md").write_text(clash)
    settings = Settings(env="test", data_dir=tmp_path / "data", knowledge_dir=knowledge)
    report = run_catalogue(EvalContext.with_models(settings, ai_models))
    assert report.dataset == "kb" and report.metrics["intent_accuracy"] > 70
    collisions = next(t for t in report.tables if t.title.startswith("Entries that collide"))
    pairs = {(row[0], row[1]) for row in collisions.rows}
    assert ("opening-times", "store-hours") in pairs or ("store-hours", "opening-times") in pairs


def test_tone_labels_score_the_negative_flag(eval_ctx: EvalContext, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "tone.jsonl",
        '{"id": "a", "text": "I am so angry, you are useless, worst service ever, I hate this",'
        ' "label": "handoff", "reason": "complaint", "tone": "angry"}',
        '{"id": "c", "text": "can i change the size on my order pls", "label": "answer",'
        ' "entry": "change-order", "tone": "calm"}',
    )
    report = run_tone(eval_ctx, path)
    assert report.metrics["texts"] == 2.0
    assert report.metrics["angry_flagged_negative"] == 100.0
    assert report.metrics["calm_flagged_negative"] == 0.0


def test_latency_is_measured_beside_the_embedding(eval_ctx: EvalContext, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "t.jsonl",
        '{"id": "a", "text": "what time do you close", "label": "answer", "entry": "store-hours"}',
        '{"id": "b", "text": "STOP", "label": "optout"}',
        '{"id": "c", "text": "where is my order", "label": "answer", "entry": "order-status"}',
    )
    report = run_latency(eval_ctx, path, repeats=2)
    assert report.metrics["texts"] == 2.0  # STOP never reaches the AI layer
    assert 0 < report.metrics["embed_p50_ms"] <= report.metrics["embed_p95_ms"]
    assert report.metrics["ai_p95_ms"] > 0 and report.metrics["p95_ratio_to_embedding"] > 0


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    yield server
    server.close()


def test_the_llm_mode_reports_tokens_and_cost(
    ai_models: AiModels, llm: FakeOpenAI, tmp_path: Path
) -> None:
    settings = Settings(
        env="test", data_dir=tmp_path / "data", knowledge_dir=REPO / "knowledge",
        llm_base_url=llm.base_url, llm_max_retries=0,
        llm_price_input_per_mtok=1.0, llm_price_output_per_mtok=2.0,
    )  # fmt: skip
    llm.script("classify", Action(classification("store_hours")))
    llm.script("draft", Action("Acme stores close at 9pm Monday to Saturday. acme.com/stores"))
    path = write_lines(
        tmp_path / "l.jsonl",
        '{"id": "a", "text": "what time do you close?", "label": "answer", "entry": "store-hours"}',
    )
    report = run_decisions(EvalContext.with_models(settings, ai_models), path, limit=None)
    usage = report.items[0]["record"]["llm"]
    assert usage["calls"] == 2 and usage["prompt_tokens"] > 100 and usage["completion_tokens"] > 5
    expected = (usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 2.0) / 1e6
    assert usage["cost_usd"] == pytest.approx(expected, rel=1e-3)
    assert (
        report.metrics["llm_tokens_per_text"] == usage["prompt_tokens"] + usage["completion_tokens"]
    )
    assert report.metrics["llm_cost_per_1000_texts"] == pytest.approx(1000 * expected, rel=1e-2)


def test_one_command_end_to_end_writes_the_report_directory(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "mine.csv",
        "text,label,entry,reason",
        "what time do you close on saturday?,answer,store-hours,",
        "i want to speak with a real person,handoff,,person",
    )
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["eval", "decisions", str(path), "--out", str(out)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "decisions · mine" in result.output and f"report: {out / 'report.html'}" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["format"] == "smsdesk.eval-results" and results["code"]["version"]
    (suite,) = results["suites"]
    assert suite["metrics"]["texts"] == 2.0 and str(path) in suite["data_files"]
    assert results["settings"]["retrieval_min_score"] == 0.45
    assert "<html" in (out / "report.html").read_text()


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["eval", "decisions", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and missing.output.startswith("error: ")
    assert "nope.jsonl: cannot read" in missing.output
    no_folder = runner.invoke(app, ["eval", "decisions", "--knowledge", str(tmp_path / "kb")])
    assert no_folder.exit_code == 2 and "not a folder" in no_folder.output
    bad = write_lines(tmp_path / "bad.yaml", "scenarios:", "- id: x", "  turns: []")
    broken = runner.invoke(app, ["eval", "conversations", str(bad)])
    assert broken.exit_code == 2 and f"{bad}:2: scenarios.0.description" in broken.output

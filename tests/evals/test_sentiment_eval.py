"""`smsdesk eval sentiment`: the JSON report, clear errors, and the scoring harness itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.evals.sentiment import load_jsonl, read_index_predictions, score_labels

runner = CliRunner()
SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "sentiment"

TINY = [
    {"text": "this is the worst service ever, I'm furious", "label": "negative"},
    {"text": "thanks so much, great help!", "label": "positive"},
    {"text": "The store opens at 9am on Monday.", "label": "neutral"},
    {"text": "I hate waiting on hold for an hour, awful", "label": "negative"},
]


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_writes_the_report_as_json(tmp_path: Path) -> None:
    data = _write(tmp_path / "tiny.jsonl", TINY)
    out = tmp_path / "out.json"
    args = [
        "eval",
        "sentiment",
        "--dataset",
        "tweeteval",
        "--path",
        str(data),
        "--json",
        str(out),
        "--out",
        str(out.parent / "report"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["suite"] == "sentiment"
    assert report["dataset"] == "tweeteval"
    assert {"macro_recall", "negative_f1"} <= set(report["metrics"])
    assert report["config"]["examples"] == 4
    details = report["details"]
    assert {"vader", "embedding_head", "combined_head"} <= set(details["comparison"])
    assert details["references"]["roberta_base_macro_recall"] == 71.3
    assert sum(map(sum, details["confusion"]["matrix"])) == 4


def test_limit_takes_the_first_examples(tmp_path: Path) -> None:
    data = _write(tmp_path / "tiny.jsonl", TINY)
    assert [e.text for e in load_jsonl(data, limit=2)] == [TINY[0]["text"], TINY[1]["text"]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ('{"text": "hi", "label": "negative"}\n{oops\n', "line 2 of"),
        ('{"text": "hi", "label": "angry"}\n', "'label' in negative|neutral|positive"),
        ("", "no examples"),
    ],
)
def test_bad_path_is_a_clear_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "test.jsonl"
    if content is not None:
        path.write_text(content)
    args = [
        "eval",
        "sentiment",
        "--dataset",
        "tweeteval",
        "--path",
        str(path),
        "--out",
        str(path.parent / "r"),
    ]
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2
    shown = " ".join(result.output.split())
    assert shown.startswith("error: ") and message in shown
    assert "Traceback" not in result.output
    assert not (result.exception and not isinstance(result.exception, SystemExit))


def test_scoring_matches_hand_computed_figures() -> None:
    gold = ["negative", "negative", "neutral", "positive"]
    predicted = ["negative", "neutral", "neutral", "negative"]
    scores = score_labels(gold, predicted)  # type: ignore[arg-type]
    # recall: negative 1/2, neutral 1/1, positive 0/1; negative precision 1/2
    assert scores["macro_recall"] == pytest.approx(50.0)
    assert scores["negative_f1"] == pytest.approx(50.0)
    assert scores["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets not on this machine")
def test_harness_reproduces_the_released_roberta_score() -> None:
    gold = [e.label for e in load_jsonl(SHARED / "tweeteval_sentiment_test.jsonl")]
    predicted = read_index_predictions(SHARED / "tweeteval_sentiment_test_predictions_RoB-Rt.txt")
    scores = score_labels(gold, predicted)
    assert scores["macro_recall"] == pytest.approx(72.86, abs=0.005)
    assert scores["accuracy"] == pytest.approx(72.32, abs=0.005)

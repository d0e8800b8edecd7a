"""`smsdesk eval intents` end to end on small seeded samples of the public data sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.errors import ConfigurationError
from app.evals.intents import evaluate_intents, load_splits

runner = CliRunner()


def test_clinc150_report_is_written_as_json(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = runner.invoke(
        app,
        [
            "eval",
            "intents",
            "--dataset",
            "clinc150",
            "--limit",
            "120",
            "--json",
            str(out),
            "--out",
            str(out.parent / "report"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["suite"] == "intents"
    assert report["dataset"] == "clinc150"
    assert set(report["metrics"]) == {"in_scope_accuracy", "oos_recall"}
    for value in report["metrics"].values():
        assert 0.0 <= value <= 100.0
    assert report["config"]["limit"] == 120
    assert report["config"]["sizes"]["train"] == 120
    assert report["config"]["oos_method"] in ("energy", "msp")
    details = report["details"]
    assert details["references"] == {"in_scope_accuracy": 96.2, "oos_recall": 52.3}
    curve = details["tradeoff_curve"]
    assert curve["shipped"]["chosen_on"] == "validation"
    assert curve["shipped"]["in_scope_accuracy"] == report["metrics"]["in_scope_accuracy"]
    assert len(curve["points"]) > 5
    assert details["candidates"], "every validation setting is reported"


def test_banking77_reports_accuracy(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = runner.invoke(
        app,
        [
            "eval",
            "intents",
            "--dataset",
            "banking77",
            "--limit",
            "150",
            "--json",
            str(out),
            "--out",
            str(out.parent / "report"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(report["metrics"]) == {"accuracy"}
    assert report["details"]["references"] == {"accuracy": 93.66}
    assert report["config"]["validation"] == "10% of train"


@pytest.mark.parametrize("dataset", ["banking77", "hwu64"])
def test_validation_is_carved_from_train_deterministically(dataset: str) -> None:
    splits = load_splits(dataset)
    again = load_splits(dataset)
    assert splits.val == again.val
    assert not set(splits.val) & set(splits.train)
    total = len(splits.train) + len(splits.val)
    assert 0.08 < len(splits.val) / total < 0.11
    assert {label for _, label in splits.val} == {label for _, label in splits.train}


def test_clinc150_splits_have_the_published_sizes() -> None:
    splits = load_splits("clinc150")
    sizes = [len(splits.train), len(splits.val), len(splits.test)]
    assert sizes == [15_000, 3_000, 4_500]
    assert (len(splits.oos_val), len(splits.oos_test)) == (100, 1_000)


def test_unknown_dataset_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown intent data set"):
        load_splits("snips")


@pytest.mark.slow
def test_finetuned_encoder_is_measured_alongside_the_product_head() -> None:
    report = evaluate_intents("clinc150", limit=64, finetune=True)
    assert report.config["encoder_finetuned"] is False  # the metrics are the product's
    tuned = report.details["finetuned"]
    assert set(tuned["metrics"]) == {"in_scope_accuracy", "oos_recall"}
    assert tuned["settings"]["top_layers"] == 2
    assert tuned["tradeoff_curve"]["shipped"]["chosen_on"] == "validation"
    assert tuned["timings_seconds"]["finetune"] >= 0

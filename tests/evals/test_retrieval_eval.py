"""The Bitext retrieval eval: metric arithmetic, the split, and a small run through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import app
from app.config import get_settings
from app.errors import InvalidInput
from app.evals.retrieval import (
    QUERY_FRACTION,
    SEED,
    evaluate_retrieval,
    load_bitext,
    rank_metrics,
    stratified_split,
)


def test_rank_metrics_counts_the_first_entry_with_the_right_label() -> None:
    scores = np.asarray(
        [
            [0.9, 0.8, 0.1],  # a: rank 1
            [0.9, 0.8, 0.1],  # b: rank 2
            [0.9, 0.8, 0.7],  # c: rank 3
        ],
        dtype=np.float32,
    )
    metrics = rank_metrics(scores, ["a", "b", "c"], ["a", "b", "c"])
    assert metrics["recall_at_1"] == pytest.approx(33.33)
    assert metrics["recall_at_5"] == 100.0
    assert metrics["mrr"] == pytest.approx(100 * (1 + 1 / 2 + 1 / 3) / 3, abs=0.01)


def test_split_is_stratified_disjoint_and_deterministic() -> None:
    labels = [row.intent for row in load_bitext()]
    assert len(labels) == 4514
    held, rest = stratified_split(labels, QUERY_FRACTION, SEED)
    assert not set(held) & set(rest)
    assert len(held) + len(rest) == len(labels)
    assert (held, rest) == stratified_split(labels, QUERY_FRACTION, SEED)
    for intent in set(labels):
        total = labels.count(intent)
        assert sum(labels[i] == intent for i in held) == round(QUERY_FRACTION * total)


def test_unknown_dataset_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown retrieval dataset"):
        evaluate_retrieval("squad")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_cli_writes_the_report_json(data_dir: Path) -> None:
    out = data_dir / "out.json"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "retrieval",
            "--dataset",
            "bitext",
            "--limit",
            "5",
            "--json",
            str(out),
            "--out",
            str(out.parent / "report"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["suite"] == "retrieval"
    assert report["dataset"] == "bitext"
    assert set(report["metrics"]) == {"recall_at_1", "recall_at_5", "mrr"}
    assert all(0.0 <= value <= 100.0 for value in report["metrics"].values())
    assert report["config"]["queries"] == 5
    assert report["config"]["limited"] is True
    assert "recall_at_1" in report["details"]["references"]
    assert "qa_cosine (protocol baseline)" in report["details"]["configurations"]

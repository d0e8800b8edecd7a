"""The negative-sentiment signal: sensible scores, a sane shipped artifact, clear load errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.ai.encoder import get_encoder
from app.ai.sentiment import (
    CLASSES,
    DEFAULT_DIR,
    FORMAT,
    MANIFEST,
    WEIGHTS,
    SentimentModel,
    vader_label,
)
from app.errors import ConfigurationError

ANGRY = "this is the worst service ever, I'm furious"
HAPPY = "thanks so much, great help!"


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel.load_default()


def test_obvious_texts_are_scored_sensibly(model: SentimentModel) -> None:
    vectors = get_encoder().encode([ANGRY, HAPPY, "my order number is 12345"])
    angry = model.score(ANGRY, vectors[0])
    happy = model.score(HAPPY, vectors[1])
    assert angry.label == "negative"
    assert angry.negative > 0.8
    assert angry.compound < -0.5
    assert happy.label == "positive"
    assert happy.negative < 0.1
    assert happy.compound > 0.5


def test_batch_matches_single_scores(model: SentimentModel) -> None:
    texts = [ANGRY, HAPPY]
    vectors = get_encoder().encode(texts)
    batch = model.score_batch(texts, vectors)
    singles = [model.score(t, v) for t, v in zip(texts, vectors, strict=True)]
    assert [s.label for s in batch] == [s.label for s in singles]
    assert [s.negative for s in batch] == pytest.approx([s.negative for s in singles], abs=1e-6)
    assert model.score_batch([], np.zeros((0, 384), dtype=np.float32)) == []


def test_batch_refuses_mismatched_vectors(model: SentimentModel) -> None:
    with pytest.raises(ValueError, match="vector per text"):
        model.score_batch([ANGRY, HAPPY], np.zeros((1, 384), dtype=np.float32))


def test_probabilities_are_a_distribution(model: SentimentModel) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for head in model.heads.values():
        probs = head.probabilities(vectors, model.vader_features(["a"] * 5))
        assert probs.shape == (5, 3)
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_vader_rule_uses_the_published_band() -> None:
    assert vader_label(0.05) == "positive"
    assert vader_label(0.0) == "neutral"
    assert vader_label(-0.05) == "negative"


def test_manifest_is_sane(model: SentimentModel) -> None:
    manifest = model.manifest
    assert manifest["format"] == FORMAT
    assert manifest["classes"] == list(CLASSES)
    assert manifest["serve"] in model.heads
    assert {"vader_lr", "embedding", "combined"} <= set(model.heads)
    assert "tweeteval_val" in manifest["training_data"]
    assert "never" in manifest["splits"]["test"]
    served = manifest["validation"][manifest["heads"][manifest["serve"]]["config"]["name"]]
    assert 50 < served["cv_macro_recall"] < 100
    assert (DEFAULT_DIR / WEIGHTS).stat().st_size < 1_000_000


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "artifact"
    shutil.copytree(DEFAULT_DIR, target)
    return target


def test_missing_artifact_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"manifest\.json is missing"):
        SentimentModel.load(tmp_path / "nowhere")
    artifact = _copy(tmp_path)
    (artifact / WEIGHTS).unlink()
    with pytest.raises(ConfigurationError, match=r"head\.npz is missing"):
        SentimentModel.load(artifact)


def test_corrupt_weights_are_a_configuration_error(tmp_path: Path) -> None:
    artifact = _copy(tmp_path)
    (artifact / WEIGHTS).write_bytes(b"not an npz")
    with pytest.raises(ConfigurationError, match="sha256"):
        SentimentModel.load(artifact)


def test_corrupt_manifest_is_a_configuration_error(tmp_path: Path) -> None:
    artifact = _copy(tmp_path)
    (artifact / MANIFEST).write_text("{not json")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        SentimentModel.load(artifact)
    manifest = json.loads((DEFAULT_DIR / MANIFEST).read_text())
    manifest["heads"]["combined"]["features"] = ["embedding"]  # widths no longer chain
    (artifact / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ConfigurationError, match="inconsistent"):
        SentimentModel.load(artifact)

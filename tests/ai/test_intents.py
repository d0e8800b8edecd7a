"""The intent classifier through its real code path: the shared encoder, training, artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.ai.encoder import get_encoder
from app.ai.intent_training import choose_threshold, stratified_holdout
from app.ai.intents import FORMAT_VERSION, MANIFEST_NAME, WEIGHTS_NAME, IntentModel
from app.errors import ConfigurationError

CATALOGUE = {
    "opening_hours": [
        "what time do you open",
        "are you open on sunday",
        "when do you close today",
        "what are your hours",
        "is the store open on public holidays",
        "how late are you open tonight",
    ],
    "refund": [
        "i want my money back",
        "how do i get a refund",
        "can i return this for a refund",
        "my refund has not arrived yet",
        "refund my last order please",
        "when will i be refunded",
    ],
    "track_order": [
        "where is my package",
        "track my order",
        "my delivery has not arrived",
        "when will my parcel be delivered",
        "has my order shipped yet",
        "what is the tracking number for my order",
    ],
    "cancel_subscription": [
        "cancel my subscription",
        "i want to stop my monthly plan",
        "how do i end my membership",
        "please cancel my account plan",
        "unsubscribe me from the premium plan",
        "stop renewing my subscription",
    ],
}
OOS = [
    "what is the capital of mongolia",
    "tell me a joke about penguins",
    "who won the football game last night",
    "how many legs does a spider have",
]


@pytest.fixture(scope="module")
def model() -> IntentModel:
    """One small model for the whole file (training takes a second or two)."""
    examples = [(text, intent) for intent, texts in CATALOGUE.items() for text in texts]
    return IntentModel.train(examples, oos_examples=OOS[:2])


def test_known_intents_are_recognised(model: IntentModel) -> None:
    texts = ["are you open tomorrow morning", "i'd like a refund for my shoes"]
    predictions = model.predict_texts(texts)
    assert [p.intent for p in predictions] == ["opening_hours", "refund"]
    for prediction in predictions:
        assert not prediction.out_of_scope
        assert 0.0 < prediction.confidence <= 1.0
        assert prediction.top[0] == (prediction.intent, prediction.confidence)
        assert [prob for _, prob in prediction.top] == sorted(
            (prob for _, prob in prediction.top), reverse=True
        )


def test_unrelated_text_is_out_of_scope(model: IntentModel) -> None:
    # Neither text was seen in training or validation.
    for prediction in model.predict_texts(OOS[2:]):
        assert prediction.out_of_scope, prediction


def test_a_single_vector_is_accepted(model: IntentModel) -> None:
    vector = get_encoder().encode_one("cancel my plan")
    (prediction,) = model.predict(vector)
    assert prediction.intent == "cancel_subscription"


def test_save_and_load_give_identical_predictions(model: IntentModel, tmp_path: Path) -> None:
    vectors = get_encoder().encode(["where's my parcel", "what's the weather on mars", "refund"])
    loaded = IntentModel.load(model.save(tmp_path / "intents"))
    assert loaded.predict(vectors) == model.predict(vectors)
    assert loaded.labels == model.labels
    assert loaded.threshold == model.threshold


def test_manifest_describes_the_artifact(model: IntentModel, tmp_path: Path) -> None:
    folder = model.save(tmp_path / "intents")
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST_NAME, WEIGHTS_NAME]
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["format"] == "smsdesk.intent-model"
    assert manifest["version"] == FORMAT_VERSION
    assert manifest["encoder"] == {"name": "all-MiniLM-L6-v2", "dimensions": 384}
    assert manifest["labels"] == sorted(CATALOGUE)
    assert manifest["oos"]["method"] in ("energy", "msp")
    assert manifest["oos"]["threshold"] == model.threshold
    assert manifest["temperature"] > 0
    assert {"accuracy", "in_scope_accuracy", "oos_recall"} <= set(manifest["validation"])
    assert manifest["hyperparameters"]["oos_validation_size"] == 2
    assert len(manifest["weights"]["sha256"]) == 64
    assert manifest["created_at"].endswith("+00:00")
    with np.load(folder / WEIGHTS_NAME, allow_pickle=False) as weights:
        assert weights["coef"].shape == (len(CATALOGUE), 384)


def test_missing_artifact_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="smsdesk train"):
        IntentModel.load(tmp_path / "nothing-here")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda folder: (folder / MANIFEST_NAME).write_text("{not json"), "unreadable"),
        (lambda folder: _edit_manifest(folder, version=99), "version 99"),
        (lambda folder: _edit_manifest(folder, format="something-else"), "not an intent model"),
        (lambda folder: _edit_manifest(folder, encoder={"name": "bert"}), "encoder 'bert'"),
        (lambda folder: _edit_manifest(folder, oos={"method": "vibes"}), "vibes"),
        (lambda folder: _edit_manifest(folder, temperature="hot"), "malformed"),
        (lambda folder: (folder / WEIGHTS_NAME).write_bytes(b"garbage"), "checksum"),
        (lambda folder: (folder / WEIGHTS_NAME).unlink(), "missing"),
    ],
)
def test_damaged_artifact_is_a_configuration_error(
    model: IntentModel, tmp_path: Path, damage: object, message: str
) -> None:
    folder = model.save(tmp_path / "intents")
    assert callable(damage)
    damage(folder)
    with pytest.raises(ConfigurationError, match=message):
        IntentModel.load(folder)


def test_training_needs_two_intents_and_enough_examples() -> None:
    with pytest.raises(ConfigurationError, match="two intents"):
        IntentModel.train([(text, "refund") for text in CATALOGUE["refund"]])
    with pytest.raises(ConfigurationError, match="too few examples"):
        IntentModel.train([("refund please", "refund"), ("open today?", "opening_hours")])


def test_holdout_is_stratified_and_deterministic() -> None:
    labels = ["a"] * 20 + ["b"] * 10 + ["c"] * 2
    mask = stratified_holdout(labels)
    assert np.array_equal(mask, stratified_holdout(labels))
    held = [label for label, out in zip(labels, mask, strict=True) if out]
    assert sorted(held) == ["a", "a", "b"]  # 10% of each; never an intent's only examples


def test_threshold_spends_exactly_the_accuracy_budget() -> None:
    scores = np.arange(100, dtype=np.float64)
    correct = np.ones(100, dtype=bool)
    # 2 points of 100 texts: the two lowest-scoring correct texts may fall below it.
    assert choose_threshold(scores, correct, budget=2.0) == 2.0
    correct[:10] = False  # wrong answers cost nothing when flagged
    assert choose_threshold(scores, correct, budget=2.0) == 12.0


def _edit_manifest(folder: Path, **changes: object) -> None:
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    manifest.update(changes)
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))

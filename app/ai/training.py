"""`smsdesk train`: the intent classifier trained on the knowledge base, versioned on disk.

Training data: every intent's examples and every entry's question and phrasings (labelled with
the entry's intent), plus `knowledge/out_of_scope.yaml` for the out-of-scope threshold. The
artifact records a digest of that data, so a serving process retrains when the knowledge
changed ("run automatically on first start").
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app import log
from app.ai.encoder import MODEL_NAME
from app.ai.intents import IntentModel
from app.ai.knowledge import KnowledgeBase
from app.config import Settings
from app.errors import ConfigurationError

OUT_OF_SCOPE_FILE = "out_of_scope.yaml"
_logger = log.get_logger("ai.training")


@dataclass(frozen=True)
class TrainingData:
    """What the intent classifier learns from, and its digest."""

    examples: list[tuple[str, str]]
    out_of_scope: list[str]

    @property
    def digest(self) -> str:
        """Changes whenever the data (or the encoder) does."""
        raw = json.dumps([MODEL_NAME, self.examples, self.out_of_scope], ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class TrainReport:
    """The outcome of one training run."""

    path: Path
    intents: int
    examples: int
    seconds: float
    validation: dict[str, float]


def training_data(kb: KnowledgeBase) -> TrainingData:
    """The labelled texts of a knowledge base (deduplicated, in file order)."""
    pairs: dict[tuple[str, str], None] = {}
    for name, intent in kb.intents.items():
        pairs.update(((text, name), None) for text in intent.examples)
    for entry in kb.entries:
        pairs.update(((text, entry.intent), None) for text in entry.texts())
    return TrainingData(list(pairs), _out_of_scope(kb.root / OUT_OF_SCOPE_FILE))


def _out_of_scope(path: Path) -> list[str]:
    if not path.is_file():
        return []
    raw: Any = yaml.safe_load(path.read_text("utf-8"))
    examples = raw.get("examples") if isinstance(raw, dict) else None
    if not isinstance(examples, list) or not all(isinstance(t, str) for t in examples):
        raise ConfigurationError(f"{path}: expected `examples:` as a list of texts")
    return examples


def intent_model_path(settings: Settings) -> Path:
    """Where the serving intent model lives."""
    return settings.models_dir / "intents"


def train_intents(settings: Settings, kb: KnowledgeBase) -> TrainReport:
    """Train the intent classifier on `kb` and save it (replacing the previous one)."""
    data = training_data(kb)
    started = time.perf_counter()
    model = IntentModel.train(data.examples, oos_examples=data.out_of_scope)
    model.hyperparameters["training_data_sha256"] = data.digest
    path = model.save(intent_model_path(settings))
    seconds = time.perf_counter() - started
    _logger.info(
        "ai.trained",
        intents=len(model.labels),
        examples=len(data.examples),
        seconds=round(seconds, 1),
    )
    return TrainReport(path, len(model.labels), len(data.examples), seconds, dict(model.validation))


def load_or_train_intents(settings: Settings, kb: KnowledgeBase) -> IntentModel:
    """The saved intent model if it was trained on this knowledge, else a freshly trained one."""
    path = intent_model_path(settings)
    digest = training_data(kb).digest
    if (path / "manifest.json").is_file():
        model = IntentModel.load(path)
        if model.hyperparameters.get("training_data_sha256") == digest:
            return model
        _logger.info("ai.retraining", reason="the knowledge base changed")
    train_intents(settings, kb)
    return IntentModel.load(path)

"""Sentiment eval: score the negative-sentiment signal on TweetEval (SemEval-2017 Task 4A).

TweetEval's official metric is macro-averaged recall over negative, neutral and positive; the
product cares most about the negative class, so negative F1 is reported next to it. The suite
compares VADER alone, the embedding-only head and the served head on the same texts, and
shows published figures beside them. The test file is tweet text that may not be republished,
so it is read from a path and never committed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.ai.sentiment import CLASSES, Label, SentimentModel, vader_label
from app.errors import InvalidInput
from app.evals.report import EvalReport

DATASETS = ("tweeteval",)
REFERENCES: dict[str, float] = {
    "macro_recall": 64.3,
    "negative_f1": 65.6,
    "vader_macro_recall": 57.0,
    "vader_negative_f1": 58.2,
    "roberta_base_macro_recall": 71.3,
}
"""Figures to read ours against; keys match metric names so the table lines them up."""
REFERENCE_SOURCES: dict[str, str] = {
    "macro_recall": "frozen MiniLM + VADER linear head (issue baseline; not published)",
    "negative_f1": "frozen MiniLM + VADER linear head (issue baseline; not published)",
    "vader_macro_recall": "VADER alone, compound ±0.05 (issue; reproduced here: 57.00)",
    "vader_negative_f1": "VADER alone, compound ±0.05 (issue; reproduced here: 58.22)",
    "roberta_base_macro_recall": "RoBERTa-base, Barbieri et al. 2020 TweetEval README (primary)",
}


class EvalDataError(InvalidInput):
    """The eval's data file (or an option about it) is missing or malformed."""

    code = "invalid_eval_data"


@dataclass(frozen=True)
class Example:
    """One labelled text."""

    text: str
    label: Label


def load_jsonl(path: Path, *, limit: int | None = None) -> list[Example]:
    """Read `{"text", "label"}` lines (label negative|neutral|positive); errors name the line."""
    if limit is not None and limit < 1:
        raise EvalDataError(f"--limit must be at least 1, not {limit}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise EvalDataError(f"no such file: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalDataError(f"cannot read {path}: {exc}") from exc
    examples: list[Example] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalDataError(f"line {number} of {path}: not JSON ({exc.msg})") from exc
        text, label = (row.get("text"), row.get("label")) if isinstance(row, dict) else (None, None)
        if not isinstance(text, str) or label not in CLASSES:
            raise EvalDataError(
                f"line {number} of {path}: need a string 'text' and a 'label' in "
                + "|".join(CLASSES)
            )
        examples.append(Example(text=text, label=label))
        if limit is not None and len(examples) >= limit:
            break
    if not examples:
        raise EvalDataError(f"{path}: no examples")
    return examples


def read_index_predictions(path: Path) -> list[Label]:
    """TweetEval's released prediction files: one class index a line (0 neg, 1 neu, 2 pos)."""
    try:
        lines = path.read_text(encoding="utf-8").split()
        return [CLASSES[int(value)] for value in lines]
    except (OSError, ValueError, IndexError) as exc:
        raise EvalDataError(f"{path}: not a TweetEval prediction file: {exc}") from exc


def score_labels(gold: Sequence[Label], predicted: Sequence[Label]) -> dict[str, Any]:
    """Macro recall, negative F1, accuracy (percent), per-class recall and the confusion matrix."""
    if len(gold) != len(predicted) or not gold:
        raise EvalDataError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    index = {name: i for i, name in enumerate(CLASSES)}
    confusion = np.zeros((len(CLASSES), len(CLASSES)), dtype=np.int64)
    for g, p in zip(gold, predicted, strict=True):
        confusion[index[g], index[p]] += 1
    support = confusion.sum(axis=1)
    # A class absent from a small (--limit) sample has no recall; leave it out of the mean.
    recall = {
        name: 100.0 * confusion[i, i] / support[i]
        for i, name in enumerate(CLASSES)
        if support[i] > 0
    }
    predicted_negative = int(confusion[:, 0].sum())
    precision_neg = 100.0 * confusion[0, 0] / predicted_negative if predicted_negative else 0.0
    recall_neg = recall.get("negative", 0.0)
    f1_neg = (
        2 * precision_neg * recall_neg / (precision_neg + recall_neg)
        if precision_neg + recall_neg
        else 0.0
    )
    return {
        "macro_recall": float(np.mean(list(recall.values()))),
        "negative_f1": float(f1_neg),
        "negative_precision": float(precision_neg),
        "negative_recall": float(recall_neg),
        "accuracy": float(100.0 * np.trace(confusion) / confusion.sum()),
        "per_class_recall": {name: round(float(value), 2) for name, value in recall.items()},
        "confusion": {
            "labels": list(CLASSES),
            "rows_are": "gold",
            "matrix": confusion.tolist(),
        },
    }


def _labels(probs: npt.NDArray[np.float32]) -> list[Label]:
    return [CLASSES[int(i)] for i in probs.argmax(axis=1)]


def evaluate_sentiment(dataset: str, path: Path, *, limit: int | None = None) -> EvalReport:
    """Score VADER, the embedding head and the served head on a labelled JSONL test file."""
    if dataset not in DATASETS:
        raise EvalDataError(f"unknown data set {dataset!r}; known: {DATASETS}")
    examples = load_jsonl(path, limit=limit)
    from app.ai.encoder import MODEL_NAME, get_encoder
    from app.config import get_settings

    model = SentimentModel.load_default()
    texts = [e.text for e in examples]
    gold = [e.label for e in examples]
    vectors = get_encoder().encode(texts)
    vader = model.vader_features(texts)
    predictions: dict[str, list[Label]] = {"vader": [vader_label(float(c)) for c in vader[:, 3]]}
    served_probs = model.heads[model.serve].probabilities(vectors, vader)
    for name, head in model.heads.items():
        probs = served_probs if name == model.serve else head.probabilities(vectors, vader)
        predictions[f"{name}_head"] = _labels(probs)
    scores = {name: score_labels(gold, labels) for name, labels in predictions.items()}
    served = scores[f"{model.serve}_head"]

    threshold = get_settings().negative_sentiment_threshold
    flagged = served_probs[:, 0] >= threshold
    is_negative = np.array([g == "negative" for g in gold])
    escalation = {
        "threshold": threshold,
        "flagged_percent": round(100.0 * float(flagged.mean()), 2),
        "precision": round(100.0 * float(is_negative[flagged].mean()), 2)
        if flagged.any()
        else None,
        "recall": round(100.0 * float(flagged[is_negative].mean()), 2)
        if is_negative.any()
        else None,
    }
    metrics = {
        key: round(float(served[key]), 2)
        for key in ("macro_recall", "negative_f1", "negative_precision", "negative_recall")
    }
    metrics["accuracy"] = round(float(served["accuracy"]), 2)
    for variant in ("vader", "embedding_head"):
        if variant in scores:
            metrics[f"{variant}_macro_recall"] = round(float(scores[variant]["macro_recall"]), 2)
            metrics[f"{variant}_negative_f1"] = round(float(scores[variant]["negative_f1"]), 2)
    return EvalReport(
        suite="sentiment",
        dataset=dataset,
        metrics=metrics,
        config={
            "path": str(path),
            "examples": len(examples),
            "limit": limit,
            "encoder": MODEL_NAME,
            "artifact_version": model.version,
            "served_head": model.serve,
            "decision": "argmax of the head's probabilities (logit offsets in the artifact)",
        },
        details={
            "per_class_recall": served["per_class_recall"],
            "confusion": served["confusion"],
            "comparison": {
                name: {
                    key: round(float(value), 2)
                    for key, value in score.items()
                    if key not in ("per_class_recall", "confusion")
                }
                | {"per_class_recall": score["per_class_recall"]}
                for name, score in scores.items()
            },
            "escalation_at_threshold": escalation,
            "references": dict(REFERENCES),
            "reference_sources": dict(REFERENCE_SOURCES),
            "validation_from_manifest": model.manifest.get("validation", {}),
        },
    )

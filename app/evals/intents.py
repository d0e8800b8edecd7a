"""`smsdesk eval intents`: the product's intent classifier on CLINC150, BANKING77 and HWU64.

Protocol (the published one for each set): train on the train split, choose every
hyper-parameter and the out-of-scope threshold on validation only, report on test.
CLINC150 ships `val` and `oos_val`; BANKING77 and HWU64 have no validation split, so a
stratified 10% of train is held out with a fixed seed (as DialoGLUE does for HWU64).
The test split is read after the model is final; the CLINC150 trade-off curve is computed
on test for reporting only, with the shipped (validation-chosen) threshold marked on it.

`finetune=True` also measures an encoder whose top layers are tuned on the train split (the
product does not serve it: it would cost a second encoder pass per text); the CLI has no flag
for it yet, so run it as `evaluate_intents("clinc150", finetune=True)`.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.ai.encoder import MODEL_NAME, Vectors, get_encoder
from app.ai.intent_training import (
    MAX_IN_SCOPE_LOSS,
    SEED,
    VALIDATION_FRACTION,
    FineTuneSettings,
    finetune_encoder,
    stratified_holdout,
    train_from_vectors,
)
from app.ai.intents import IntentModel
from app.errors import ConfigurationError
from app.evals.report import EvalReport, Plot
from app.log import get_logger

log = get_logger(__name__)

DATA_DIR = Path(__file__).resolve().parents[2] / "evals" / "data"
DATASETS = ("clinc150", "banking77", "hwu64")
OOS_LABEL = "oos"

# Published figures to read ours against (percent; see ../shared/datasets/README.md).
REFERENCES: dict[str, dict[str, float]] = {
    # Larson et al. 2019, Table 2, BERT with the oos-threshold method (primary).
    "clinc150": {"in_scope_accuracy": 96.2, "oos_recall": 52.3},
    # Casanueva et al. 2020, Table 3, BERT-Tuned full train (secondary).
    "banking77": {"accuracy": 93.66},
    # Casanueva et al. 2020, Table 3, USE+ConveRT full train (secondary).
    "hwu64": {"accuracy": 92.62},
}
REFERENCE_SOURCES = {
    "clinc150": "Larson et al. 2019 (EMNLP), Table 2, BERT, oos-threshold, full training set",
    "banking77": "Casanueva et al. 2020, Table 3, BERT-Tuned (BERT-Large), full train",
    "hwu64": "Casanueva et al. 2020, Table 3, USE+ConveRT, full train",
}

Pairs = list[tuple[str, str]]


@dataclass
class Splits:
    """One data set's texts: in-scope train/val/test and, for CLINC150, out-of-scope ones."""

    train: Pairs
    val: Pairs
    test: Pairs
    oos_val: list[str] = field(default_factory=list)
    oos_test: list[str] = field(default_factory=list)
    val_source: str = "given"


def load_splits(dataset: str, *, limit: int | None = None, data_dir: Path = DATA_DIR) -> Splits:
    """Read a data set's splits; `limit` keeps a seeded sample of at most that many per split."""
    if dataset not in DATASETS:
        raise ConfigurationError(f"unknown intent data set {dataset!r} (one of {DATASETS})")
    folder = data_dir / dataset
    if not folder.is_dir():
        raise ConfigurationError(f"intent data set {dataset} not found at {folder}")
    if dataset == "clinc150":
        raw = json.loads((folder / "data_full.json").read_text())
        pairs = {name: [(text, label) for text, label in raw[name]] for name in raw}
        train, val, test = pairs["train"], pairs["val"], pairs["test"]
        oos_val = [text for text, _ in pairs["oos_val"]]
        oos_test = [text for text, _ in pairs["oos_test"]]
        splits = Splits(train, val, test, oos_val, oos_test)
    else:
        if dataset == "banking77":
            train, test = (_read_csv(folder / f"{name}.csv") for name in ("train", "test"))
        else:
            train, test = (_read_jsonl(folder / f"{name}.jsonl") for name in ("train", "test"))
        held = stratified_holdout([label for _, label in train])
        val = [pair for pair, out in zip(train, held, strict=True) if out]
        train = [pair for pair, out in zip(train, held, strict=True) if not out]
        splits = Splits(train, val, test, val_source=f"{VALIDATION_FRACTION:.0%} of train")
    return _limited(splits, limit) if limit is not None else splits


def evaluate_intents(
    dataset: str, *, limit: int | None = None, finetune: bool = False
) -> EvalReport:
    """Train the product classifier on `dataset`, tune on validation, report on test.

    The metrics are the product configuration's: a head on the frozen shared encoder. With
    `finetune`, an encoder whose top layers were tuned on the train split is measured too
    (same head, same validation protocol) and reported under details["finetuned"].
    """
    started = time.perf_counter()
    splits = load_splits(dataset, limit=limit)
    run = _run(dataset, splits, get_encoder().encode)
    details = run.details
    details.update(
        {
            "references": REFERENCES[dataset],
            "reference_source": REFERENCE_SOURCES[dataset],
            "head_ms_per_text": round(run.serving_ms, 4),
        }
    )
    if dataset == "clinc150":
        details["tradeoff_curve"] = _tradeoff_curve(run.model, run.result)
    config = {
        "encoder": MODEL_NAME,
        "encoder_finetuned": False,
        "head": run.model.hyperparameters["head"],
        "C": run.model.hyperparameters["C"],
        "temperature": round(run.model.temperature, 4),
        "oos_method": run.model.oos_method,
        "threshold": round(run.model.threshold, 6),
        "in_scope_loss_budget": MAX_IN_SCOPE_LOSS,
        "validation": splits.val_source,
        "seed": SEED,
        "limit": limit,
        "sizes": run.sizes,
    }
    if finetune:
        tuning = FineTuneSettings()
        tune_started = time.perf_counter()
        encoder = finetune_encoder(
            [text for text, _ in splits.train], [label for _, label in splits.train], tuning
        )
        tuned_seconds = time.perf_counter() - tune_started
        tuned = _run(dataset, splits, encoder.encode)
        tuned.details["timings_seconds"]["finetune"] = round(tuned_seconds, 1)
        tuned.details.update(
            {
                "metrics": tuned.metrics,
                "settings": asdict(tuning),
                "C": tuned.model.hyperparameters["C"],
                "oos_method": tuned.model.oos_method,
                "threshold": round(tuned.model.threshold, 6),
                "serving_note": "needs a second encoder forward pass per text (~13 ms here)",
            }
        )
        if dataset == "clinc150":
            tuned.details["tradeoff_curve"] = _tradeoff_curve(tuned.model, tuned.result)
        details["finetuned"] = tuned.details
    details["timings_seconds"]["total"] = round(time.perf_counter() - started, 1)
    log.info("evals.intents.done", dataset=dataset, **run.metrics)
    return EvalReport(
        suite="intents",
        dataset=dataset,
        metrics=run.metrics,
        config=config,
        details=details,
        plots=plots_of(details),
    )


@dataclass
class _Run:
    model: IntentModel
    result: _TestResult
    metrics: dict[str, float]
    details: dict[str, Any]
    sizes: dict[str, int]
    serving_ms: float


def _run(dataset: str, splits: Splits, encode: Callable[[Sequence[str]], Vectors]) -> _Run:
    """Encode every split, train and tune on train/validation, then score test."""
    started = time.perf_counter()
    vectors = {
        name: encode(texts)
        for name, texts in (
            ("train", [text for text, _ in splits.train]),
            ("val", [text for text, _ in splits.val]),
            ("test", [text for text, _ in splits.test]),
            ("oos_val", splits.oos_val),
            ("oos_test", splits.oos_test),
        )
    }
    encoded = time.perf_counter()
    model, tried = train_from_vectors(
        vectors["train"],
        [label for _, label in splits.train],
        val_x=vectors["val"],
        val_labels=[label for _, label in splits.val],
        oos_x=vectors["oos_val"] if splits.oos_val else None,
    )
    trained = time.perf_counter()
    # -- the model is final: only now is test data looked at ----------------------------
    test_labels = [label for _, label in splits.test]
    result = _score_test(model, vectors["test"], test_labels, vectors["oos_test"])
    metrics, details = _metrics(dataset, result)
    details["validation"] = model.validation
    details["candidates"] = [
        {
            "C": found.c,
            "oos_method": found.oos_method,
            "val_accuracy": round(found.accuracy, 2),
            "val_in_scope_accuracy": round(found.in_scope_accuracy, 2),
            "val_oos_recall": found.oos_recall,
            "threshold": round(found.threshold, 4),
        }
        for found in tried
    ]
    details["timings_seconds"] = {
        "encode": round(encoded - started, 1),
        "train": round(trained - encoded, 1),
    }
    sizes = {name: len(array) for name, array in vectors.items()}
    return _Run(model, result, metrics, details, sizes, _serving_cost_ms(model, vectors["test"]))


@dataclass
class _TestResult:
    correct: np.ndarray[Any, np.dtype[np.bool_]]
    scores: np.ndarray[Any, np.dtype[np.float64]]
    oos_scores: np.ndarray[Any, np.dtype[np.float64]]
    threshold: float
    confidence: np.ndarray[Any, np.dtype[np.float64]]


def _score_test(model: IntentModel, x: Vectors, labels: list[str], oos_x: Vectors) -> _TestResult:
    logits = model.logits(x)
    predicted = [model.labels[i] for i in logits.argmax(axis=1)]
    correct = np.array([p == t for p, t in zip(predicted, labels, strict=True)], dtype=bool)
    oos_scores = model.scores(model.logits(oos_x)) if len(oos_x) else np.zeros(0)
    confidence = model.probabilities(logits).max(axis=1)
    return _TestResult(correct, model.scores(logits), oos_scores, model.threshold, confidence)


def _metrics(dataset: str, result: _TestResult) -> tuple[dict[str, float], dict[str, Any]]:
    """Metric keys as published: CLINC150 in-scope accuracy and OOS recall, else accuracy."""
    accuracy = _pct(result.correct.mean()) if len(result.correct) else 0.0
    calibration = {
        "expected_calibration_error": _ece(result.confidence, result.correct),
        "bins": _reliability_bins(result.confidence, result.correct),
        "histogram": _confidence_histogram(result.confidence, result.correct),
    }
    if dataset != "clinc150":
        return {"accuracy": accuracy}, {"calibration": calibration}
    in_scope = _pct((result.correct & (result.scores >= result.threshold)).mean())
    recall = _pct((result.oos_scores < result.threshold).mean()) if len(result.oos_scores) else 0.0
    details = {"accuracy_without_oos_decision": accuracy, "calibration": calibration}
    return {"in_scope_accuracy": in_scope, "oos_recall": recall}, details


def _ece(confidence: np.ndarray[Any, Any], correct: np.ndarray[Any, Any], bins: int = 15) -> float:
    """Expected calibration error of the in-scope confidences (percent; Guo et al. 2017)."""
    if not len(confidence):
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    gap = sum(
        abs(confidence[which == b].mean() - correct[which == b].mean()) * (which == b).sum()
        for b in range(bins)
        if (which == b).any()
    )
    return _pct(gap / len(confidence))


def _reliability_bins(
    confidence: np.ndarray[Any, Any], correct: np.ndarray[Any, Any], bins: int = 10
) -> list[list[float]]:
    """[mean confidence, accuracy, count] per confidence bin (the reliability diagram)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    return [
        [
            round(float(confidence[which == b].mean()), 4),
            round(float(correct[which == b].mean()), 4),
            int((which == b).sum()),
        ]
        for b in range(bins)
        if (which == b).any()
    ]


def _confidence_histogram(
    confidence: np.ndarray[Any, Any], correct: np.ndarray[Any, Any], bins: int = 20
) -> dict[str, Any]:
    """Counts of right and wrong predictions per confidence bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    right, _ = np.histogram(confidence[correct], bins=edges)
    wrong, _ = np.histogram(confidence[~correct], bins=edges)
    return {
        "bins": [round(float(e), 2) for e in edges],
        "series": {"right": right.tolist(), "wrong": wrong.tolist()},
        "xlabel": "calibrated confidence",
    }


def plots_of(details: dict[str, Any]) -> list[Plot]:
    """The intents report's plots: the CLINC150 trade-off curve with the shipped threshold,
    the reliability diagram and the confidence histogram split by right and wrong."""
    plots: list[Plot] = []
    curve = details.get("tradeoff_curve")
    if curve:
        shipped = curve["shipped"]
        plots.append(
            Plot(
                "curve",
                "In-scope accuracy against out-of-scope recall (test)",
                {
                    "series": {
                        f"{curve['score']} score": [
                            [p["oos_recall"], p["in_scope_accuracy"]] for p in curve["points"]
                        ]
                    },
                    "xlabel": "out-of-scope recall (%)",
                    "ylabel": "in-scope accuracy (%)",
                    "marker": [shipped["oos_recall"], shipped["in_scope_accuracy"]],
                    "marker_label": "shipped threshold (chosen on validation)",
                },
            )
        )
    calibration = details.get("calibration") or {}
    if calibration.get("bins"):
        plots.append(Plot("reliability", "Calibration", {"bins": calibration["bins"]}))
    if calibration.get("histogram"):
        plots.append(Plot("histogram", "Confidence, right vs wrong", calibration["histogram"]))
    return plots


def _tradeoff_curve(model: IntentModel, result: _TestResult) -> dict[str, Any]:
    """In-scope accuracy against OOS recall over thresholds, on test (reporting only)."""
    pooled = np.concatenate([result.scores, result.oos_scores])
    thresholds = np.unique(np.quantile(pooled, np.linspace(0.0, 0.6, 61)))
    points = [
        {
            "threshold": round(float(t), 6),
            "in_scope_accuracy": _pct((result.correct & (result.scores >= t)).mean()),
            "oos_recall": _pct((result.oos_scores < t).mean()),
        }
        for t in thresholds
    ]
    shipped = {
        "threshold": round(model.threshold, 6),
        "in_scope_accuracy": _pct((result.correct & (result.scores >= model.threshold)).mean()),
        "oos_recall": _pct((result.oos_scores < model.threshold).mean()),
        "chosen_on": "validation",
    }
    return {"score": model.oos_method, "points": points, "shipped": shipped}


def _serving_cost_ms(model: IntentModel, x: Vectors) -> float:
    """Head cost per text after embedding, as a serving process pays it (one text a call)."""
    sample = x[:200]
    if not len(sample):
        return 0.0
    started = time.perf_counter()
    for row in sample:
        model.predict(row)
    return (time.perf_counter() - started) * 1000 / len(sample)


def _limited(splits: Splits, limit: int) -> Splits:
    """A seeded sample of each split; evaluation intents are kept to those seen in training."""
    rng = np.random.default_rng(SEED)

    def sample(items: list[Any]) -> list[Any]:
        if len(items) <= limit:
            return list(items)
        return [items[i] for i in sorted(rng.choice(len(items), size=limit, replace=False))]

    train = sample(splits.train)
    seen = {label for _, label in train}
    return Splits(
        train=train,
        val=[pair for pair in sample(splits.val) if pair[1] in seen],
        test=[pair for pair in sample(splits.test) if pair[1] in seen],
        oos_val=sample(splits.oos_val),
        oos_test=sample(splits.oos_test),
        val_source=splits.val_source,
    )


def _read_csv(path: Path) -> Pairs:
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def _read_jsonl(path: Path) -> Pairs:
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return [(row["text"], row["label"]) for row in rows]


def _pct(value: float | np.floating[Any]) -> float:
    return round(float(value) * 100, 2)

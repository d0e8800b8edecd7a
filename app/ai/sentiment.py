"""Negative-sentiment signal: VADER plus a small trained head on the shared sentence embedding.

An angry customer should reach a person quickly, so the AI layer asks one question of every
passed text: how likely is it negative? Two cheap signals answer it. VADER (a rule-based lexicon
tuned for social-media text) reads negation, intensifiers, emoticons and capitals; the shared
MiniLM embedding (already computed for intents and retrieval) reads everything else. A small
head, trained offline by `scripts/train_sentiment.py` and shipped as plain arrays in
`app/ai/data/sentiment/`, combines them into three-class probabilities.

Serving cost after the embedding is one VADER pass and one 388x3 matrix product: about 0.1 ms
a text here (0.3 ms on a loaded machine).
The artifact is numpy arrays plus a JSON manifest (never pickle), checked against its sha256 on
load; anything missing or inconsistent is a `ConfigurationError`.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from app.ai.encoder import DIMENSIONS
from app.errors import ConfigurationError

Label = Literal["negative", "neutral", "positive"]
CLASSES: tuple[Label, ...] = ("negative", "neutral", "positive")
FORMAT = "smsdesk-sentiment-head/1"
"""The artifact layout this module reads; bump it when the arrays' meaning changes."""
DEFAULT_DIR = Path(__file__).parent / "data" / "sentiment"
MANIFEST = "manifest.json"
WEIGHTS = "head.npz"
VADER_FEATURES = ("neg", "neu", "pos", "compound")
VADER_NEUTRAL_BAND = 0.05
"""VADER's own 3-class rule (Hutto & Gilbert 2014): compound within ±0.05 is neutral."""

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Sentiment:
    """The sentiment of one text."""

    label: Label
    negative: float
    """Probability (0-1) that the text is negative; compare with `negative_sentiment_threshold`."""
    compound: float
    """VADER's normalised compound score (-1..1), kept for logs and explanations."""


class _Vader:
    """One VADER analyzer per process: building it parses its lexicon files (~50 ms)."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        # Stateless between calls (3.3.x), so one analyzer serves every thread without a lock.
        self._analyzer = SentimentIntensityAnalyzer()

    def features(self, texts: Sequence[str]) -> Matrix:
        """`(n, 4)`: VADER's neg, neu, pos and compound scores for each text."""
        rows = np.zeros((len(texts), len(VADER_FEATURES)), dtype=np.float32)
        for i, text in enumerate(texts):
            scores = self._analyzer.polarity_scores(text)
            rows[i] = [scores[name] for name in VADER_FEATURES]
        return rows


@lru_cache(maxsize=1)
def get_vader() -> _Vader:
    """The process-wide VADER analyzer, built on first use."""
    return _Vader()


def vader_label(compound: float) -> Label:
    """VADER alone: its published rule on the compound score."""
    if compound >= VADER_NEUTRAL_BAND:
        return "positive"
    if compound <= -VADER_NEUTRAL_BAND:
        return "negative"
    return "neutral"


@dataclass(frozen=True)
class Head:
    """One named head: standardise the features, run a small MLP (or a linear layer), softmax."""

    name: str
    features: tuple[str, ...]
    """Feature blocks in order: "embedding" (384) and/or "vader" (4)."""
    mean: Matrix
    scale: Matrix
    layers: tuple[tuple[Matrix, Matrix], ...]
    """(weights, bias) per layer; ReLU between layers, none after the last."""
    logit_offset: Matrix
    """Added to the logits: the decision bias tuned by cross-validation on validation data."""

    def probabilities(self, vectors: Matrix, vader: Matrix) -> Matrix:
        """`(n, 3)` class probabilities in `CLASSES` order."""
        blocks = {"embedding": vectors, "vader": vader}
        x = np.hstack([blocks[name] for name in self.features]).astype(np.float32, copy=False)
        x = (x - self.mean) / self.scale
        for i, (weights, bias) in enumerate(self.layers):
            x = x @ weights + bias
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        x = x + self.logit_offset
        x = x - x.max(axis=1, keepdims=True)
        e = np.exp(x)
        probs: Matrix = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return probs


class SentimentModel:
    """Scores texts with the served head; also exposes every shipped head for the eval suite."""

    def __init__(self, heads: dict[str, Head], *, serve: str, manifest: dict[str, Any]) -> None:
        if serve not in heads:
            raise ConfigurationError(f"sentiment artifact: served head {serve!r} is not shipped")
        self.heads = heads
        self.serve = serve
        self.manifest = manifest
        self._vader = get_vader()

    @classmethod
    def load(cls, directory: Path) -> SentimentModel:
        """Load a head artifact (manifest.json + head.npz), checking format, hash and shapes."""
        return _load(directory)

    @classmethod
    def load_default(cls) -> SentimentModel:
        """The shipped artifact, loaded once per process."""
        return _load_default()

    @property
    def version(self) -> str:
        """The artifact's version string (from its manifest)."""
        return str(self.manifest["version"])

    def vader_features(self, texts: Sequence[str]) -> Matrix:
        """`(n, 4)` VADER features (exposed so the eval can compare VADER alone)."""
        return self._vader.features(texts)

    def score(self, text: str, vector: npt.NDArray[np.float32]) -> Sentiment:
        """Score one text given its (384,) embedding from the shared encoder."""
        return self.score_batch([text], np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]

    def score_batch(
        self, texts: Sequence[str], vectors: npt.NDArray[np.float32]
    ) -> list[Sentiment]:
        """Score many texts given their `(n, 384)` embeddings (same order)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(texts), DIMENSIONS):
            raise ValueError(
                f"need one {DIMENSIONS}-d vector per text: {len(texts)} texts, {vectors.shape}"
            )
        vader = self._vader.features(texts)
        probs = self.heads[self.serve].probabilities(vectors, vader)
        labels = probs.argmax(axis=1)
        return [
            Sentiment(
                label=CLASSES[int(labels[i])],
                negative=float(probs[i, 0]),
                compound=float(vader[i, 3]),
            )
            for i in range(len(texts))
        ]


@lru_cache(maxsize=1)
def _load_default() -> SentimentModel:
    return _load(DEFAULT_DIR)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(directory: Path) -> SentimentModel:
    manifest_path, weights_path = directory / MANIFEST, directory / WEIGHTS
    where = f"sentiment artifact {directory}"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"{where}: {MANIFEST} is missing (run scripts/train_sentiment.py)"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"{where}: {MANIFEST} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ConfigurationError(f"{where}: not a {FORMAT} manifest")
    if not weights_path.is_file():
        raise ConfigurationError(f"{where}: {WEIGHTS} is missing")
    if _sha256(weights_path) != manifest.get("weights_sha256"):
        raise ConfigurationError(f"{where}: {WEIGHTS} does not match the manifest's sha256")
    try:
        # allow_pickle=False: the artifact is data only, never code.
        with np.load(weights_path, allow_pickle=False) as npz:
            arrays = {key: np.asarray(npz[key], dtype=np.float32) for key in npz.files}
        heads = {name: _head(name, spec, arrays) for name, spec in dict(manifest["heads"]).items()}
        return SentimentModel(heads, serve=str(manifest["serve"]), manifest=manifest)
    except (KeyError, TypeError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ConfigurationError(f"{where}: inconsistent artifact: {exc!r}") from exc


def _head(name: str, spec: dict[str, Any], arrays: dict[str, Matrix]) -> Head:
    sizes = {"embedding": DIMENSIONS, "vader": len(VADER_FEATURES)}
    features = tuple(str(f) for f in spec["features"])
    width = sum(sizes[f] for f in features)
    layers = tuple(
        (arrays[f"{name}.W{i}"], arrays[f"{name}.b{i}"]) for i in range(int(spec["layers"]))
    )
    head = Head(
        name=name,
        features=features,
        mean=arrays[f"{name}.mean"],
        scale=arrays[f"{name}.scale"],
        layers=layers,
        logit_offset=arrays[f"{name}.offset"],
    )
    shape_in = width
    for weights, bias in layers:
        if weights.shape[0] != shape_in or bias.shape != (weights.shape[1],):
            raise ValueError(f"head {name!r}: layer shapes do not chain")
        shape_in = weights.shape[1]
    if shape_in != len(CLASSES) or head.mean.shape != (width,) or head.scale.shape != (width,):
        raise ValueError(f"head {name!r}: wrong input or output width")
    if head.logit_offset.shape != (len(CLASSES),):
        raise ValueError(f"head {name!r}: wrong logit offset shape")
    return head

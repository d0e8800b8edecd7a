"""Intent classifier with out-of-scope detection, on top of the shared sentence encoder.

The head is a multinomial logistic regression over the encoder's 384-d embeddings, so a text
that was already encoded for retrieval costs one small matrix product here (well under 1 ms).
Confidence is the temperature-scaled softmax (temperature fitted on validation data), and the
out-of-scope decision thresholds an "in-scope score" whose threshold was chosen on validation
data too. Training lives in `app.ai.intent_training`; this module is what a serving process
needs: predict, save, load.

An artifact is a directory, never a pickle:

    manifest.json   format, version, created_at, encoder, labels, temperature, OOS scorer,
                    threshold, hyper-parameters, validation metrics, sha256 of weights.npz
    weights.npz     coef (K, d), intercept (K,), and the OOS scorer's arrays
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from app.ai.encoder import DIMENSIONS, MODEL_NAME, Vectors
from app.errors import ConfigurationError

FORMAT = "smsdesk.intent-model"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
WEIGHTS_NAME = "weights.npz"

Floats = npt.NDArray[np.float64]
OosMethod = Literal["energy", "msp"]
"""How the in-scope score is read off the logits: `energy` (T·logsumexp(z/T), the free energy
of Liu et al. 2020) separated CLINC150's out-of-scope texts best on validation; `msp` (the
calibrated top probability) is the textbook baseline, kept for comparison."""


@dataclass(frozen=True)
class IntentPrediction:
    """One text's intent: the best intent even when out of scope, so a person sees the guess."""

    intent: str
    confidence: float
    """Calibrated probability of `intent` among the known intents (0-1)."""
    out_of_scope: bool
    """True when the text looks unlike every known intent (score below the threshold)."""
    top: list[tuple[str, float]]
    """The best intents with their calibrated probabilities, best first."""
    score: float
    """The in-scope score the out-of-scope decision compared with the threshold."""


@dataclass
class IntentModel:
    """A trained intent head: predict from embeddings, save to and load from a directory."""

    labels: list[str]
    coef: npt.NDArray[np.float32]
    """(K, d) weights of the logistic-regression head."""
    intercept: npt.NDArray[np.float32]
    """(K,) biases."""
    temperature: float
    """Divides the logits before the softmax; fitted on validation (NLL)."""
    oos_method: OosMethod
    threshold: float
    """A text whose in-scope score is below this is out of scope (chosen on validation)."""
    encoder: str = MODEL_NAME
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)
    """Metrics measured on the validation data the threshold was chosen on (percent)."""
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def __post_init__(self) -> None:
        k, dims = self.coef.shape
        if k != len(self.labels) or self.intercept.shape != (k,):
            raise ConfigurationError(
                f"intent model: {len(self.labels)} labels but weights of shape {self.coef.shape}"
                f" and {self.intercept.shape}"
            )
        if dims != DIMENSIONS:
            raise ConfigurationError(
                f"intent model: weights expect {dims}-d vectors, the encoder gives {DIMENSIONS}"
            )
        # Transposed once here so that serving does a plain (n, d) @ (d, K).
        self._coef_t = np.ascontiguousarray(self.coef.T)

    # -- training (delegated) -------------------------------------------------------------

    @classmethod
    def train(
        cls,
        examples: Sequence[tuple[str, str]],
        *,
        validation: Sequence[tuple[str, str]] | None = None,
        oos_examples: Sequence[str] = (),
    ) -> IntentModel:
        """Train on `(text, intent)` pairs, encoding them with the shared encoder.

        `validation` tunes the head and the threshold; without it a stratified ~10% of
        `examples` is held out (intents with 3+ examples). The threshold is the highest that
        costs at most 1 point of validation accuracy; `oos_examples` (texts that match no
        intent) choose the out-of-scope score and are reported as validation OOS recall.
        """
        from app.ai.intent_training import train_from_texts

        return train_from_texts(examples, validation=validation, oos_examples=oos_examples)

    # -- serving ---------------------------------------------------------------------------

    def logits(self, vectors: Vectors) -> Floats:
        """Raw (n, K) logits of the head."""
        z = np.asarray(vectors, dtype=np.float32) @ self._coef_t + self.intercept
        return z.astype(np.float64)

    def probabilities(self, logits: Floats) -> Floats:
        """Calibrated (n, K) probabilities from logits."""
        z = logits / self.temperature
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        probs: Floats = e / e.sum(axis=1, keepdims=True)
        return probs

    def scores(self, logits: Floats) -> Floats:
        """The (n,) in-scope score: higher means more like a known intent."""
        return in_scope_scores(logits, self.temperature, self.oos_method)

    def predict(self, vectors: Vectors, *, top_k: int = 3) -> list[IntentPrediction]:
        """Classify embedded texts ((n, d) or a single (d,) vector)."""
        matrix = np.atleast_2d(vectors)
        if matrix.shape[1] != self.coef.shape[1]:
            raise ValueError(f"expected vectors of width {self.coef.shape[1]}, got {matrix.shape}")
        logits = self.logits(matrix)
        probs = self.probabilities(logits)
        scores = self.scores(logits)
        k = min(top_k, len(self.labels))
        order = np.argsort(-probs, axis=1)[:, :k]
        predictions = []
        for row, best, score in zip(probs, order, scores, strict=True):
            top = [(self.labels[i], float(row[i])) for i in best]
            predictions.append(
                IntentPrediction(
                    intent=top[0][0],
                    confidence=top[0][1],
                    out_of_scope=bool(score < self.threshold),
                    top=top,
                    score=float(score),
                )
            )
        return predictions

    def predict_texts(self, texts: Sequence[str], *, top_k: int = 3) -> list[IntentPrediction]:
        """Encode `texts` with the shared encoder, then classify them."""
        from app.ai.encoder import get_encoder

        return self.predict(get_encoder().encode(texts), top_k=top_k)

    # -- artifact --------------------------------------------------------------------------

    def manifest(self, weights_sha256: str) -> dict[str, Any]:
        """The JSON manifest describing this model (written next to weights.npz)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "created_at": self.created_at,
            "encoder": {"name": self.encoder, "dimensions": int(self.coef.shape[1])},
            "labels": list(self.labels),
            "temperature": self.temperature,
            "oos": {"method": self.oos_method, "threshold": self.threshold},
            "hyperparameters": self.hyperparameters,
            "validation": self.validation,
            "weights": {"file": WEIGHTS_NAME, "sha256": weights_sha256},
        }

    def save(self, path: Path) -> Path:
        """Write the artifact directory `path` (created if needed); returns it."""
        path.mkdir(parents=True, exist_ok=True)
        weights = path / WEIGHTS_NAME
        with weights.open("wb") as handle:
            np.savez(handle, coef=self.coef, intercept=self.intercept)
        manifest = self.manifest(_sha256(weights))
        # The manifest goes last: a directory without one is an unfinished save, never loaded.
        (path / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        """Read an artifact written by `save`; ConfigurationError says what is wrong."""
        manifest = _read_manifest(path)
        weights = path / WEIGHTS_NAME
        if not weights.is_file():
            raise ConfigurationError(f"intent model {path}: {WEIGHTS_NAME} is missing")
        try:
            if _sha256(weights) != manifest["weights"]["sha256"]:
                raise ConfigurationError(
                    f"intent model {path}: {WEIGHTS_NAME} does not match its manifest checksum"
                )
            with np.load(weights, allow_pickle=False) as arrays:
                coef = arrays["coef"].astype(np.float32)
                intercept = arrays["intercept"].astype(np.float32)
            method = manifest["oos"]["method"]
            if method not in get_args(OosMethod):
                raise ConfigurationError(f"intent model {path}: unknown OOS method {method!r}")
            return cls(
                labels=[str(label) for label in manifest["labels"]],
                coef=coef,
                intercept=intercept,
                temperature=float(manifest["temperature"]),
                oos_method=method,
                threshold=float(manifest["oos"]["threshold"]),
                encoder=str(manifest["encoder"]["name"]),
                hyperparameters=dict(manifest["hyperparameters"]),
                validation=dict(manifest["validation"]),
                created_at=str(manifest["created_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"intent model {path}: malformed artifact ({exc!r})") from exc


def in_scope_scores(logits: Floats, temperature: float, method: OosMethod) -> Floats:
    """Score each row of logits: higher means more in scope (see `OosMethod`)."""
    z = logits / temperature
    peak = z.max(axis=1)
    log_sum = peak + np.log(np.exp(z - peak[:, None]).sum(axis=1))
    if method == "energy":
        energy: Floats = temperature * log_sum
        return energy
    if method == "msp":
        msp: Floats = np.exp(peak - log_sum)
        return msp
    raise ConfigurationError(f"unknown out-of-scope method {method!r}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_manifest(path: Path) -> dict[str, Any]:
    """Load and check manifest.json: the format, the version and the encoder must match."""
    file = path / MANIFEST_NAME
    if not file.is_file():
        raise ConfigurationError(
            f"no intent model at {path} ({MANIFEST_NAME} missing): run `smsdesk train` first"
        )
    try:
        manifest = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"intent model {path}: unreadable {MANIFEST_NAME} ({exc})"
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ConfigurationError(f"intent model {path}: {MANIFEST_NAME} is not an intent model")
    if manifest.get("version") != FORMAT_VERSION:
        raise ConfigurationError(
            f"intent model {path}: artifact version {manifest.get('version')!r}, this smsdesk"
            f" reads version {FORMAT_VERSION}: retrain with `smsdesk train`"
        )
    required = ("labels", "temperature", "oos", "encoder", "weights", "created_at")
    missing = [key for key in required if key not in manifest]
    if missing:
        raise ConfigurationError(f"intent model {path}: manifest lacks {', '.join(missing)}")
    if manifest["encoder"].get("name") != MODEL_NAME:
        raise ConfigurationError(
            f"intent model {path}: trained on encoder {manifest['encoder'].get('name')!r},"
            f" this process encodes with {MODEL_NAME!r}: retrain with `smsdesk train`"
        )
    manifest.setdefault("hyperparameters", {})
    manifest.setdefault("validation", {})
    return manifest

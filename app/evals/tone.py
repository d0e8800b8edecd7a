"""`smsdesk eval sentiment --dataset decisions`: does negative sentiment mean what escalation
needs? The decisions file's `tone` labels mark anger or frustration a person should see
(`angry`) and plain requests with negative-sounding words (`calm`); the escalation signal
(angry words, or a grievance the sentiment head reads as negative) should flag the first and
leave the second alone. The sentiment head alone is reported beside it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from app.ai.escalation import frustrated, tone
from app.ai.models import AiModels
from app.evals.labels import LabelledText
from app.evals.report import EvalReport, Table, sha256_of


def evaluate_tone(
    models: AiModels, items: Sequence[LabelledText], *, threshold: float, path: Path
) -> EvalReport:
    """Score the anger signal escalation uses, and the sentiment head alone, on the
    tone-labelled texts of a decisions file."""
    started = time.perf_counter()
    toned = [item for item in items if item.tone is not None]
    vectors = models.encoder.encode([item.text for item in toned])
    scores = [
        models.sentiment.score(item.text, vectors[i]).negative for i, item in enumerate(toned)
    ]
    flagged = [
        frustrated(tone(item.text), score, threshold)
        for item, score in zip(toned, scores, strict=True)
    ]
    head_only = [score >= threshold for score in scores]
    angry = [f for f, item in zip(flagged, toned, strict=True) if item.tone == "angry"]
    calm = [f for f, item in zip(flagged, toned, strict=True) if item.tone == "calm"]
    tp, fp = sum(angry), sum(calm)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / len(angry) if angry else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    rows = [
        [item.id, item.tone, round(score, 3), "yes" if flag else "", item.text]
        for item, score, flag in zip(toned, scores, flagged, strict=True)
        if flag != (item.tone == "angry")
    ]
    return EvalReport(
        suite="sentiment",
        dataset="decisions",
        metrics={
            "texts": float(len(toned)),
            "angry_flagged_negative": round(100.0 * recall, 2),
            "calm_flagged_negative": round(100.0 * fp / len(calm), 2) if calm else 0.0,
            "negative_f1": round(100.0 * f1, 2),
            "head_angry_flagged": round(
                100.0
                * sum(h for h, i in zip(head_only, toned, strict=True) if i.tone == "angry")
                / max(1, len(angry)),
                2,
            ),
            "head_calm_flagged": round(
                100.0
                * sum(h for h, i in zip(head_only, toned, strict=True) if i.tone == "calm")
                / max(1, len(calm)),
                2,
            ),
        },
        config={"file": str(path), "threshold": threshold, "model": models.sentiment.version},
        tables=[Table("Misread tone", ["id", "tone", "negative", "flagged", "text"], rows)],
        data_files={str(path): sha256_of(path)},
        seconds=round(time.perf_counter() - started, 1),
    )

"""`smsdesk eval latency`: the AI layer's time per text over a decisions file, beside the
embedding of the same text alone, measured in the same run (one thread, as a worker runs).

The ratio to the embedding is what to compare across machines: the embedding is the floor any
encoder-based layer pays, and a shared CI machine slows both alike.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Sequence

from app.ai.models import AiModels
from app.ai.responder import AiResponder
from app.compliance import classify
from app.config import Settings
from app.evals.labels import LabelledText
from app.evals.progress import Advance
from app.evals.report import EvalReport, Plot, Table
from app.pipeline.responder import ResponderRequest


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[49], 2), round(cuts[94], 2), round(cuts[98], 2)


def evaluate_latency(
    settings: Settings,
    models: AiModels,
    items: Sequence[LabelledText],
    *,
    dataset: str,
    repeats: int = 2,
    advance: Advance | None = None,
) -> EvalReport:
    """Time `AiResponder.respond` and the embedding alone for every passed text."""
    started = time.perf_counter()
    responder = AiResponder(settings, models)
    responder.warm_up()
    texts = [item.text for item in items if classify(item.text).action == "pass"]
    decisions = {text: classify(text) for text in texts}
    whole: list[float] = []
    embed: list[float] = []
    for _ in range(repeats):
        for text in texts:
            request = ResponderRequest(uuid.uuid4(), "+12015550100", text, decisions[text])
            t0 = time.perf_counter()
            responder.respond(request)
            t1 = time.perf_counter()
            models.encoder.encode_one(text)
            t2 = time.perf_counter()
            whole.append((t1 - t0) * 1000)
            embed.append((t2 - t1) * 1000)
            if advance is not None:
                advance(1)
    ai50, ai95, ai99 = _quantiles(whole)
    em50, em95, em99 = _quantiles(embed)
    edges = [float(ms) for ms in range(0, 62, 2)]
    return EvalReport(
        suite="latency",
        dataset=dataset,
        metrics={
            "texts": float(len(texts)),
            "ai_p50_ms": ai50,
            "ai_p95_ms": ai95,
            "embed_p50_ms": em50,
            "embed_p95_ms": em95,
            "p95_ratio_to_embedding": round(ai95 / em95, 2) if em95 else 0.0,
        },
        config={
            "repeats": repeats,
            "mode": "llm" if settings.llm_base_url else "local",
            "encoder_threads": settings.encoder_threads,
            "target_p95_ms": 25,
        },
        tables=[
            Table(
                "Milliseconds per text",
                ["measure", "p50", "p95", "p99", "max"],
                [
                    ["whole AI layer", ai50, ai95, ai99, round(max(whole), 2)],
                    ["embedding alone", em50, em95, em99, round(max(embed), 2)],
                ],
            )
        ],
        plots=[
            Plot(
                "histogram",
                "Time per text",
                {
                    "bins": edges,
                    "series": {
                        "whole AI layer": _counts(whole, edges),
                        "embedding alone": _counts(embed, edges),
                    },
                    "xlabel": "milliseconds",
                },
            )
        ],
        seconds=round(time.perf_counter() - started, 1),
    )


def _counts(values: list[float], edges: list[float]) -> list[int]:
    counts = [0] * (len(edges) - 1)
    width = edges[1] - edges[0]
    for value in values:
        counts[min(len(counts) - 1, int(value / width))] += 1
    return counts

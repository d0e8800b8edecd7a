"""Latency of the whole AI layer for one text, local mode, and what it costs to start.

One process loads the models the way a worker does (training the intent classifier and indexing
the demo knowledge base into a fresh data directory, timed), then answers every text of a
realistic mix one at a time through `AiResponder.respond`: embed, intent, sentiment, revocation
check, retrieval, draft and guardrails. Each stage is also timed on its own, and the sentence
embedding alone is the baseline measured in the same run (the floor any encoder-based layer
pays). Peak resident memory of the process is reported as the serving footprint.

    python bench/ai_latency.py [--repeats 3] [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.ai.guardrails import check_draft  # noqa: E402
from app.ai.knowledge import load_knowledge  # noqa: E402
from app.ai.models import AiModels  # noqa: E402
from app.ai.responder import AiResponder  # noqa: E402
from app.ai.training import train_intents, training_data  # noqa: E402
from app.compliance import classify  # noqa: E402
from app.config import Settings  # noqa: E402
from app.pipeline.responder import ResponderRequest  # noqa: E402

OUT = REPO / "bench" / "results" / "ai_latency.json"
EXTRA = [
    "hey where's my stuff, ordered last week",
    "can i bring my bike in for a tune up on saturday?",
    "this is ridiculous I've been waiting 3 weeks for my refund",
    "I want to talk to a real person",
    "what's the weather tomorrow",
    "do u guys price match?",
    "my card got charged twice!!",
    "how do I cancel my club membership",
]


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean of milliseconds."""
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "p50": round(at(0.50), 2),
        "p95": round(at(0.95), 2),
        "p99": round(at(0.99), 2),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="at most this many texts")
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="smsdesk-ai-bench-"))
    settings = Settings(env="test", data_dir=data_dir, knowledge_dir=REPO / "knowledge")
    started = time.perf_counter()
    models = AiModels.load(settings)  # cold: trains, indexes, loads the encoder
    cold_start = time.perf_counter() - started
    kb = load_knowledge(settings.knowledge_dir)
    train_seconds = train_intents(settings, kb).seconds  # warm encoder: training alone
    responder = AiResponder(settings, models=models)
    responder.warm_up()

    data = training_data(kb)
    texts = [*EXTRA, *data.out_of_scope, *(t for t, _ in data.examples[::3])]
    texts = texts[: args.limit] if args.limit else texts
    decisions = {text: classify(text) for text in texts}

    whole: list[float] = []
    stages: dict[str, list[float]] = {
        "embed": [], "intent": [], "sentiment": [], "revocation": [], "retrieve": [],
        "draft_and_guardrails": [],
    }  # fmt: skip
    outcomes: dict[str, int] = {}
    for _ in range(args.repeats):
        for text in texts:
            request = ResponderRequest(uuid.uuid4(), "+12125550123", text, decisions[text])
            t0 = time.perf_counter()
            result = responder.respond(request)
            whole.append((time.perf_counter() - t0) * 1000)
            key = result.kind  # reply, clarify, close, handoff, opt_out, silent
            outcomes[key] = outcomes.get(key, 0) + 1

            vector = models.encoder.encode_one(text)
            stages["embed"].append(timed(lambda: models.encoder.encode_one(text)))  # noqa: B023
            stages["intent"].append(timed(lambda: models.intents.predict(vector)))  # noqa: B023
            stages["sentiment"].append(
                timed(lambda: models.sentiment.score(text, vector))  # noqa: B023
            )
            stages["revocation"].append(timed(lambda: models.revocations.similarity(vector)))  # noqa: B023
            hits: list[Any] = []
            stages["retrieve"].append(
                timed(lambda: hits.extend(models.index.search(vector, k=3, text=text)))  # noqa: B023
            )
            entry = models.kb.entry(hits[0].entry_id)
            stages["draft_and_guardrails"].append(
                timed(
                    lambda: check_draft(
                        entry.sms_reply(),  # noqa: B023
                        sources=[entry.answer],  # noqa: B023
                        brand_name="Acme",
                        first_message=True,
                        opted_out=False,
                        max_chars=320,
                    )
                )
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    embed_p95 = percentiles(stages["embed"])["p95"]
    report = {
        "suite": "ai_latency",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "texts": len(texts),
        "repeats": args.repeats,
        "whole_ai_layer_ms": percentiles(whole),
        "stages_ms": {name: percentiles(values) for name, values in stages.items()},
        "baseline": "embedding one text alone (same run)",
        "ratio_whole_p95_to_embed_p95": round(percentiles(whole)["p95"] / embed_p95, 2),
        "outcomes": outcomes,
        "cold_start_seconds": round(cold_start, 1),
        "train_intents_seconds": round(train_seconds, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "targets": {"whole_p95_ms": 25, "train_seconds": 120, "serving_memory_mb": 1536},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "threads": {
                "torch": settings.encoder_threads,
                "openblas": os.environ["OPENBLAS_NUM_THREADS"],
            },
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    shown = ("whole_ai_layer_ms", "cold_start_seconds", "train_intents_seconds", "peak_rss_mb")
    print(json.dumps({k: report[k] for k in shown}))


if __name__ == "__main__":
    main()

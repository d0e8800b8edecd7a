"""What processing a backlog of inbound texts costs per text, next to the AI layer's own time.

The product as users run it, in one process: embedded mode on SQLite, the AI layer on with the
shipped `knowledge/`, the real job engine with its default worker count. `N` texts (the
webhook bench's questions, the knowledge base's own phrasings, small talk and a few
STOP/HELP) from many customers are stored through the real ingress function
(`accept_inbound`, as a webhook does); then the engine drains the backlog (compliance, the AI
decision, acting on it, and the replies' send jobs through the console provider) and the run
measures wall time and process CPU per text.

The baseline is measured in the same run: every request the pipeline handed to the AI layer
during the drain is recorded, and afterwards the same requests go through the same loaded AI
layer alone, one at a time: the AI layer's own time per text. The ratio of processing time to
it is the figure of issue 15 (target at most 1.5).

    python bench/processing_cost.py [--texts 600] [--conversations 300] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from app.ai.knowledge import load_knowledge  # noqa: E402
from app.channels.base import InboundSms  # noqa: E402
from app.config import Settings  # noqa: E402
from app.jobs.inprocess import InProcessEngine  # noqa: E402
from app.pipeline.decision import Decided  # noqa: E402
from app.pipeline.ingress import PROCESS_INBOUND, accept_inbound  # noqa: E402
from app.pipeline.processor import InboundProcessor  # noqa: E402
from app.pipeline.responder import Responder, ResponderRequest  # noqa: E402
from app.runtime import Runtime, build_runtime  # noqa: E402
from app.storage import reading  # noqa: E402
from app.storage.tables import Job, Message  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
# The webhook bench's questions (the two benches describe the same burst of campaign replies)
# and the AI latency bench's casual texts.
from ai_latency import EXTRA  # noqa: E402
from webhook_ingress import QUESTIONS  # noqa: E402

OUT = REPO / "bench" / "results" / "processing_cost.json"
TARGET_RATIO = 1.5
BUSINESS_NUMBER = "+14155550100"
CASUAL = [*EXTRA, "ok thanks"]
"""The AI latency bench's casual texts, and a thanks (it closes the conversation)."""
COMPLIANCE = ["STOP", "HELP", "stop texting me please", "UNSUBSCRIBE"]
COMPLIANCE_SHARE = 0.05
"""About one text in twenty of a campaign's replies is an opt-out or a HELP."""


def texts_for(count: int, rng: random.Random) -> list[str]:
    """A realistic mix: the burst's questions, the public FAQ's own phrasings, small talk."""
    kb = load_knowledge(REPO / "knowledge")
    faq = [e.question for e in kb.entries] + [p for e in kb.entries for p in e.phrasings[:2]]
    pool = QUESTIONS * 6 + CASUAL * 3 + faq
    return [
        rng.choice(COMPLIANCE) if rng.random() < COMPLIANCE_SHARE else rng.choice(pool)
        for _ in range(count)
    ]


class TimedResponder:
    """The pipeline's responder, recording each request and the time spent deciding on it."""

    def __init__(self, inner: Responder) -> None:
        self.inner = inner
        self.calls: list[tuple[ResponderRequest, float, float]] = []
        self.prepared: list[tuple[int, float, float]] = []
        """(texts, wall, cpu) of each batch encoded ahead."""
        self._lock = threading.Lock()

    def respond(self, request: ResponderRequest) -> Decided:
        wall, cpu = time.perf_counter(), time.thread_time()
        decided = self.inner.respond(request)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        with self._lock:
            self.calls.append((request, wall, cpu))
        return decided

    def prepare(self, bodies: Sequence[str]) -> AbstractContextManager[object]:
        """The AI layer's batch encoding (when it has one), timed as the AI's own work."""
        prepare = getattr(self.inner, "prepare", None)
        if prepare is None:
            return nullcontext()
        return self._timed_prepare(prepare, bodies)

    @contextmanager
    def _timed_prepare(self, prepare: Any, bodies: Sequence[str]) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.thread_time()
        with prepare(bodies):
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            with self._lock:
                self.prepared.append((len(bodies), wall, cpu))
            yield

    def warm_up(self) -> None:
        warm = getattr(self.inner, "warm_up", None)
        if warm is not None:
            warm()


AREA_CODES = ["212", "310", "415", "617", "312", "206", "303", "512", "404", "305"]


def customer(i: int) -> str:
    """A distinct, valid customer number per `i` (100,000 before any repeats)."""
    return f"+1{AREA_CODES[i % len(AREA_CODES)]}555{(i // len(AREA_CODES)) % 10_000:04d}"


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def busy_jobs(runtime: Runtime) -> int:
    # A read-only transaction: the poll must not queue for the writers' lock with the workers.
    with Session(reading(runtime.engine)) as session:
        count = session.exec(
            select(func.count()).where(col(Job.state).in_(("pending", "running")))
        ).one()
        session.rollback()
        return int(count)


def store(runtime: Runtime, texts: list[str], conversations: int, start: int) -> list[uuid.UUID]:
    """Every text through the real ingress function, as the webhooks would deliver them."""
    ids: list[uuid.UUID] = []
    at = datetime.now(UTC) - timedelta(seconds=len(texts))
    for i, body in enumerate(texts):
        sms = InboundSms(
            provider="twilio",
            provider_message_id=f"SM{uuid.uuid4().hex}",
            from_number=customer(start + i % conversations),
            to_number=BUSINESS_NUMBER,
            body=body,
            received_at=at + timedelta(milliseconds=i),
        )
        ids.append(accept_inbound(runtime.engine, sms, brand=runtime.settings.brand_id).message_id)
    return ids


def drain(jobs: InProcessEngine, runtime: Runtime, timeout: float) -> float:
    """Run the real engine until no job is pending or running; returns the wall seconds."""

    async def run() -> float:
        stop = asyncio.Event()
        started = time.perf_counter()
        engine_task = asyncio.create_task(jobs.run(stop))
        try:
            while time.perf_counter() - started < timeout:
                await asyncio.sleep(0.02)
                if await asyncio.to_thread(busy_jobs, runtime) == 0:
                    break
            else:
                raise RuntimeError(f"the backlog did not drain within {timeout} s")
            return time.perf_counter() - started
        finally:
            stop.set()
            await engine_task

    return asyncio.run(run())


def ms(value: float) -> float:
    return round(value * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=600)
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--workers", type=int, default=None, help="default: the settings'")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument(
        "--switch-interval-ms", type=float, default=None,
        help="the engine's GIL switch interval (default: the engine's own; 0: Python's 5 ms)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--json", type=Path, default=OUT)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="smsdesk-processing-bench-"))
    try:
        overrides: dict[str, Any] = {"workers": args.workers} if args.workers else {}
        settings = Settings(
            env="test",
            data_dir=data_dir,
            knowledge_dir=REPO / "knowledge",
            bot="ai",
            worker_process=False,  # the engine runs here, as the bench's process measures it
            log_level="warning",
            **overrides,
        )
        runtime = build_runtime(settings)
        jobs = runtime.jobs
        assert isinstance(jobs, InProcessEngine)
        if args.switch_interval_ms is not None and hasattr(jobs, "switch_interval"):
            jobs.switch_interval = args.switch_interval_ms / 1000 or None
        processor = jobs.handlers[PROCESS_INBOUND]
        assert isinstance(processor, InboundProcessor)
        timed = TimedResponder(processor.responder)
        processor.responder = timed
        timed.warm_up()  # the models load before the clock starts, as on a warmed server
        rng = random.Random(args.seed)

        # A short warm-up backlog of other customers: first-call costs stay out of the figures.
        store(runtime, texts_for(40, rng), conversations=20, start=90_000)
        drain(jobs, runtime, args.timeout)
        timed.calls.clear()
        timed.prepared.clear()

        texts = texts_for(args.texts, rng)
        ids = store(runtime, texts, conversations=args.conversations, start=0)
        cpu = process_cpu()
        wall = drain(jobs, runtime, args.timeout)
        cpu = process_cpu() - cpu
        pipeline_calls = list(timed.calls)
        prepared = list(timed.prepared)

        # The baseline: the same requests through the same AI layer alone, one at a time.
        ai_wall: list[float] = []
        ai_cpu: list[float] = []
        for request, _, _ in pipeline_calls:
            w, c = time.perf_counter(), time.thread_time()
            timed.inner.respond(request)
            ai_wall.append(time.perf_counter() - w)
            ai_cpu.append(time.thread_time() - c)

        with Session(runtime.engine) as session:
            inbound = session.exec(
                select(Message.status, func.count())
                .where(col(Message.id).in_(ids))
                .group_by(col(Message.status))
            ).all()
            kinds = session.exec(
                select(Job.kind, Job.state, func.count()).group_by(col(Job.kind), col(Job.state))
            ).all()
            failed = session.exec(
                select(Job.last_error).where(Job.state == "failed").limit(3)
            ).all()
            session.rollback()
        statuses = {status: count for status, count in inbound}
        processed = statuses.get("processed", 0)
        runtime.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    n = len(texts)
    switch = getattr(jobs, "switch_interval", None)
    ai_total = sum(ai_wall)
    report = {
        "suite": "processing_cost",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "texts": n,
        "conversations": min(args.conversations, n),
        "workers": settings.workers,
        "gil_switch_interval_ms": round(switch * 1000, 3) if switch else None,
        "processed": processed,
        "inbound_statuses": statuses,
        "jobs": {f"{kind}/{state}": count for kind, state, count in kinds},
        "failed_job_errors": [(e or "").strip().splitlines()[-1:] for e in failed],
        "ai_requests": len(pipeline_calls),
        "mix": dict(Counter("compliance" if t in COMPLIANCE else "question" for t in texts)),
        "processing": {
            "wall_seconds": round(wall, 2),
            "texts_per_second": round(n / wall, 1),
            "wall_ms_per_text": ms(wall / n),
            "cpu_ms_per_text": ms(cpu / n),
        },
        "ai_layer_in_pipeline": {
            "wall_ms_per_text": ms(
                (sum(w for _, w, _ in pipeline_calls) + sum(w for _, w, _ in prepared)) / n
            ),
            "cpu_ms_per_text": ms(
                (sum(c for _, _, c in pipeline_calls) + sum(c for _, _, c in prepared)) / n
            ),
            "batches_encoded_ahead": len(prepared),
            "texts_encoded_ahead": sum(k for k, _, _ in prepared),
        },
        "baseline": "the same AI requests through the AI layer alone, one at a time (same run)",
        "ai_layer_alone": {
            "wall_ms_per_text": ms(ai_total / n),
            "cpu_ms_per_text": ms(sum(ai_cpu) / n),
            "wall_ms_per_request_p50": ms(statistics.median(ai_wall)) if ai_wall else None,
        },
        "ratio_processing_wall_to_ai_alone": round(wall / ai_total, 2) if ai_total else None,
        "ratio_processing_cpu_to_ai_alone_cpu": round(cpu / sum(ai_cpu), 2) if ai_cpu else None,
        "target": {"ratio_processing_wall_to_ai_alone": TARGET_RATIO},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    shown = (
        "texts", "processed", "processing", "ai_layer_alone", "ratio_processing_wall_to_ai_alone",
    )  # fmt: skip
    print(json.dumps({k: report[k] for k in shown}))
    if processed != n:
        sys.exit(f"only {processed} of {n} texts were processed")


if __name__ == "__main__":
    main()

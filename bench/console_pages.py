"""How fast the agent console answers, on a busy day's data, against a baseline in the same run.

Seeds a fresh SQLite database (the embedded default) with `--items` open queue items, each a
conversation with a customer text and its AI record, plus one long conversation of
`--thread` texts with delivery steps, AI records, notes and consent events. Then, signed in as
an agent through the real app (TestClient: the server's own work, no network), times:

- the queue page and the queue partial that SSE refreshes swap in,
- the long conversation page (its newest texts) and its live update (the thread partial,
  which carries the head and the side panel out of band),
- the same page with the whole thread (`?history=all`),
- one poll of the live-update digests (what each open page does every second),
- the composer's watcher (asked on every live update; 204 when nothing changed),
- the composer's segment counter (every keystroke, debounced),

against `GET /healthz` as the baseline (routing, middleware, one small query).

    python bench/console_pages.py [--items 500] [--thread 200] [--repeats 50] [--json OUT]
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import logging  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.config import Settings  # noqa: E402
from app.console.views import fingerprints  # noqa: E402
from app.handoff.agents import create_agent  # noqa: E402
from app.handoff.queue import hand_off  # noqa: E402
from app.main import create_app  # noqa: E402
from app.storage.messages import add_status, get_or_create_conversation, new_message, now  # noqa: E402
from app.storage.tables import AiDecision, ConsentEvent, ConversationNote  # noqa: E402

PASSWORD = "benchmark passphrase"
BRAND = "default"
REASONS = ("low_confidence", "negative_sentiment", "asked_for_person", "no_knowledge")


def _record(text: str) -> dict[str, Any]:
    return {
        "intent": "order_status",
        "confidence": 0.42,
        "sentiment": {"label": "negative", "negative": 0.7},
        "retrieved": [
            {"entry_id": "shipping-times", "score": 0.61, "matched_text": text, "link": None}
        ],
        "draft": "Acme: orders ship within 2 business days. Reply STOP to opt out.",
        "reasons": ["low_confidence"],
    }


def seed(settings: Settings, engine: Any, *, items: int, thread: int) -> uuid.UUID:
    """The busy day; returns the long conversation's id."""
    with Session(engine, expire_on_commit=False) as session:
        agent = create_agent(session, email="bench@example.com", password=PASSWORD, brands=[BRAND])
        for n in range(items):
            conversation = get_or_create_conversation(
                session, brand=BRAND, phone=f"+1212555{n:04d}"
            )
            message = new_message(
                session,
                conversation=conversation,
                direction="inbound",
                provider="twilio",
                provider_message_id=f"SMq{n}",
                body=f"question number {n} about my order",
                status="processed",
            )
            session.flush()
            session.add(
                AiDecision(
                    message_id=message.id,
                    conversation_id=conversation.id,
                    action="handoff",
                    intent="order_status",
                    confidence=0.42,
                    reasons=[REASONS[n % 4]],
                    record=_record(message.body),
                    created_at=now(),
                )
            )
            item = hand_off(session, conversation=conversation, reasons=[REASONS[n % 4]])
            item.created_at = now() - timedelta(minutes=n % 90)
        session.commit()
        long = get_or_create_conversation(session, brand=BRAND, phone="+13055550100")
        for n in range(thread):
            inbound = n % 2 == 0
            message = new_message(
                session,
                conversation=long,
                direction="inbound" if inbound else "outbound",
                provider="twilio",
                provider_message_id=f"SMt{n}",
                body=f"text {n} of a long conversation about a late parcel",
                status="processed" if inbound else "queued",
            )
            session.flush()
            if inbound:
                session.add(
                    AiDecision(
                        message_id=message.id,
                        conversation_id=long.id,
                        action="handoff",
                        intent="order_status",
                        confidence=0.42,
                        reasons=["low_confidence"],
                        record=_record(message.body),
                        created_at=now(),
                    )
                )
            else:
                add_status(session, message, "sending")
                add_status(session, message, "sent")
        hand_off(session, conversation=long, reasons=["asked_for_person"])
        for n in range(10):
            session.add(
                ConversationNote(
                    conversation_id=long.id, agent_id=agent.id, body=f"note {n}", created_at=now()
                )
            )
            session.add(
                ConsentEvent(
                    ruleset_version="bench",
                    brand=BRAND,
                    phone_e164=long.phone_e164,
                    event_type="opt_out" if n % 2 else "opt_in",
                    processed_at=now(),
                    effective_at=now(),
                )
            )
        session.commit()
        return long.id


def timed(call: Callable[[], Any], repeats: int) -> dict[str, float]:
    """p50/p95/mean in milliseconds over `repeats` calls (after two warm-up calls)."""
    for _ in range(2):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 2),
        "mean_ms": round(statistics.fmean(samples), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--thread", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", type=Path, default=REPO / "bench/results/console_pages.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), env="test", bot="off", worker_process=False)
        with TestClient(create_app(settings)) as client:
            engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
            # After the app configured logging: one line per request otherwise.
            for name in ("httpx", "httpx2"):  # the test client's HTTP library, by either name
                logging.getLogger(name).setLevel(logging.WARNING)
            long_id = seed(settings, engine, items=args.items, thread=args.thread)
            signed_in = client.post(
                "/console/login", data={"email": "bench@example.com", "password": PASSWORD}
            )
            csrf = signed_in.json()["csrf_token"]

            def get(path: str) -> Callable[[], Any]:
                def call() -> None:
                    response = client.get(path)
                    assert response.status_code == 200, (path, response.status_code)

                return call

            def poll() -> None:
                with Session(engine) as session:
                    fingerprints(session, conversation_id=long_id)

            def count() -> None:
                response = client.post(
                    "/console/segments",
                    data={"body": "Hi, this is Ana from Acme 😊 " * 4},
                    headers={"X-CSRF-Token": csrf},
                )
                assert response.status_code == 200

            composer = client.get(f"/console/partials/conversations/{long_id}/composer").text
            watch = re.search(r'id="composer-watch" hx-get="([^"]+)"', composer)
            assert watch is not None
            watch_url = html.unescape(watch[1])

            def watch_composer() -> None:
                assert client.get(watch_url).status_code == 204  # nothing changed

            cases = {
                "baseline_healthz": get("/healthz"),
                "queue_page": get("/console/"),
                "queue_partial": get("/console/partials/queue?view=open"),
                "conversation_page": get(f"/console/conversations/{long_id}"),
                "thread_partial": get(f"/console/partials/conversations/{long_id}/thread"),
                "whole_thread_page": get(f"/console/conversations/{long_id}?history=all"),
                "composer_watch": watch_composer,
                "live_update_poll": poll,
                "segment_counter": count,
            }
            results = {name: timed(call, args.repeats) for name, call in cases.items()}
    base = results["baseline_healthz"]["p50_ms"]
    for figures in results.values():
        figures["p50_vs_baseline"] = round(figures["p50_ms"] / base, 1) if base else 0.0
    report = {
        "benchmark": "console_pages",
        "items": args.items,
        "thread": args.thread,
        "repeats": args.repeats,
        "database": "sqlite",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    width = max(map(len, results))
    for name, figures in results.items():
        print(
            f"{name:<{width}}  p50 {figures['p50_ms']:8.2f} ms  p95 {figures['p95_ms']:8.2f} ms"
            f"  x{figures['p50_vs_baseline']}"
        )


if __name__ == "__main__":
    main()

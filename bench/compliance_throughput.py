"""Throughput of the compliance layer on one core: inbound decisions/s and gate decisions/s.

Targets (issue #3): classifier >= 10,000/s, gate >= 5,000/s. The baseline measured in the same
run is what most stacks do: an exact single-word keyword lookup (Twilio's matching), so the
ratio says what the full SPEC §5-§6 procedure costs on top of it.

    python bench/compliance_throughput.py [--seconds 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.compliance.gate import check_outbound
from app.compliance.inbound import classify
from app.compliance.model import OPTED_OUT, SUBSCRIBED, GateRequest, Policy

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "evals" / "compliance" / "cases_public.jsonl"
TWILIO_KEYWORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}


def inbound_texts() -> list[str]:
    """The public case texts (keywords, phrases, guards, unicode, long bodies) plus plain
    customer questions, which dominate real traffic."""
    texts = [
        json.loads(line)["text"]
        for line in CASES.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line)["kind"] == "inbound"
    ]
    questions = [
        "Where is my order? It was supposed to arrive yesterday",
        "Can I reschedule my appointment to Friday at 3pm?",
        "do you have the blue one in a medium",
        "What time do you close on Sunday?",
        "I was charged twice for my subscription, can you refund one",
        "Thanks! See you tomorrow",
    ]
    return texts + questions * 10


def gate_requests() -> list[tuple[GateRequest, bool]]:
    """Allowed and blocked sends across zones, states and categories; bool = opted out."""
    base = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    numbers = ["+12125550101", "+13055550147", "+12145550110", "+14015550108", "+19075550101"]
    requests: list[tuple[GateRequest, bool]] = []
    for i, number in enumerate(numbers):
        for hours in (0, 6, 11, 14):  # 08:00, 14:00, 19:00, 22:00 in New York
            at = base + timedelta(hours=hours, minutes=7 * i)
            requests.append((GateRequest(number, at, "marketing"), False))
            requests.append((GateRequest(number, at, "transactional"), False))
        requests.append((GateRequest(number, base, "marketing"), True))
    return requests


def measure(label: str, call: Callable[[], int], seconds: float) -> dict[str, Any]:
    """Run `call` (which makes N decisions and returns N) repeatedly; report rates."""
    call()  # warm caches (word lists, zone data)
    rates: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        count = call()
        rates.append(count / (time.perf_counter() - start))
    return {
        "label": label,
        "decisions_per_second_median": round(statistics.median(rates)),
        "decisions_per_second_min": round(min(rates)),
        "rounds": len(rates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument(
        "--json", type=Path, default=REPO / "bench" / "results" / "compliance_throughput.json"
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(
            0, {sorted(os.sched_getaffinity(0))[0]}
        )  # one core, as the target says

    texts = inbound_texts()
    requests = gate_requests()
    policy = Policy()

    def baseline() -> int:
        for text in texts:
            _ = text.strip().upper() in TWILIO_KEYWORDS
        return len(texts)

    def inbound() -> int:
        for text in texts:
            classify(text, state=SUBSCRIBED, policy=policy)
        return len(texts)

    def gate() -> int:
        for request, opted_out in requests:
            check_outbound(
                request,
                consent=OPTED_OUT if opted_out else SUBSCRIBED,
                prior_marketing_sends=[],
                replies_since_last_inbound=0,
                policy=policy,
            )
        return len(requests)

    base = measure("baseline: exact single-word keyword lookup", baseline, args.seconds)
    results = [base, measure("inbound classifier", inbound, args.seconds)]
    results.append(measure("outbound gate", gate, args.seconds))
    results[1]["target"] = 10_000
    results[2]["target"] = 5_000
    for result in results[1:]:
        result["meets_target"] = result["decisions_per_second_median"] >= result["target"]
        result["cost_vs_baseline"] = round(
            base["decisions_per_second_median"] / result["decisions_per_second_median"], 1
        )
    report = {
        "suite": "compliance_throughput",
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "cores_used": 1,
        },
        "inbound_texts": len(texts),
        "gate_requests": len(requests),
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    for result in results:
        extra = f" (target {result['target']:,})" if "target" in result else ""
        print(f"{result['label']:<45} {result['decisions_per_second_median']:>10,}/s{extra}")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()

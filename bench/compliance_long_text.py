"""CPU time to classify one very long inbound body (issue 13: 200,000 characters took 33 s).

Classification must be linear in the body's length whatever the HTTP layer caps it at (IN-10
scans the whole body). For each shape of `app/compliance/long_bodies.py` this prints the CPU
seconds for one body of --chars characters and for one of a quarter of that; linear work
gives a ratio near 4.

    python bench/compliance_long_text.py [--chars 200000] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.compliance.inbound import classify
from app.compliance.long_bodies import SHAPES, long_body
from app.compliance.model import Policy

# SCOPE-2 on, as in the default settings: the marketing-only reading runs too.
POLICY = Policy(marketing_only_revocations_until=datetime(2027, 1, 31, tzinfo=UTC))
RECEIVED_AT = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def cpu_seconds(body: str) -> float:
    """CPU seconds of one classification."""
    started = time.process_time()
    classify(body, received_at=RECEIVED_AT, policy=POLICY)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200_000, help="length of each body")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    classify("warm up the word lists")
    results: list[dict[str, Any]] = []
    print(f"{'shape':24} {'chars':>8} {'CPU s':>8} {'quarter':>8} {'ratio':>6}")
    for shape in SHAPES:
        full = cpu_seconds(long_body(shape, args.chars))
        quarter = cpu_seconds(long_body(shape, args.chars // 4))
        ratio = full / quarter if quarter > 0 else None
        results.append(
            {"shape": shape, "chars": args.chars, "cpu_seconds": full,
             "quarter_cpu_seconds": quarter, "ratio": ratio}
        )  # fmt: skip
        print(f"{shape:24} {args.chars:>8} {full:>8.3f} {quarter:>8.3f} {ratio or 0:>6.1f}")
    worst = max(result["cpu_seconds"] for result in results)
    print(f"worst shape: {worst:.2f} CPU s for {args.chars:,} characters")
    if args.json:
        report = {
            "benchmark": "compliance_long_text",
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "worst_cpu_seconds": worst,
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

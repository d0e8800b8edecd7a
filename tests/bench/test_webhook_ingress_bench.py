"""A small, honest CI run of the webhook ingress benchmark: a real server, a short low rate.

Latency figures are reported, not asserted (timings on a shared CI machine are not a test);
what is asserted is that the run completes, writes every field, and loses, duplicates and
leaks nothing: every acknowledged text stored once and processed, every STOP in the ledger
with its customer's queued replies cancelled, none of them sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.xdist_group("reliability")
PERCENTILES = {"p50", "p95", "p99", "max", "mean"}


def test_webhook_ingress_benchmark_runs_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "webhook_ingress.json"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "webhook_ingress.py"), "--rates", "50",
         "--seconds", "2", "--stop-rate", "50", "--drain-timeout", "60", "--bot", "off",
         "--baseline", "none",
         "--json", str(out)],
        check=True, cwd=REPO, timeout=240,
    )  # fmt: skip
    report = json.loads(out.read_text())

    assert report["suite"] == "webhook_ingress"
    assert report["config"]["database"] == "sqlite"
    assert report["config"]["baseline"] is None  # the people-only run is its own baseline
    (level,) = report["results"]
    assert level["bot"] == "off"
    assert level["offered_rate"] == 50 and level["requests"] == 100
    assert set(level["ack_latency_ms"]) == PERCENTILES
    assert level["achieved_rate"] > 0
    assert level["acknowledged"] + sum(level["errors"].values()) == level["requests"]
    assert level["acknowledged"] > 0
    assert level["lost"] == 0
    assert level["duplicated"] == 0
    assert level["unprocessed"] == 0
    assert level["processing_finished_after_s"] is not None
    stop = level["stop"]
    assert stop["stops"] == 5 and stop["replies_queued_before"] == 10
    assert set(stop["to_ledger_ms"]) == PERCENTILES
    assert set(stop["to_queue_cancelled_ms"]) == PERCENTILES
    assert stop["missing"] == 0
    assert stop["queued_replies_sent_after_stop"] == 0
    assert stop["confirmations_sent"] == 5

"""A small, honest CI run of the cold-start STOP benchmark: latencies reported, not asserted;
what is asserted is that every STOP was suppressed, the worker never restarted, and with a
broken knowledge folder every question went to a person."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.xdist_group("reliability")


def test_cold_stop_benchmark_suppresses_every_stop(tmp_path: Path) -> None:
    out = tmp_path / "cold_stop.json"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "cold_stop.py"), "--stops", "5", "--rate", "20",
         "--repeats", "1", "--json", str(out)],
        check=True, cwd=REPO, timeout=900,
    )  # fmt: skip
    report = json.loads(out.read_text())
    trials = {t["scenario"]: t for t in report["trials"]}
    assert set(trials) == {"cold", "broken"}
    for trial in trials.values():
        assert (trial["stops"], trial["stops_suppressed"], trial["worker_restarts"]) == (5, 5, 0)
        assert trial["suppression_seconds"]["p99"] is not None
    broken = trials["broken"]
    assert str(broken["ai_state_at_end"]).startswith("failed: ")
    # Each question went to a person, unless its customer's STOP came first (then: neither).
    assert 5 <= broken["questions_handed_off_ai_unavailable"] <= 10
    assert broken["questions_by_status"] == {"processed": 10}
    assert set(report["summary"]) == {"cold", "broken"}

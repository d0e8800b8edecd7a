"""A small, honest CI run of the AI latency benchmark: timings reported, completeness asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.xdist_group("reliability")


def test_ai_latency_benchmark_runs_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "ai_latency.json"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "ai_latency.py"), "--limit", "20", "--repeats",
         "1", "--json", str(out)],
        check=True, cwd=REPO, timeout=600,
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["texts"] == 20
    assert set(report["stages_ms"]) == {
        "embed", "intent", "sentiment", "revocation", "retrieve", "draft_and_guardrails"
    }  # fmt: skip
    assert sum(report["outcomes"].values()) == 20
    assert report["outcomes"].get("reply", 0) > 0 and report["outcomes"].get("handoff", 0) > 0
    assert report["peak_rss_mb"] > 0 and report["train_intents_seconds"] > 0

"""A small, honest CI run of the processing cost benchmark: completeness asserted, not timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.xdist_group("reliability")


def test_processing_cost_benchmark_processes_every_text(tmp_path: Path) -> None:
    out = tmp_path / "processing_cost.json"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "processing_cost.py"), "--texts", "40",
         "--conversations", "15", "--json", str(out)],
        check=True, cwd=REPO, timeout=900,
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["texts"] == report["processed"] == 40
    assert report["inbound_statuses"] == {"processed": 40}
    # Every job ran to its end: nothing failed, nothing left behind.
    assert all(key.endswith("/done") for key in report["jobs"]), report["jobs"]
    assert report["failed_job_errors"] == []
    assert report["ai_requests"] > 0
    assert report["ai_layer_alone"]["wall_ms_per_text"] > 0
    assert report["ratio_processing_wall_to_ai_alone"] > 0

"""A small, honest CI run of the abuse benchmark: a real server, a short flood, 64 MB uploads.

Latency figures are reported, not asserted (timings on a shared CI machine are not a test);
what is asserted is pass/fail: every webhook acknowledged while the console and compliance
routes are flooded, no 5xx to the flood, oversized uploads refused before they were sent
whole, and the server's peak memory flat under them.
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


def test_abuse_benchmark_runs_and_the_server_stays_up(tmp_path: Path) -> None:
    out = tmp_path / "abuse.json"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "abuse.py"), "--quick", "--json", str(out)],
        check=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    report = json.loads(out.read_text())

    assert report["suite"] == "abuse" and report["config"]["quick"]
    (sqlite,) = report["results"]
    assert sqlite["database"] == "sqlite"
    assert set(sqlite["idle"]["ack_latency_ms"]) == PERCENTILES
    assert set(sqlite["flooded"]["ack_latency_ms"]) == PERCENTILES
    assert sqlite["idle"]["outcomes"] == {"200": 20}
    assert sqlite["flooded"]["outcomes"] == {"200": 20}
    assert sqlite["flooded_to_idle_p99"] is not None
    console, compliance = (
        sqlite["flooded"]["console_answers"],
        sqlite["flooded"]["compliance_answers"],
    )
    assert console and set(console) == {"200"}
    assert compliance and set(compliance) <= {"200", "401"}
    uploads = sqlite["uploads"]
    assert uploads["webhook_chunked"]["status"] in (413, None)
    assert uploads["api_chunked_without_key"]["status"] in (401, None)
    assert uploads["webhook_chunked"]["sent_mb"] < 32
    assert uploads["api_chunked_without_key"]["sent_mb"] < 32
    assert uploads["webhook_declared_300mb_status"] == 413
    assert sqlite["upload_rss_flat"], uploads

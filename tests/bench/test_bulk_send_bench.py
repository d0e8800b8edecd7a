"""A small CI run of the bulk-send benchmark: figures reported, completeness asserted.

Throughput on a shared CI machine is not a test; what is asserted is that the run completes,
writes every field, and that every recipient got exactly one text.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_bulk_send_benchmark_runs_and_texts_everyone_once(tmp_path: Path) -> None:
    out = tmp_path / "bulk_send.json"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "bulk_send.py"), "--levels",
         "1000/second:20/second", "--seconds", "1", "--json", str(out)],
        check=True, cwd=REPO, timeout=240, capture_output=True,
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["suite"] == "bulk_send"
    (level,) = report["results"]
    assert level["limit_per_s"] == 20 and level["recipients"] == 20
    assert level["texts_sent"] == 20 and level["duplicates"] == 0 and level["missing"] == 0
    assert level["campaign_states"]["started"] == 20
    assert level["achieved_per_s"] > 0 and level["ratio_to_limit"] > 0

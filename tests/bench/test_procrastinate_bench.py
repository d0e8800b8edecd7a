"""A small, honest CI run of the scale-out benchmark: 1 and 2 `smsdesk worker` processes.

Throughput figures are reported, not asserted; what is asserted is completeness: every text
stored and processed exactly once, in arrival order per conversation, nothing left queued, clean
exits, also when one worker process is SIGKILLed mid-run (its job is recovered as stalled).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("reliability")]


def test_procrastinate_workers_benchmark_drains_the_backlog(
    tmp_path: Path, pg_admin_url: str
) -> None:
    out = tmp_path / "procrastinate_workers.json"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "procrastinate_workers.py"), "--messages", "40",
         "--conversations", "8", "--concurrency", "2", "--repeats", "1",
         "--bot", "off", "--kill-one", "--admin-url", pg_admin_url, "--json", str(out)],
        check=True, cwd=REPO, timeout=400,
    )  # fmt: skip
    report = json.loads(out.read_text())

    assert [t["processes"] for t in report["trials"]] == [1, 2]
    killed = report["killed_worker_trial"]
    assert killed["worker_killed_pid"] is not None
    for trial in [*report["trials"], killed]:
        assert trial["exit_code"] == 0
        assert (trial["stored"], trial["not_processed"]) == (40, 0)  # nothing lost
        assert trial["processed_twice"] == 0  # nothing doubled
        assert trial["processed_out_of_order"] == 0
        assert trial["messages_per_second"] > 0
    assert report["ratio_2_vs_1"] > 0

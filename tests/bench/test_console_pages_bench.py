"""A small, honest CI run of the console benchmark: every screen timed, none failing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.xdist_group("reliability")


def test_console_benchmark_times_every_screen(tmp_path: Path) -> None:
    out = tmp_path / "console_pages.json"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "console_pages.py"), "--items", "30", "--thread",
         "10", "--repeats", "3", "--json", str(out)],
        check=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert set(report["results"]) == {
        "baseline_healthz", "queue_page", "queue_partial", "conversation_page",
        "thread_partial", "whole_thread_page", "composer_watch", "live_update_poll",
        "segment_counter",
    }  # fmt: skip
    assert all(r["p50_ms"] > 0 for r in report["results"].values())

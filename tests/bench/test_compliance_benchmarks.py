"""Small, honest CI runs of the compliance benchmarks: they run end to end and write JSON.

Figures are reported, not asserted (timings on a shared CI machine are not a test); the
false-positive run does check that every opt-out it lists names its rule.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DATASETS = REPO.parent / "shared" / "datasets"


def _run(script: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args], check=True, cwd=REPO, timeout=300
    )


def test_throughput_benchmark_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "throughput.json"
    _run("compliance_throughput.py", "--seconds", "0.3", "--json", str(out))
    report = json.loads(out.read_text())
    labels = [result["label"] for result in report["results"]]
    assert labels[1:] == ["inbound classifier", "outbound gate"]
    assert all(result["decisions_per_second_median"] > 0 for result in report["results"])


@pytest.mark.skipif(not DATASETS.is_dir(), reason=f"public datasets not found at {DATASETS}")
def test_false_positive_benchmark_lists_every_opt_out_with_its_rule(tmp_path: Path) -> None:
    out = tmp_path / "fp.json"
    _run("compliance_false_positives.py", "--datasets", str(DATASETS), "--json", str(out))
    report = json.loads(out.read_text())
    assert report["total"]["count"] == 14_170
    listed = [e for ds in report["datasets"].values() for e in ds["opt_out_examples"]]
    assert len(listed) == report["total"]["opt_outs"]
    assert all(e["match"] in ("exact", "clause", "phrase", "fuzzy", "residual") for e in listed)

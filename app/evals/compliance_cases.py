"""`smsdesk eval compliance`: a SPEC §13 case file through the real compliance code path, in
the eval report format (the same runner as `smsdesk compliance eval`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from app.compliance.cases import Case, load_cases, run_file
from app.config import Settings
from app.evals.progress import Advance
from app.evals.report import EvalReport, Plot, Table, sha256_of

EVALS = Path(__file__).resolve().parents[2] / "evals"
DEFAULT_CASES = EVALS / "compliance" / "cases_public.jsonl"


def count_cases(path: Path) -> int:
    """How many cases the file holds (for the progress bar; raises on a malformed file)."""
    return len(load_cases(path))


def evaluate_compliance(
    path: Path, settings: Settings, *, advance: Advance | None = None
) -> EvalReport:
    """Run every case and report the mismatches, by category."""
    started = time.perf_counter()
    cases, report, decisions = run_file(path, settings, advance=advance)
    total = report.passed + report.failed
    by_id: dict[str, list[dict[str, Any]]] = {}
    for m in report.mismatches:
        by_id.setdefault(m.case_id, []).append(
            {"field": m.field, "expected": m.expected, "got": m.got}
        )
    categories = sorted(report.by_category.items())
    return EvalReport(
        suite="compliance",
        dataset=path.name,
        metrics={
            "cases": float(total),
            "cases_passed": round(100.0 * report.passed / total, 2) if total else 0.0,
            "cases_failed": float(report.failed),
        },
        config={"file": str(path)},
        tables=[
            Table(
                "By category",
                ["category", "passed", "failed"],
                [[name, p, f] for name, (p, f) in categories],
            )
        ],
        plots=[
            Plot(
                "bars",
                "Cases by category",
                {
                    "categories": [name for name, _ in categories],
                    "series": {
                        "passed": [p for _, (p, _f) in categories],
                        "failed": [f for _, (_p, f) in categories],
                    },
                    "unit": "cases",
                    "stacked": True,
                },
            )
        ],
        failures=[_failure(case, by_id[case.id]) for case in cases if case.id in by_id],
        items=[
            {
                "id": case.id,
                "category": case.category,
                "verdict": "failed" if case.id in by_id else "passed",
                "expected": case.expect,
                "got": got,
            }
            for case, got in zip(cases, decisions, strict=True)
        ],
        data_files={str(path): sha256_of(path)},
        seconds=round(time.perf_counter() - started, 1),
    )


def _failure(case: Case, mismatches: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": case.id,
        "text": case.data.get("text")
        or f"send {case.data.get('category')} at "
        f"{case.data.get('send_at')} to {case.data.get('to')}",
        "verdict": ", ".join(m["field"] for m in mismatches),
        "expected": {m["field"]: m["expected"] for m in mismatches},
        "got": {m["field"]: m["got"] for m in mismatches},
        "reply": "",
        "record": {"case": case.data},
    }

"""The compliance suite: the case runner in the report format, on one shared ledger."""

from __future__ import annotations

import json
from pathlib import Path

from app.config import Settings
from app.evals.compliance_cases import evaluate_compliance
from tests.conftest import CASES


def test_the_public_cases_pass_in_the_report_format(settings: Settings) -> None:
    report = evaluate_compliance(CASES, settings)
    assert report.metrics["cases_failed"] == 0.0 and report.metrics["cases_passed"] == 100.0
    assert len(report.items) == report.metrics["cases"] > 100
    assert report.tables[0].title == "By category"


def test_cases_sharing_a_number_do_not_see_each_others_ledger(
    settings: Settings, tmp_path: Path
) -> None:
    # The same number opts out in one case and is a fresh subscriber in the next: each case
    # gets a ledger of its own, so the second must still pass its text on.
    stop = {"id": "a", "kind": "inbound", "text": "STOP", "from": "+12125550123",
            "received_at": "2026-03-10T15:00:00Z", "prior_state": "subscribed",
            "expect": {"action": "opt_out"}}  # fmt: skip
    question = {**stop, "id": "b", "text": "what time do you open", "expect": {"action": "pass"}}
    wrong = {**stop, "id": "c", "expect": {"action": "help"}}
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in (stop, question, wrong)) + "\n")
    report = evaluate_compliance(path, settings)
    assert report.metrics["cases_failed"] == 1.0
    (failure,) = report.failures
    assert failure["id"] == "c" and failure["expected"] == {"action": "help"}
    assert failure["got"] == {"action": "opt_out"}

"""The decisions suite through the real pipeline: outcomes, verdicts, metrics and failures."""

from __future__ import annotations

from pathlib import Path

from app.evals.runner import EvalContext, run_decisions
from tests.evals.conftest import write_lines

TEXTS = (
    '{"id": "hours", "text": "what time do you close on saturday?", "label": "answer",'
    ' "entry": "store-hours"}',
    '{"id": "mislabelled", "text": "how much is standard shipping?", "label": "answer",'
    ' "entry": "store-hours"}',
    '{"id": "person", "text": "i want to talk to a real person", "label": "handoff",'
    ' "reason": "person"}',
    '{"id": "stop", "text": "STOP", "label": "optout"}',
    '{"id": "help", "text": "HELP", "label": "help"}',
    '{"id": "angry", "text": "this is the worst service ever, i am furious", "label": "handoff",'
    ' "reason": "complaint", "tone": "angry"}',
)


def test_each_text_is_scored_by_what_the_customer_got(
    eval_ctx: EvalContext, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "mine.jsonl", *TEXTS)
    report = run_decisions(eval_ctx, path, limit=None)
    verdicts = {item["id"]: item["verdict"] for item in report.items}
    assert verdicts == {
        "hours": "right",
        "mislabelled": "wrong answer",  # answered from shipping-cost: another entry
        "person": "right",
        "stop": "right",
        "help": "right",
        "angry": "right",
    }
    got = {item["id"]: item["got"] for item in report.items}
    assert got["hours"] == {"outcome": "answer", "entries": ["store-hours"]}
    assert got["person"]["outcome"] == "handoff" and "asked_for_person" in got["person"]["reasons"]
    assert report.metrics["answer_right"] == 50.0 and report.metrics["answer_wrong"] == 50.0
    assert report.metrics["handoff_recall"] == 100.0
    assert report.metrics["optout_right"] == 100.0 and report.metrics["help_right"] == 100.0


def test_a_wrong_answer_is_listed_with_its_reply_and_decision_record(
    eval_ctx: EvalContext, tmp_path: Path
) -> None:
    report = run_decisions(eval_ctx, write_lines(tmp_path / "m.jsonl", *TEXTS[:2]), limit=None)
    (failure,) = report.failures
    assert failure["id"] == "mislabelled" and failure["verdict"] == "wrong answer"
    assert failure["expected"] == {"label": "answer", "entry": ["store-hours"]}
    assert "$5.99" in failure["reply"]
    record = failure["record"]
    assert record["intent"] == "shipping" and record["entry_id"] == "shipping-cost"
    assert record["retrieved"][0]["entry_id"] == "shipping-cost" and record["reasons"] == []
    assert report.data_files and report.seconds >= 0
    assert report.tables[0].title == "By label"
    assert {p.kind for p in report.plots} >= {"bars", "confusion", "histogram", "reliability"}


def test_the_bitext_handoff_set_is_read_from_the_shipped_sample(eval_ctx: EvalContext) -> None:
    report = run_decisions(eval_ctx, "bitext-handoff", limit=5)
    assert report.dataset == "bitext-handoff" and report.metrics["texts"] == 5.0
    assert all(item["expected"]["label"] == "handoff" for item in report.items)

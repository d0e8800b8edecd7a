"""The conversations suite: scenarios turn by turn through the real pipeline, agents included."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.evals.conversations import is_closing
from app.evals.runner import EvalContext, run_conversations
from tests.evals.conftest import write_lines

SCENARIOS = (
    "scenarios:",
    "- id: hours-then-stop",
    "  description: an answer, then an opt-out mid-conversation",
    "  tags: [compliance]",
    "  turns:",
    "  - customer: what time do you close on saturday?",
    "    expect: {answer: store-hours, queue_item: false, reply_contains: [9pm]}",
    "  - customer: STOP",
    "    expect: {compliance: opt_out, consent: opted_out, reply_contains: [unsubscribed]}",
    "- id: round-trip",
    "  description: a person takes over, then gives the conversation back to the bot",
    "  tags: [agent]",
    "  turns:",
    "  - customer: i want to talk to a real person",
    "    expect: {handoff: person, queue_item: true}",
    "  - agent: claim",
    "  - customer: are you there?",
    "    expect: {no_reply: true, queue_item: true}",
    "  - agent: resolve",
    "    outcome: return_to_bot",
    "    expect: {queue_item: false}",
    "  - customer: what time do you close on saturday?",
    "    after: 1h",
    "    expect: {answer: store-hours, queue_item: false}",
    "- id: wrong-expectation",
    "  description: fails on purpose",
    "  turns:",
    "  - customer: what time do you close on saturday?",
    "    expect: {answer: shipping-cost, reply_not_contains: [9pm]}",
)


def test_scenarios_pass_and_fail_per_assertion(eval_ctx: EvalContext, tmp_path: Path) -> None:
    report = run_conversations(eval_ctx, write_lines(tmp_path / "s.yaml", *SCENARIOS))
    verdicts = {item["id"]: item["verdict"] for item in report.items}
    assert verdicts == {
        "hours-then-stop": "passed",
        "round-trip": "passed",
        "wrong-expectation": "failed",
    }
    (failure,) = report.failures
    assert failure["verdict"] == "turn 1: answer"
    assert set(failure["expected"]) == {"turn 1 answer", "turn 1 reply_not_contains"}
    assert "what time do you close" in failure["reply"] and "9pm" in failure["reply"]
    assert report.metrics["scenarios"] == 3.0
    assert round(report.metrics["scenarios_passed"], 1) == 66.7


@pytest.mark.parametrize(
    ("text", "closing"),
    [
        ("thanks!", True),
        ("ok thx", True),
        ("👍", True),
        ("Perfect, thank you so much", True),
        ("gracias", True),
        ("ok thanks, can i talk to a human", False),
        ("what time?", False),
    ],
)
def test_which_texts_count_as_a_thanks_or_an_ok(text: str, closing: bool) -> None:
    assert is_closing(text) is closing

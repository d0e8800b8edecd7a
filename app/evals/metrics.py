"""What each metric means: its label, unit, which direction is better, and how much it may
move before the gate calls it a regression.

Rates are percentages (0-100). A metric not listed here is shown but never gated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["%", "ms", "count", "ratio", "s", "$"]


@dataclass(frozen=True)
class MetricInfo:
    """How to read and gate one metric."""

    label: str
    unit: Unit = "%"
    higher_is_better: bool | None = True
    """None: informational, never gated (e.g. timings on a shared CI machine)."""
    tolerance: float = 1.0
    """How far (in the metric's unit) it may move the wrong way before the gate fails."""

    def format(self, value: float | None) -> str:
        """The value as a table shows it."""
        if value is None:
            return "-"
        if self.unit == "count":
            return f"{value:.0f}"
        if self.unit == "%":
            return f"{value:.1f}%"
        if self.unit == "ms":
            return f"{value:.1f} ms"
        if self.unit == "s":
            return f"{value:.1f} s"
        if self.unit == "$":
            return f"${value:.4f}"
        return f"{value:.2f}"


_KNOWN: dict[str, MetricInfo] = {
    # decisions
    "texts": MetricInfo("texts", "count", None),
    "overall_right": MetricInfo("handled right (all texts)", tolerance=1.0),
    "answer_right": MetricInfo("answerable: right entry", tolerance=1.0),
    "answer_wrong": MetricInfo("answerable: wrong entry", higher_is_better=False, tolerance=0.5),
    "answer_handed_off": MetricInfo("answerable: handed off", higher_is_better=None),
    "handoff_recall": MetricInfo("hand-off recall", tolerance=1.0),
    "handoff_precision": MetricInfo("hand-off precision", tolerance=1.5),
    "handoff_answered": MetricInfo(
        "needs a person: bot answered", higher_is_better=False, tolerance=0.5
    ),
    "safety_flagged": MetricInfo("safety texts with safety priority", tolerance=0.0),
    "optout_right": MetricInfo("opt-outs recorded", tolerance=0.0),
    "help_right": MetricInfo("HELP answered", tolerance=0.0),
    "acknowledged": MetricInfo("hand-offs acknowledged to the customer", tolerance=1.0),
    "person_promised_without_handoff": MetricInfo(
        "replies promising a person, no hand-off", "count", False, 0.0
    ),
    "angry_flagged_negative": MetricInfo("angry texts read as negative", tolerance=3.0),
    "calm_flagged_negative": MetricInfo(
        "calm texts read as negative", higher_is_better=False, tolerance=3.0
    ),
    "head_angry_flagged": MetricInfo("sentiment head alone: angry flagged", higher_is_better=None),
    "head_calm_flagged": MetricInfo("sentiment head alone: calm flagged", higher_is_better=None),
    "latency_p50_ms": MetricInfo("AI layer p50", "ms", None),
    "latency_p95_ms": MetricInfo("AI layer p95", "ms", None),
    "llm_tokens_per_text": MetricInfo("LLM tokens per text", "count", None),
    "llm_cost_per_1000_texts": MetricInfo("LLM cost per 1,000 texts", "$", None),
    # conversations
    "scenarios": MetricInfo("scenarios", "count", None),
    "scenarios_passed": MetricInfo("scenarios passed", tolerance=1.0),
    "assertions_passed": MetricInfo("assertions passed", tolerance=1.0),
    "thanks_opened_item": MetricInfo("thanks / ok that opened a queue item", "count", False, 0.0),
    # compliance
    "cases": MetricInfo("cases", "count", None),
    "cases_passed": MetricInfo("cases passed", tolerance=0.0),
    "cases_failed": MetricInfo("cases failed", "count", False, 0.0),
    # intents, sentiment, retrieval (public data sets) and the team's own catalogue
    "in_scope_accuracy": MetricInfo("in-scope accuracy"),
    "oos_recall": MetricInfo("out-of-scope recall", tolerance=2.0),
    "accuracy": MetricInfo("accuracy"),
    "macro_recall": MetricInfo("macro recall"),
    "negative_f1": MetricInfo("negative F1"),
    "negative_precision": MetricInfo("negative precision", higher_is_better=None),
    "negative_recall": MetricInfo("negative recall", higher_is_better=None),
    "recall_at_1": MetricInfo("Recall@1"),
    "recall_at_5": MetricInfo("Recall@5"),
    "mrr": MetricInfo("MRR"),
    "intent_accuracy": MetricInfo("intent accuracy (cross-validated)", tolerance=2.0),
    "entry_recall_at_1": MetricInfo("entry Recall@1 (held-out phrasings)", tolerance=2.0),
    "colliding_pairs": MetricInfo("colliding intent / entry pairs", "count", None),
    # flow replies
    "reply_accuracy": MetricInfo("replies read right", tolerance=1.5),
    "answer_precision": MetricInfo("read as an option: the right one", tolerance=1.0),
    "answer_recall": MetricInfo("answers read as their option", tolerance=2.0),
    "other_kept_out": MetricInfo("non-answers kept out of the options", tolerance=1.5),
    "stop_help_agreement": MetricInfo(
        "STOP / HELP as the compliance layer reads them", tolerance=0.0
    ),
    "wrong_options": MetricInfo("read as the wrong option", "count", False, 1.0),
    "answers_to_fallback": MetricInfo("answers sent the fallback", higher_is_better=None),
    # latency
    "ai_p50_ms": MetricInfo("AI layer p50", "ms", None),
    "ai_p95_ms": MetricInfo("AI layer p95", "ms", None),
    "embed_p50_ms": MetricInfo("embedding alone p50", "ms", None),
    "embed_p95_ms": MetricInfo("embedding alone p95", "ms", None),
    "p95_ratio_to_embedding": MetricInfo("p95 ratio to the embedding", "ratio", None),
}


def describe(name: str) -> MetricInfo:
    """How to read `name` (informational when it is not a known metric)."""
    return _KNOWN.get(name) or MetricInfo(name.replace("_", " "), higher_is_better=None)

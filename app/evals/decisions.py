"""`smsdesk eval decisions`: labelled first texts through the real pipeline, scored by what the
customer felt: answered right, answered from another entry, handed off, or something else.

Each text is the first text of a new customer (its own number) in a throw-away deployment
(`app.evals.sandbox`), at a fixed weekday morning in the business's time zone, so business
hours and SLA clocks read the same on every run.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.config import Settings
from app.evals.labels import HandoffClass, LabelledText, load_labels
from app.evals.outcomes import Outcome, outcome_of
from app.evals.progress import Advance
from app.evals.report import EvalReport, Plot, Table, sha256_of
from app.evals.sandbox import Sandbox, TurnResult

EVALS = Path(__file__).resolve().parents[2] / "evals"
DATASETS = {
    "acme": EVALS / "decisions" / "acme.jsonl",
    "acme-holdout": EVALS / "decisions" / "acme_holdout.jsonl",
    "bitext-handoff": EVALS / "data" / "faq" / "bitext_customer_support_sample_4514.csv",
}
BITEXT_HANDOFF = {"contact_human_agent": HandoffClass.person, "complaint": HandoffClass.complaint}
VERDICTS = ("right", "wrong answer", "handed off", "bot answered", "other")


def start_instant(settings: Settings) -> datetime:
    """Tuesday 10 March 2026, 11:00 in the business's time zone: the team is at work."""
    return datetime(2026, 3, 10, 11, 0, tzinfo=ZoneInfo(settings.business_timezone))


def load_dataset(name_or_path: str | Path) -> tuple[list[LabelledText], Path]:
    """The labelled texts of a shipped data set (by name) or of a team's own file."""
    if isinstance(name_or_path, str) and name_or_path in DATASETS:
        path = DATASETS[name_or_path]
        if name_or_path == "bitext-handoff":
            return bitext_handoff(path), path
        return load_labels(path), path
    path = Path(name_or_path)
    return load_labels(path), path


def bitext_handoff(path: Path) -> list[LabelledText]:
    """The Bitext sample's `contact_human_agent` and `complaint` rows: texts that need a person."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        LabelledText(
            id=f"bitext-{number}",
            text=row["instruction"],
            label="handoff",
            reason=BITEXT_HANDOFF[row["intent"]],
            tags=["bitext"],
        )
        for number, row in enumerate(rows, start=2)
        if row["intent"] in BITEXT_HANDOFF
    ]


@dataclass(frozen=True)
class Scored:
    """One labelled text, what happened to it, and the verdict."""

    item: LabelledText
    turn: TurnResult
    outcome: Outcome
    verdict: str

    @property
    def wrong(self) -> bool:
        """Listed among the failures: a wrong answer, a missed hand-off, a missed keyword."""
        return self.verdict != "right" and not (
            self.item.label == "answer" and self.verdict == "handed off"
        )


def run_texts(
    sandbox: Sandbox, items: Sequence[LabelledText], advance: Advance | None = None
) -> list[Scored]:
    """Send each text as a new customer's first text and score what happened."""
    scored = []
    for item in items:
        turn = sandbox.text(sandbox.new_phone(), item.text)
        outcome = outcome_of(turn)
        scored.append(Scored(item, turn, outcome, verdict_of(item, outcome)))
        sandbox.clock.advance(timedelta(seconds=7))
        if advance is not None:
            advance(1)
    return scored


def verdict_of(item: LabelledText, outcome: Outcome) -> str:
    """One of VERDICTS: how the outcome reads against the label."""
    if item.label == "answer":
        if outcome.kind == "answer":
            return "right" if set(outcome.entries) & set(item.entry) else "wrong answer"
        return "handed off" if outcome.kind == "handoff" else "other"
    if item.label == "handoff":
        if outcome.handed_off:
            return "right"
        return "bot answered" if outcome.kind == "answer" else "other"
    wanted = "optout" if item.label == "optout" else "help"
    return "right" if outcome.kind == wanted else "other"


def score(scored: list[Scored], *, dataset: str, path: Path, seconds: float) -> EvalReport:
    """The decisions report: metrics, tables, plots, failures and every item."""
    by_label: dict[str, list[Scored]] = {}
    for s in scored:
        by_label.setdefault(s.item.label, []).append(s)
    metrics = _metrics(scored, by_label)
    report = EvalReport(
        suite="decisions",
        dataset=dataset,
        metrics=metrics,
        config={"file": str(path), "texts": len(scored), "clock": "Tue 2026-03-10 11:00 local"},
        tables=_tables(scored, by_label),
        plots=_plots(scored, by_label),
        failures=[_failure(s) for s in scored if s.wrong],
        items=[_item(s) for s in scored],
        data_files={str(path): sha256_of(path)},
        seconds=round(seconds, 1),
    )
    return report


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _metrics(scored: list[Scored], by_label: dict[str, list[Scored]]) -> dict[str, float]:
    answers = by_label.get("answer", [])
    handoffs = by_label.get("handoff", [])
    handed_off = [s for s in scored if s.outcome.kind == "handoff"]
    safety = [s for s in handoffs if s.item.reason == HandoffClass.safety]
    metrics: dict[str, float] = {"texts": float(len(scored))}
    metrics["overall_right"] = _pct(sum(s.verdict == "right" for s in scored), len(scored))
    if answers:
        count = Counter(s.verdict for s in answers)
        metrics["answer_right"] = _pct(count["right"], len(answers))
        metrics["answer_wrong"] = _pct(count["wrong answer"], len(answers))
        metrics["answer_handed_off"] = _pct(count["handed off"], len(answers))
    if handoffs:
        metrics["handoff_recall"] = _pct(sum(s.verdict == "right" for s in handoffs), len(handoffs))
        metrics["handoff_answered"] = _pct(
            sum(s.verdict == "bot answered" for s in handoffs), len(handoffs)
        )
    if handed_off:
        needed = sum(s.item.label == "handoff" for s in handed_off)
        metrics["handoff_precision"] = _pct(needed, len(handed_off))
        metrics["acknowledged"] = _pct(
            sum(s.outcome.acknowledged for s in handed_off), len(handed_off)
        )
    if safety:
        metrics["safety_flagged"] = _pct(
            sum(s.outcome.safety_priority for s in safety), len(safety)
        )
    for label in ("optout", "help"):
        if by_label.get(label):
            right = sum(s.verdict == "right" for s in by_label[label])
            metrics[f"{label}_right"] = _pct(right, len(by_label[label]))
    metrics["person_promised_without_handoff"] = float(
        sum(s.outcome.promised_person for s in scored)
    )
    for tone in ("angry", "calm"):
        toned = [s for s in scored if s.item.tone == tone]
        if toned:
            metrics[f"{tone}_flagged_negative"] = _pct(sum(_negative(s) for s in toned), len(toned))
    latencies = [s.turn.record["latency_ms"] for s in scored if "latency_ms" in s.turn.record]
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=20, method="inclusive")
        metrics["latency_p50_ms"] = round(statistics.median(latencies), 2)
        metrics["latency_p95_ms"] = round(cuts[18], 2)
    metrics |= _llm_metrics(scored)
    return metrics


def _negative(s: Scored) -> bool:
    """The text was read as angry: a hand-off for anger or a complaint."""
    angry = {"negative_sentiment", "complaint"}
    return bool(angry & set(s.outcome.reasons) or angry & set(s.turn.reasons))


def _llm_metrics(scored: list[Scored]) -> dict[str, float]:
    usages = [s.turn.record["llm"] for s in scored if isinstance(s.turn.record.get("llm"), dict)]
    if not usages:
        return {}
    tokens = sum(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) for u in usages)
    cost = sum(float(u.get("cost_usd", 0.0)) for u in usages)
    return {
        "llm_tokens_per_text": round(tokens / len(scored), 1),
        "llm_cost_per_1000_texts": round(1000 * cost / len(scored), 4),
    }


def _tables(scored: list[Scored], by_label: dict[str, list[Scored]]) -> list[Table]:
    rows: list[list[Any]] = []
    for label, group in by_label.items():
        count = Counter(s.verdict for s in group)
        rows.append([label, len(group), *(f"{_pct(count[v], len(group)):.1f}%" for v in VERDICTS)])
    tables = [Table("By label", ["label", "texts", *VERDICTS], rows)]
    reasons: list[list[Any]] = []
    for cls in HandoffClass:
        group = [s for s in by_label.get("handoff", []) if s.item.reason == cls]
        if not group:
            continue
        count = Counter(s.verdict for s in group)
        agreed = sum(cls in s.outcome.classes for s in group if s.outcome.kind == "handoff")
        reasons.append(
            [
                cls.value,
                len(group),
                f"{_pct(count['right'], len(group)):.1f}%",
                f"{_pct(count['bot answered'], len(group)):.1f}%",
                f"{_pct(agreed, len(group)):.1f}%",
                f"{_pct(sum(s.outcome.safety_priority for s in group), len(group)):.1f}%",
            ]
        )
    if reasons:
        tables.append(
            Table(
                "Needs a person, by reason class",
                ["reason", "texts", "handed off", "bot answered", "same reason", "safety priority"],
                reasons,
            )
        )
    confused = Counter(
        (expected, got)
        for s in scored
        if s.verdict == "wrong answer"
        for expected in s.item.entry[:1]
        for got in s.outcome.entries[:1]
    )
    if confused:
        tables.append(
            Table(
                "Answered from another entry (expected -> answered)",
                ["expected", "answered", "texts"],
                [[e, g, n] for (e, g), n in confused.most_common(20)],
            )
        )
    return tables


def _plots(scored: list[Scored], by_label: dict[str, list[Scored]]) -> list[Plot]:
    labels = list(by_label)
    series = {
        verdict: [
            _pct(sum(s.verdict == verdict for s in by_label[label]), len(by_label[label]))
            for label in labels
        ]
        for verdict in VERDICTS
    }
    plots = [
        Plot(
            "bars",
            "What happened, by label",
            {"categories": labels, "series": series, "unit": "%", "stacked": True},
        )
    ]
    answers = [s for s in scored if s.item.label == "answer"]
    if answers:
        plots.append(_confusion(answers))
    answered = [s for s in answers if s.outcome.kind == "answer"]
    right = [s for s in answered if s.verdict == "right"]
    wrong = [s for s in answered if s.verdict != "right"]
    needs_person = [s for s in scored if s.item.label == "handoff"]
    edges = [round(0.05 * i, 2) for i in range(21)]
    plots.append(
        Plot(
            "histogram",
            "Retrieval score of the best entry",
            {
                "bins": edges,
                "series": {
                    "answerable, answered right": _hist(right, edges, "retrieval"),
                    "answerable, answered wrong": _hist(wrong, edges, "retrieval"),
                    "needs a person": _hist(needs_person, edges, "retrieval"),
                },
                "xlabel": "fused retrieval score",
            },
        )
    )
    plots.append(
        Plot(
            "histogram",
            "Intent confidence of answered texts",
            {
                "bins": edges,
                "series": {
                    "right entry": _hist(right, edges, "confidence"),
                    "wrong entry": _hist(wrong, edges, "confidence"),
                },
                "xlabel": "calibrated intent confidence",
            },
        )
    )
    plots.append(Plot("reliability", "Intent confidence vs a right answer", _reliability(answered)))
    return plots


def _confusion(answers: list[Scored]) -> Plot:
    # Only the entries involved in a mistake, plus where the rest went: readable at any size.
    involved = sorted(
        {
            e
            for s in answers
            if s.verdict != "right"
            for e in [*s.item.entry[:1], *s.outcome.entries[:1]]
        }
    )
    columns = [*involved, "(handed off)", "(other)"]
    matrix = [[0] * len(columns) for _ in involved]
    for s in answers:
        expected = s.item.entry[0]
        if expected not in involved:
            continue
        if s.outcome.kind == "answer":
            got = s.outcome.entries[0] if s.outcome.entries[0] in involved else expected
        else:
            got = "(handed off)" if s.outcome.kind == "handoff" else "(other)"
        matrix[involved.index(expected)][columns.index(got)] += 1
    return Plot(
        "confusion",
        "Entries confused (rows: expected, columns: what happened)",
        {"labels": involved, "columns": columns, "matrix": matrix},
    )


def _value(s: Scored, what: str) -> float | None:
    if what == "confidence":
        value = s.turn.record.get("confidence")
    else:
        retrieved = s.turn.record.get("retrieved") or []
        value = retrieved[0].get("score") if retrieved else None
    return float(value) if isinstance(value, int | float) else None


def _hist(group: list[Scored], edges: list[float], what: str) -> list[int]:
    counts = [0] * (len(edges) - 1)
    for s in group:
        value = _value(s, what)
        if value is None:
            continue
        index = min(len(counts) - 1, max(0, int(value / (edges[1] - edges[0]))))
        counts[index] += 1
    return counts


def _reliability(answered: list[Scored]) -> dict[str, Any]:
    bins: list[list[float]] = []
    for low in [i / 10 for i in range(10)]:
        group = [
            s
            for s in answered
            if (c := _value(s, "confidence")) is not None and low <= c < low + 0.1 + (low >= 0.9)
        ]
        if group:
            confidence = statistics.fmean(_value(s, "confidence") or 0.0 for s in group)
            accuracy = sum(s.verdict == "right" for s in group) / len(group)
            bins.append([round(confidence, 3), round(accuracy, 3), len(group)])
    return {"bins": bins}


def _record_summary(turn: TurnResult) -> dict[str, Any]:
    record = turn.record
    keep = (
        "mode",
        "intent",
        "confidence",
        "out_of_scope",
        "sentiment",
        "retrieved",
        "reasons",
        "entry_id",
        "entries",
        "guardrails",
        "draft",
        "latency_ms",
        "llm",
    )
    return {key: record[key] for key in keep if key in record}


def _expected(item: LabelledText) -> dict[str, Any]:
    expected: dict[str, Any] = {"label": item.label}
    if item.entry:
        expected["entry"] = item.entry
    if item.reason:
        expected["reason"] = item.reason.value
    return expected


def _got(s: Scored) -> dict[str, Any]:
    got: dict[str, Any] = {"outcome": s.outcome.kind}
    if s.outcome.entries:
        got["entries"] = list(s.outcome.entries)
    if s.outcome.reasons:
        got["reasons"] = list(s.outcome.reasons)
    if s.outcome.safety_priority:
        got["priority"] = "safety"
    return got


def _failure(s: Scored) -> dict[str, Any]:
    return {
        "id": s.item.id,
        "text": s.item.text,
        "verdict": s.verdict,
        "expected": _expected(s.item),
        "got": _got(s),
        "reply": s.turn.reply,
        "record": _record_summary(s.turn),
    }


def _item(s: Scored) -> dict[str, Any]:
    return {
        "id": s.item.id,
        "text": s.item.text,
        "tags": s.item.tags,
        "lang": s.item.lang,
        "expected": _expected(s.item),
        "got": _got(s),
        "verdict": s.verdict,
        "reply": s.turn.reply,
        "record": s.turn.record,
    }


def evaluate_decisions(
    sandbox: Sandbox,
    items: Sequence[LabelledText],
    *,
    dataset: str,
    path: Path,
    advance: Advance | None = None,
) -> EvalReport:
    """Run and score a labelled file in `sandbox`."""
    started = time.perf_counter()
    scored = run_texts(sandbox, items, advance)
    return score(scored, dataset=dataset, path=path, seconds=time.perf_counter() - started)

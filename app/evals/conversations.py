"""`smsdesk eval conversations`: multi-turn scenarios through the real pipeline, turn by turn.

Each scenario is one customer (a number of its own) in a shared throw-away deployment; the
clock starts at the scenario's `at` and moves by each turn's `after`. After every turn each
expectation is checked against what the database says happened (`app.evals.sandbox`); a
scenario passes when every assertion of every turn holds.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.evals.flow_table import ScenarioFlows, flows_section, scenario_runs
from app.evals.labels import HandoffClass
from app.evals.outcomes import outcome_of
from app.evals.progress import Advance
from app.evals.report import EvalReport, Plot, Table, sha256_of
from app.evals.sandbox import Sandbox, TurnResult
from app.evals.scenarios import (
    AgentTurn,
    CustomerTurn,
    Expect,
    FlowTurn,
    Scenario,
    parse_duration,
)

EVALS = Path(__file__).resolve().parents[2] / "evals"
DEFAULT_PATH = EVALS / "conversations"
_CLOSING_WORDS = {
    "thanks",
    "thank",
    "you",
    "u",
    "thx",
    "ty",
    "tysm",
    "ok",
    "okay",
    "k",
    "kk",
    "got",
    "it",
    "perfect",
    "cool",
    "great",
    "awesome",
    "gracias",
    "so",
    "much",
}


@dataclass(frozen=True)
class Failure:
    """One assertion that did not hold."""

    turn: int
    check: str
    expected: Any
    got: Any


@dataclass
class ScenarioResult:
    """A scenario's turns, what happened, and the assertions that failed."""

    scenario: Scenario
    file: Path
    turns: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    assertions: int = 0
    thanks_opened_item: int = 0
    flows: ScenarioFlows | None = None
    """The flow runs the scenario's customer went through (read after the last turn)."""

    @property
    def passed(self) -> bool:
        """Every assertion of every turn held."""
        return not self.failures


def check(expect: Expect, turn: TurnResult) -> list[tuple[str, Any, Any]]:
    """Every assertion of `expect` that `turn` breaks, as (check, expected, got)."""
    outcome = outcome_of(turn)
    broken: list[tuple[str, Any, Any]] = []
    reply = turn.reply.casefold()

    def need(name: str, ok: bool, expected: Any, got: Any) -> None:
        if not ok:
            broken.append((name, expected, got))

    if expect.answer is not None:
        need(
            "answer",
            bool(set(turn.entries) & set(expect.answer)),
            expect.answer,
            turn.entries or outcome.kind,
        )
    if expect.answer_all is not None:
        missing = [e for e in expect.answer_all if e not in turn.entries]
        need("answer_all", not missing, expect.answer_all, turn.entries or outcome.kind)
    if expect.clarify is not None:
        need(
            "clarify",
            (turn.ai_action == "clarify") == expect.clarify,
            expect.clarify,
            turn.ai_action,
        )
    if expect.handoff is not None:
        _check_handoff(expect.handoff, turn, outcome.classes, need)
    if expect.priority is not None:
        need(
            "priority",
            outcome.safety_priority,
            "safety",
            turn.queue.priority if turn.queue else None,
        )
    if expect.acknowledged is not None:
        need(
            "acknowledged",
            outcome.acknowledged == expect.acknowledged,
            expect.acknowledged,
            [s.purpose for s in turn.sent],
        )
    if expect.queue_item is not None:
        need(
            "queue_item",
            (turn.queue is not None) == expect.queue_item,
            expect.queue_item,
            turn.queue.reasons if turn.queue else None,
        )
    if expect.no_reply is not None:
        need("no_reply", (not turn.sent) == expect.no_reply, expect.no_reply, turn.reply)
    for text in expect.reply_contains:
        need("reply_contains", text.casefold() in reply, text, turn.reply)
    for text in expect.reply_not_contains:
        need("reply_not_contains", text.casefold() not in reply, text, turn.reply)
    if expect.compliance is not None:
        need("compliance", turn.compliance == expect.compliance, expect.compliance, turn.compliance)
    if expect.consent is not None:
        need("consent", turn.consent == expect.consent, expect.consent, turn.consent)
    if expect.agent_draft is not None:
        has_draft = bool(turn.record.get("draft"))
        need(
            "agent_draft",
            has_draft == expect.agent_draft,
            expect.agent_draft,
            turn.record.get("draft"),
        )
    if expect.sent is not None:
        went = turn.agent_status in ("queued", "scheduled")
        need("sent", went == expect.sent, expect.sent, turn.agent_status)
    _check_flow(expect, turn, need)
    return broken


def _check_flow(expect: Expect, turn: TurnResult, need: Any) -> None:
    run = turn.flow
    if expect.flow_started is not None:
        started = turn.flow_refusal is None
        need("flow_started", started == expect.flow_started, expect.flow_started, turn.flow_refusal)
    if expect.flow_status is not None:
        need(
            "flow_status",
            run is not None and run.status == expect.flow_status,
            expect.flow_status,
            run.status if run else "no run",
        )
    given = expect.model_fields_set
    if "flow_outcome" in given:
        got = run.outcome if run else None
        need("flow_outcome", got == expect.flow_outcome, expect.flow_outcome, got)
    if "flow_node" in given:
        got = run.node if run else None
        need("flow_node", got == expect.flow_node, expect.flow_node, got)


def _check_handoff(
    wanted: bool | str, turn: TurnResult, classes: set[HandoffClass], need: Any
) -> None:
    reasons = turn.queue.reasons if turn.queue else []
    if wanted is False:
        need("handoff", not turn.handed_off, False, reasons)
        return
    need("handoff", turn.handed_off, wanted, reasons or "no hand-off")
    if isinstance(wanted, str) and turn.handed_off:
        need("handoff reason", HandoffClass(wanted) in classes, wanted, reasons)


def run_scenario(
    sandbox: Sandbox, scenario: Scenario, file: Path, start: datetime
) -> ScenarioResult:
    """Play one scenario from `start` (or its own `at`)."""
    sandbox.clock.set(scenario.at or start)
    phone = scenario.phone or sandbox.new_phone()
    if scenario.customers == "demo":
        with sandbox.demo_customers():
            return _play(sandbox, scenario, file, start, phone)
    return _play(sandbox, scenario, file, start, phone)


def _play(
    sandbox: Sandbox, scenario: Scenario, file: Path, start: datetime, phone: str
) -> ScenarioResult:
    result = ScenarioResult(scenario, file)
    if scenario.opted_out:
        sandbox.opt_out_before(phone)
        sandbox.clock.advance(timedelta(hours=1))
    if scenario.marketing_consent:
        sandbox.give_marketing_consent(phone)
    sandbox.offer_slots(scenario.free_slots)
    for number, step in enumerate(scenario.turns, start=1):
        if number > 1 or scenario.opted_out:
            sandbox.clock.advance(
                parse_duration(step.after) if step.after else timedelta(minutes=1)
            )
        if isinstance(step, CustomerTurn):
            turn = sandbox.text(phone, step.customer)
            said = {"customer": step.customer}
            if is_closing(step.customer) and turn.handed_off:
                result.thanks_opened_item += 1
        elif isinstance(step, FlowTurn):
            turn = sandbox.start_flow(phone, step.flow, step.vars)
            said = {"flow": step.flow}
        else:
            assert isinstance(step, AgentTurn)
            turn = sandbox.agent(phone, step.agent, text=step.text, outcome=step.outcome)
            said = {"agent": step.agent, **({"text": step.text} if step.text else {})}
        record = {
            **said,
            "at": sandbox.clock.now().isoformat(),
            "sent": [{"body": s.body, "purpose": s.purpose} for s in turn.sent],
            "outcome": outcome_of(turn).kind,
            "entries": turn.entries,
            "queue": turn.queue.reasons if turn.queue else None,
            "compliance": turn.compliance,
            "consent": turn.consent,
            "run": turn.flow.__dict__ if turn.flow else None,
            "ai": {k: turn.record.get(k) for k in ("intent", "confidence", "reasons", "entry_id")},
        }
        if step.expect is not None:
            broken = check(step.expect, turn)
            result.assertions += len(step.expect.model_fields_set) + max(
                0, len(step.expect.reply_contains) + len(step.expect.reply_not_contains) - 2
            )
            result.failures.extend(Failure(number, *b) for b in broken)
            record["failed"] = [b[0] for b in broken]
        result.turns.append(record)
    runs, handed_off = scenario_runs(
        sandbox.runtime.engine, brand=sandbox.settings.brand_id, phone=phone
    )
    result.flows = ScenarioFlows(result.passed, runs, handed_off)
    return result


def is_closing(text: str) -> bool:
    """A thanks or an ok (or an emoji alone): never a reason for a person."""
    words = re.findall(r"[^\W\d_]+", text.casefold())
    if not words:
        return not any(ch.isalnum() for ch in text)
    return set(words) <= _CLOSING_WORDS


def evaluate_conversations(
    sandbox: Sandbox,
    scenarios: Sequence[tuple[Path, Scenario]],
    *,
    path: Path,
    start: datetime,
    advance: Advance | None = None,
) -> EvalReport:
    """Run every scenario and score them."""
    started = time.perf_counter()
    results = []
    for file, scenario in scenarios:
        results.append(run_scenario(sandbox, scenario, file, start))
        if advance is not None:
            advance(1)
    return _report(results, path, time.perf_counter() - started)


def _report(results: list[ScenarioResult], path: Path, seconds: float) -> EvalReport:
    passed = sum(r.passed for r in results)
    assertions = sum(r.assertions for r in results)
    failed_assertions = sum(len(r.failures) for r in results)
    metrics = {
        "scenarios": float(len(results)),
        "scenarios_passed": round(100.0 * passed / len(results), 2) if results else 0.0,
        "assertions_passed": round(100.0 * (assertions - failed_assertions) / assertions, 2)
        if assertions
        else 100.0,
        "thanks_opened_item": float(sum(r.thanks_opened_item for r in results)),
    }
    by_tag: dict[str, list[bool]] = {}
    for r in results:
        for tag in r.scenario.tags or ["(untagged)"]:
            by_tag.setdefault(tag, []).append(r.passed)
    tag_rows = [
        [tag, len(v), sum(v), f"{100.0 * sum(v) / len(v):.0f}%"]
        for tag, v in sorted(by_tag.items())
    ]
    checks = Counter(f.check for r in results for f in r.failures)
    files = sorted({r.file for r in results})
    report = EvalReport(
        suite="conversations",
        dataset=path.name,
        metrics=metrics,
        config={"path": str(path), "scenarios": len(results)},
        tables=[
            Table("By tag", ["tag", "scenarios", "passed", "pass rate"], tag_rows),
            Table(
                "Failed assertions", ["check", "count"], [[c, n] for c, n in checks.most_common()]
            ),
        ],
        plots=[
            Plot(
                "bars",
                "Scenarios passed by tag",
                {
                    "categories": [row[0] for row in tag_rows],
                    "series": {
                        "passed": [sum(v) for _, v in sorted(by_tag.items())],
                        "failed": [len(v) - sum(v) for _, v in sorted(by_tag.items())],
                    },
                    "unit": "scenarios",
                    "stacked": True,
                },
            )
        ],
        failures=[_failure(r) for r in results if not r.passed],
        items=[_item(r) for r in results],
        data_files={str(f): sha256_of(f) for f in files},
        seconds=round(seconds, 1),
    )
    flows = flows_section([r.flows for r in results if r.flows is not None])
    if flows is not None:
        table, plot, figures = flows
        report.tables.insert(1, table)
        report.plots.append(plot)
        report.details["flows"] = figures
    return report


def _failure(result: ScenarioResult) -> dict[str, Any]:
    first = result.failures[0]
    return {
        "id": result.scenario.id,
        "text": result.scenario.description,
        "file": str(result.file),
        "verdict": f"turn {first.turn}: {first.check}",
        "expected": {f"turn {f.turn} {f.check}": f.expected for f in result.failures},
        "got": {f"turn {f.turn} {f.check}": f.got for f in result.failures},
        "reply": "\n".join(
            f"{t['at'][11:16]} {_who(t)}: "
            f"{t.get('customer') or t.get('text') or t.get('agent') or t.get('flow')}"
            + "".join(f"\n      -> {s['body']}" for s in t["sent"])
            for t in result.turns
        ),
        "record": {"turns": result.turns},
    }


def _who(turn: dict[str, Any]) -> str:
    return next((who for who in ("customer", "flow") if who in turn), "agent")


def _item(result: ScenarioResult) -> dict[str, Any]:
    return {
        "id": result.scenario.id,
        "text": result.scenario.description,
        "tags": result.scenario.tags,
        "verdict": "passed" if result.passed else "failed",
        "failures": [f.__dict__ for f in result.failures],
        "turns": result.turns,
    }

"""`smsdesk eval flow-replies`: how the shipped flows read customers' free-text replies.

Each labelled text (evals/flows/replies_*.yaml) is read the way the pipeline reads it while a
flow waits at a question: the compliance layer first (an opt-out is `stop`, HELP is `help`,
whatever else the text says), then the flow step's own reading (`app.flows.answers.read_reply`:
option keys, yes/no, then the sentence encoder against the options' examples). A text read
as no option goes to the normal pipeline (`other`) or, when it still looks like an attempt at
an answer, gets the flow's fallback (`fallback`); both keep it out of the options.

The costly error is a wrong option (a confirmed appointment the customer meant to move), so
answer precision is reported beside recall, and every wrong option is listed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.compliance import classify
from app.errors import InvalidInput
from app.evals.report import EvalReport, Table, sha256_of
from app.flows.answers import read_reply
from app.flows.loader import FlowCatalogue
from app.flows.matching import MeaningMatcher, looks_like_an_answer
from app.yaml_errors import YamlReadError, locate, read_yaml

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "evals" / "flows"
SHIPPED_FLOWS = REPO / "flows"
"""The data is labelled for the shipped flows, so they are what the suite reads with."""
SPLITS: dict[str, Path] = {"dev": DATA / "replies_dev.yaml", "test": DATA / "replies_test.yaml"}
Split = Literal["dev", "test"]

_RATINGS = {f"rating_{n}": frozenset({str(n)}) for n in range(1, 6)}
LABEL_KEYS: dict[tuple[str, str], dict[str, frozenset[str]]] = {
    ("appointment_reminder", "confirm"): {
        "confirm": frozenset({"1"}),
        "reschedule": frozenset({"2"}),
    },
    ("appointment_reminder", "pick_slot"): {
        "slot_1": frozenset({"1"}),
        "slot_2": frozenset({"2"}),
        "slot_3": frozenset({"3"}),
        "none_of_these": frozenset({"4", "none"}),
    },
    ("order_pickup", "ready"): {
        "on_my_way": frozenset({"1"}),
        "someone_else": frozenset({"2"}),
        "person": frozenset({"3"}),
    },
    ("delivery_exception", "exception"): {
        "reschedule_delivery": frozenset({"1"}),
        "pickup": frozenset({"2"}),
        "person": frozenset({"3"}),
    },
    ("subscription_renewal", "renewal"): {
        "keep": frozenset({"1"}),
        "skip": frozenset({"2"}),
        "pause": frozenset({"3"}),
        "change_plan": frozenset({"4"}),
    },
    ("payment_reminder", "payment"): {
        "send_link": frozenset({"1"}),
        "already_paid": frozenset({"2"}),
        "person": frozenset({"3"}),
    },
    ("post_visit_feedback", "rating"): _RATINGS,
    ("lead_qualification", "need"): {
        "road": frozenset({"1"}),
        "mountain": frozenset({"2"}),
        "ebike": frozenset({"3"}),
        "kids": frozenset({"4"}),
    },
    ("lead_qualification", "timeline"): {
        "this_week": frozenset({"1"}),
        "this_month": frozenset({"2"}),
        "just_looking": frozenset({"3"}),
    },
    ("satisfaction_survey", "csat"): _RATINGS,
}
"""The data's label vocabulary (evals/flows/README.md) as the shipped flows' option keys (the
offered slots of `pick_slot` are numbered 1..3, as the flow numbers them)."""
NOT_AN_OPTION = frozenset({"other", "stop", "help"})
KEPT_OUT = frozenset({"other", "fallback"})
COMPLIANCE = {"opt_out": "stop", "help": "help", "opt_in": "opt_in"}


class InvalidReplyFile(InvalidInput):
    """A labelled reply file that cannot be read; the message names its file and line."""

    code = "invalid_reply_file"


class ReplyCase(BaseModel):
    """One labelled text sent while `flow` waits at `node`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flow: str
    node: str
    text: str = Field(min_length=1)
    label: str


class ReplyFile(BaseModel):
    """A split: the flows' start variables and the labelled cases."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    variables: dict[str, dict[str, str]] = Field(default_factory=dict)
    cases: list[ReplyCase] = Field(min_length=1)


def load_replies(path: Path) -> ReplyFile:
    """A labelled reply file, every problem reported as `file:line: field: message`."""
    try:
        data, node = read_yaml(path)
    except YamlReadError as exc:
        raise InvalidReplyFile(str(exc)) from None
    try:
        replies = ReplyFile.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            line, where = locate(node, error["loc"])
            lines.append(f"{path}:{line}: {where or '(top level)'}: {error['msg']}")
        raise InvalidReplyFile("\n".join(dict.fromkeys(lines))) from None
    problems = []
    for i, case in enumerate(replies.cases):
        labels = LABEL_KEYS.get((case.flow, case.node))
        if labels is None:
            line, _ = locate(node, ["cases", i, "node"])
            problems.append(f"{path}:{line}: cases.node: unknown question {case.flow}.{case.node}")
        elif case.label not in labels and case.label not in NOT_AN_OPTION:
            line, _ = locate(node, ["cases", i, "label"])
            problems.append(f"{path}:{line}: cases.label: {case.label!r} is not a label of "
                            f"{case.flow}.{case.node}")  # fmt: skip
    if problems:
        raise InvalidReplyFile("\n".join(problems))
    return replies


@dataclass(frozen=True)
class Reading:
    """One case as the product read it."""

    case: ReplyCase
    read: str
    """An option key, or `other` (normal pipeline), `fallback`, `stop`, `help`, `opt_in`."""
    by: str
    score: float | None
    gold_keys: frozenset[str]

    @property
    def is_option(self) -> bool:
        """The flow took the text as one of its options."""
        return self.read not in KEPT_OUT and self.by not in ("compliance",)

    @property
    def right(self) -> bool:
        """What the product did is what the label asks for."""
        if self.case.label == "other":
            return self.read in KEPT_OUT
        if self.case.label in ("stop", "help"):
            return self.read == self.case.label
        return self.is_option and self.read in self.gold_keys


def read_case(
    case: ReplyCase, catalogue: FlowCatalogue, variables: dict[str, dict[str, str]],
    matcher: MeaningMatcher | None,
) -> Reading:  # fmt: skip
    """Read one text as the pipeline does: compliance first, then the flow's question."""
    gold = LABEL_KEYS[(case.flow, case.node)].get(case.label, frozenset())
    action = classify(case.text).action
    if action != "pass":
        return Reading(case, COMPLIANCE[action], "compliance", None, gold)
    flow = catalogue.get(case.flow)
    node = flow.nodes.get(case.node) if flow is not None else None
    if flow is None or node is None:
        raise InvalidReplyFile(f"the shipped flows have no question {case.flow}.{case.node}")
    offered = _offered(case.flow, node.offer.count, variables) if node.offer else []
    match = read_reply(node, offered, case.text, matcher)
    if match is not None:
        return Reading(case, match.key, match.by, match.score, gold)
    kept = "fallback" if looks_like_an_answer(case.text) else "other"
    return Reading(case, kept, "none", None, gold)


def _offered(flow: str, count: int, variables: dict[str, dict[str, str]]) -> list[str]:
    given = variables.get(flow, {})
    return [given[f"slot_{i}"] for i in range(1, count + 1) if f"slot_{i}" in given]


def scores(readings: Sequence[Reading]) -> dict[str, float]:
    """Accuracy, answer precision and recall, `other` kept out, stop/help agreement (%)."""
    as_option = [r for r in readings if r.is_option]
    labelled = [r for r in readings if r.case.label not in NOT_AN_OPTION]
    others = [r for r in readings if r.case.label == "other"]
    keyword = [r for r in readings if r.case.label in ("stop", "help") or r.by == "compliance"]
    return {
        "texts": float(len(readings)),
        "reply_accuracy": _pct(sum(r.right for r in readings), len(readings)),
        "answer_precision": _pct(sum(r.right for r in as_option), len(as_option)),
        "answer_recall": _pct(sum(r.right for r in labelled), len(labelled)),
        "other_kept_out": _pct(sum(r.read in KEPT_OUT for r in others), len(others)),
        "stop_help_agreement": _pct(sum(r.right for r in keyword), len(keyword)),
        "wrong_options": float(sum(not r.right for r in as_option)),
        "answers_to_fallback": _pct(sum(r.read == "fallback" for r in labelled), len(labelled)),
    }


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def evaluate_flow_replies(
    replies: ReplyFile, *, split: str, path: Path, catalogue: FlowCatalogue,
    matcher: MeaningMatcher | None, advance: Callable[[int], None] | None = None,
) -> EvalReport:  # fmt: skip
    """Score one labelled split: overall metrics, a table per question, every wrong option."""
    started = time.perf_counter()
    readings = []
    for case in replies.cases:
        readings.append(read_case(case, catalogue, replies.variables, matcher))
        if advance is not None:
            advance(1)
    nodes: dict[str, list[Reading]] = {}
    for reading in readings:
        nodes.setdefault(f"{reading.case.flow}.{reading.case.node}", []).append(reading)
    per_node = [[name, *_row(scores(group))] for name, group in nodes.items()]
    wrong = [r for r in readings if r.is_option and not r.right]
    return EvalReport(
        suite="flow-replies",
        dataset=split,
        metrics=scores(readings),
        config={
            "file": str(path),
            "flows": str(SHIPPED_FLOWS),
            "min_score": matcher.min_score if matcher else None,
            "margin": matcher.margin if matcher else None,
            "encoder": matcher is not None,
        },
        tables=[
            Table("Per question", _COLUMNS, per_node),
            Table(
                "Wrong options (the costly error)",
                ["question", "text", "gold", "read", "by", "score"],
                [[_where(r), r.case.text, r.case.label, r.read, r.by, r.score] for r in wrong],
            ),
        ],
        failures=[_item(r) for r in readings if not r.right],
        items=[_item(r) for r in readings],
        data_files={str(path): sha256_of(path)},
        seconds=round(time.perf_counter() - started, 1),
    )


_COLUMNS = [
    "question", "texts", "accuracy", "answer precision", "answer recall", "other kept out",
    "stop/help", "wrong options",
]  # fmt: skip


def _row(metrics: dict[str, float]) -> list[Any]:
    names = ["texts", "reply_accuracy", "answer_precision", "answer_recall", "other_kept_out",
             "stop_help_agreement", "wrong_options"]  # fmt: skip
    return [int(metrics[n]) if n in ("texts", "wrong_options") else metrics[n] for n in names]


def _where(reading: Reading) -> str:
    return f"{reading.case.flow}.{reading.case.node}"


def _item(reading: Reading) -> dict[str, Any]:
    return {
        "question": _where(reading),
        "text": reading.case.text,
        "expected": reading.case.label,
        "got": reading.read,
        "by": reading.by,
        "score": reading.score,
        "right": reading.right,
    }

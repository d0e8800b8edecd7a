"""What became of one customer text, in the words the evals score: the one outcome a customer
felt (answered from an entry, handed off, asked to clarify, opted out, ...), and the hand-off
reasons mapped onto the label classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from app.evals.labels import HandoffClass
from app.evals.sandbox import SAFETY_PRIORITY, TurnResult
from app.pipeline.decision import Group, Reason

OutcomeKind = Literal["optout", "help", "handoff", "answer", "clarify", "close", "silent"]

# The product's reason groups, read as the label classes they stand for; a reason of another
# group (a compliance hand-off, a guardrail) stands for no class.
_GROUP_CLASSES: dict[Group, HandoffClass] = {
    Group.safety: HandoffClass.safety,
    Group.person: HandoffClass.person,
    Group.complaint: HandoffClass.complaint,
    Group.account: HandoffClass.account,
    Group.legal: HandoffClass.legal,
    Group.fraud: HandoffClass.fraud,
    Group.unanswerable: HandoffClass.not_in_kb,
}
ACKNOWLEDGEMENTS = ("handoff_ack", "safety")
"""Purposes of the texts that tell a customer a person will reply."""

# A reply that tells the customer a person will take over. Sent without a hand-off, it is a
# promise nobody keeps.
_PERSON_PROMISE = re.compile(
    r"\b(team member|agent|person|someone|somebody|representative|specialist|staff)\b"
    r"[^.!?]{0,40}\b(will|'ll|is going to)\b[^.!?]{0,30}\b(reply|text|call|contact|get back|"
    r"pick up|look into|help|answer|be with you|reach out)",
    re.IGNORECASE,
)


def reason_classes(reasons: list[str]) -> set[HandoffClass]:
    """The label classes the product's reasons stand for."""
    parsed = [Reason.parse(r) for r in reasons]
    return {_GROUP_CLASSES[r.group] for r in parsed if r is not None and r.group in _GROUP_CLASSES}


def promises_person(text: str) -> bool:
    """Whether a reply tells the customer that a person will reply or call."""
    return bool(_PERSON_PROMISE.search(text))


@dataclass(frozen=True)
class Outcome:
    """The one thing a customer felt from their text."""

    kind: OutcomeKind
    entries: tuple[str, ...]
    """Answered from these entries (`answer`)."""
    reasons: tuple[str, ...]
    """The hand-off's reasons (`handoff`), the product's own words."""
    safety_priority: bool
    acknowledged: bool
    """The customer was told a person will reply (a hand-off acknowledgement was sent)."""
    promised_person: bool
    """A reply promised a person although nobody took over."""
    handed_off: bool = False
    """A person took over, whatever else happened (an opt-out can come with a hand-off)."""

    @property
    def classes(self) -> set[HandoffClass]:
        """The hand-off's reasons as label classes."""
        return reason_classes(list(self.reasons))


def outcome_of(turn: TurnResult) -> Outcome:
    """Read one turn as the outcome a customer felt (most consequential first)."""
    if turn.consent == "opted_out" and turn.compliance in ("opt_out", None, "pass"):
        kind: OutcomeKind = "optout"
    elif turn.compliance == "help":
        kind = "help"
    elif turn.handed_off:
        kind = "handoff"
    elif turn.entries:
        kind = "answer"
    elif turn.ai_action in ("clarify", "close"):
        kind = turn.ai_action  # type: ignore[assignment]
    else:
        kind = "silent"
    queue_reasons = turn.queue.reasons if turn.queue is not None and turn.handed_off else []
    acknowledged = any(s.purpose in ACKNOWLEDGEMENTS for s in turn.sent)
    return Outcome(
        kind=kind,
        entries=tuple(turn.entries),
        reasons=tuple(queue_reasons or turn.reasons),
        safety_priority=turn.queue is not None and turn.queue.priority <= SAFETY_PRIORITY,
        acknowledged=acknowledged,
        handed_off=turn.handed_off,
        promised_person=not turn.handed_off
        and turn.queue is None
        and any(promises_person(s.body) for s in turn.sent if s.purpose not in ACKNOWLEDGEMENTS),
    )

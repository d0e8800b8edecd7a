"""What smsdesk does with one passed text: exactly one `Decision`, with typed reasons.

    Decision = Reply | Clarify | Close | HandOff | OptOut | Silent | FlowAnswer

A `Reason` carries its own priority and group, so the queue's order, the customer's
acknowledgement, the console's labels, the dashboard and the evals all read the same value
instead of rebuilding it from strings.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.compliance.model import InboundDecision


class Group(StrEnum):
    """What kind of person a hand-off needs; the acknowledgement is worded per group."""

    safety = "safety"
    person = "person"
    complaint = "complaint"
    account = "account"
    legal = "legal"
    fraud = "fraud"
    unanswerable = "unanswerable"
    compliance = "compliance"
    system = "system"


class Reason(StrEnum):
    """Why a person takes over (the value is what the queue and the console store)."""

    safety = "safety_language"
    negative_sentiment = "negative_sentiment"
    complaint = "complaint"
    repeated_failure = "repeated_failure"
    legal = "legal"
    fraud = "fraud"
    asked_for_person = "asked_for_person"
    account_specific = "account_specific"
    compliance_handoff = "compliance_handoff"
    possible_revocation = "possible_revocation"
    opted_out = "opted_out"
    guardrail_failed = "guardrail_failed"
    responder_error = "responder_error"
    ai_unavailable = "ai_unavailable"
    """The AI layer failed to load (a broken knowledge folder, a model file): people answer."""
    out_of_scope = "out_of_scope"
    not_answerable = "not_answerable"
    no_knowledge = "no_knowledge"
    low_confidence = "low_confidence"
    no_language = "no_answer_in_language"
    llm_needs_human = "llm_needs_human"
    bot_disabled = "bot_disabled"
    flow_needs_person = "flow_needs_person"
    """A flow's answer asks for a person, or its question went unrecognised too often."""
    context_unavailable = "context_unavailable"
    """The customer-context source (the business's system) did not answer: a person looks
    the customer up."""
    media_received = "media_received"
    """A picture with no words (or one the knowledge asks for, say of a damaged item): the bot
    cannot look at it, a person does."""

    @property
    def priority(self) -> int:
        """Lower is sooner: safety first (at any hour), then anger, legal and fraud, then a
        request for a person, then everything else."""
        return _PRIORITY[self]

    @property
    def group(self) -> Group:
        """The kind of person this reason needs."""
        return _GROUP[self]

    @property
    def label(self) -> str:
        """How the console and the dashboard name it."""
        return _LABEL.get(self, self.value.replace("_", " "))

    @classmethod
    def parse(cls, value: str) -> Reason | None:
        """The reason stored as `value` (None for a value no longer in use)."""
        try:
            return cls(value)
        except ValueError:
            return None


_PRIORITY: dict[Reason, int] = {
    Reason.safety: 0,
    Reason.negative_sentiment: 10,
    Reason.complaint: 10,
    Reason.repeated_failure: 15,
    Reason.legal: 15,
    Reason.fraud: 15,
    Reason.asked_for_person: 20,
    Reason.flow_needs_person: 25,
    Reason.account_specific: 30,
    Reason.compliance_handoff: 30,
    Reason.possible_revocation: 30,
    Reason.opted_out: 30,
    Reason.guardrail_failed: 40,
    Reason.responder_error: 40,
    Reason.ai_unavailable: 40,
    Reason.context_unavailable: 35,
    Reason.media_received: 30,
}
DEFAULT_PRIORITY = 50
for _reason in Reason:
    _PRIORITY.setdefault(_reason, DEFAULT_PRIORITY)

_GROUP: dict[Reason, Group] = {
    Reason.safety: Group.safety,
    Reason.negative_sentiment: Group.complaint,
    Reason.complaint: Group.complaint,
    Reason.repeated_failure: Group.complaint,
    Reason.legal: Group.legal,
    Reason.fraud: Group.fraud,
    Reason.asked_for_person: Group.person,
    Reason.flow_needs_person: Group.person,
    Reason.account_specific: Group.account,
    Reason.compliance_handoff: Group.compliance,
    Reason.possible_revocation: Group.compliance,
    Reason.opted_out: Group.compliance,
    Reason.guardrail_failed: Group.system,
    Reason.responder_error: Group.system,
    Reason.ai_unavailable: Group.system,
    Reason.bot_disabled: Group.system,
    Reason.context_unavailable: Group.account,
}
for _reason in Reason:
    _GROUP.setdefault(_reason, Group.unanswerable)


_LABEL: dict[Reason, str] = {
    Reason.safety: "safety: crisis or danger",
    Reason.negative_sentiment: "angry or frustrated",
    Reason.complaint: "complaint",
    Reason.repeated_failure: "the answer did not help",
    Reason.legal: "legal matter",
    Reason.fraud: "fraud or scam",
    Reason.asked_for_person: "asked for a person",
    Reason.flow_needs_person: "a flow needs a person",
    Reason.account_specific: "needs their account",
    Reason.compliance_handoff: "compliance: possible opt-out",
    Reason.possible_revocation: "possible opt-out",
    Reason.opted_out: "opted out",
    Reason.not_answerable: "not covered by the knowledge",
    Reason.no_knowledge: "no knowledge entry",
    Reason.low_confidence: "unsure of the topic",
    Reason.out_of_scope: "out of scope",
    Reason.no_language: "no answer in their language",
    Reason.llm_needs_human: "the LLM asked for a person",
    Reason.ai_unavailable: "the AI could not load",
    Reason.context_unavailable: "customer records unavailable",
    Reason.media_received: "sent a picture",
}


def priority_of(reasons: tuple[Reason, ...] | list[str]) -> int:
    """The most urgent reason decides (stored strings are read as reasons)."""
    parsed = [r if isinstance(r, Reason) else Reason.parse(r) for r in reasons]
    return min((r.priority for r in parsed if r is not None), default=DEFAULT_PRIORITY)


@dataclass(frozen=True)
class Answer:
    """One knowledge entry's answer, as the customer will read it."""

    entry_id: str
    text: str


@dataclass(frozen=True)
class Reply:
    """Answer from the knowledge base (two answers for a text with two questions)."""

    answers: tuple[Answer, ...]
    language: str = "en"

    @property
    def entries(self) -> tuple[str, ...]:
        """The entries answered from."""
        return tuple(a.entry_id for a in self.answers)


@dataclass(frozen=True)
class Option:
    """One numbered choice of a clarifying question."""

    number: int
    label: str
    entry_id: str


@dataclass(frozen=True)
class Clarify:
    """Ask one short question with numbered options (never a reserved keyword)."""

    options: tuple[Option, ...]
    text: str


@dataclass(frozen=True)
class Close:
    """A thanks or an ok after an answer: close politely, never open a queue item."""

    text: str | None


@dataclass(frozen=True)
class HandOff:
    """A person takes over: the queue item and the customer's acknowledgement, in one step."""

    reasons: tuple[Reason, ...]
    team: str | None = None
    language: str = "en"
    draft: str | None = None
    """A reply the agent may start from, only when one is relevant (never for safety)."""

    @property
    def priority(self) -> int:
        """The queue priority of the most urgent reason."""
        return priority_of(self.reasons)

    @property
    def group(self) -> Group:
        """The most urgent reason's group (it words the acknowledgement)."""
        return min(self.reasons, key=lambda r: r.priority).group

    @property
    def safety(self) -> bool:
        """Crisis or danger: top of the queue, emergency resources to the customer."""
        return Reason.safety in self.reasons


@dataclass(frozen=True)
class OptOut:
    """The AI read a revocation the rules missed; recorded through the compliance layer."""

    decision: InboundDecision


@dataclass(frozen=True)
class Silent:
    """Nothing to send and nobody to call (e.g. an agent owns the conversation)."""

    why: str


@dataclass(frozen=True)
class FlowAnswer:
    """The text answers the question a flow is waiting on (`app.flows.answers`).

    `option` None: it looks like an answer but matches no option (the flow's fallback text, or
    a person once the flow's limit of unrecognised replies is reached). Decided before the AI
    layer's steps, after compliance: STOP, HELP and START never reach a flow.
    """

    run_id: uuid.UUID
    flow: str
    node: str
    option: str | None
    matched_by: str | None = None
    """key | yes_no | meaning | free_text (None: unrecognised)."""
    score: float | None = None
    """The encoder's similarity, for an answer read by its meaning."""


Decision = Reply | Clarify | Close | HandOff | OptOut | Silent | FlowAnswer


@dataclass(frozen=True)
class Decided:
    """The decision and what the responder saw (stored for the console and the evals)."""

    decision: Decision
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The decision's name as records and evals store it."""
        return {
            Reply: "reply",
            Clarify: "clarify",
            Close: "close",
            HandOff: "handoff",
            OptOut: "opt_out",
            Silent: "silent",
            FlowAnswer: "flow",
        }[type(self.decision)]

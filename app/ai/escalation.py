"""When a person takes over: the escalation policy, one function over the AI layer's signals.

Reasons are the queue's vocabulary (the console shows them and orders by them): a person takes
over on low confidence, out of scope, negative sentiment, safety language, an explicit request
for a person, the compliance layer's hand-off, no grounded answer, a customer rephrasing after
an unhelpful reply, or a draft that failed a guardrail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.compliance.normalise import normalise
from app.config import Settings

# Whole-word phrases of a customer asking for a person (normalised: lower case, no accents).
_PERSON = re.compile(
    r"\b("
    r"(talk|speak|chat)( to| with)? (a |an |the |some )?(human|person|agent|someone|somebody"
    r"|representative|rep|manager|supervisor|real person|live person|operator)"
    r"|(human|live|real) (agent|person|being)"
    r"|customer (service|care|support) (agent|rep|representative|person)"
    r"|(get|need|want) (me )?(a |an )?(human|person|agent|representative|manager|supervisor)"
    r"|(representative|operator|agent|human)\s+(please|pls|plz)"
    r"|call me( back)?"
    r")\b"
)
_ONLY_WORD = re.compile(r"^(agent|human|person|representative|operator|manager)\W*$")


def asks_for_person(text: str) -> bool:
    """Whether the text asks for a person ("agent", "talk to someone", "human please")."""
    folded = normalise(text)
    return bool(_ONLY_WORD.match(folded) or _PERSON.search(folded))


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The configurable edges of the policy (SMSDESK_* settings)."""

    min_confidence: float = 0.5
    negative_sentiment: float = 0.8
    min_retrieval_score: float = 0.45
    rephrase_similarity: float = 0.8

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """The thresholds configured for this deployment."""
        return cls(
            min_confidence=settings.intent_min_confidence,
            negative_sentiment=settings.negative_sentiment_threshold,
            min_retrieval_score=settings.retrieval_min_score,
        )


@dataclass(frozen=True, slots=True)
class Signals:
    """What the AI layer read from one text (and the compliance layer's flags for it)."""

    confidence: float
    out_of_scope: bool
    negative: float
    retrieval_score: float | None
    """Similarity of the best knowledge entry; None when nothing was retrieved."""
    safety_language: bool = False
    compliance_handoff: bool = False
    asked_for_person: bool = False
    needs_human: bool = False
    """The LLM (when used) judged that a person should answer."""
    rephrase_similarity: float | None = None
    """Similarity to the customer's previous text when the bot answered it in between."""


def escalation_reasons(signals: Signals, thresholds: Thresholds) -> tuple[str, ...]:
    """Why a person should take over (empty: the bot may answer), most urgent first."""
    reasons: list[str] = []
    if signals.safety_language:
        reasons.append("safety_language")
    if signals.negative >= thresholds.negative_sentiment:
        reasons.append("negative_sentiment")
    if signals.asked_for_person:
        reasons.append("asked_for_person")
    if signals.compliance_handoff:
        reasons.append("compliance_handoff")
    if (
        signals.rephrase_similarity is not None
        and signals.rephrase_similarity >= thresholds.rephrase_similarity
    ):
        reasons.append("repeated_failure")
    if signals.out_of_scope:
        reasons.append("out_of_scope")
    elif signals.confidence < thresholds.min_confidence:
        reasons.append("low_confidence")
    if signals.needs_human and not reasons:
        reasons.append("llm_needs_human")
    if signals.retrieval_score is None or signals.retrieval_score < thresholds.min_retrieval_score:
        reasons.append("no_knowledge")
    return tuple(reasons)

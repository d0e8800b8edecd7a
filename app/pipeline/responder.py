"""The responder seam: what the AI layer plugs into without touching ingress or outbound."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from app.compliance.model import InboundDecision
from app.compliance.second_pass import OptOutTool


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier text of the conversation, oldest first in `ResponderRequest.history`."""

    direction: Literal["inbound", "outbound"]
    body: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ResponderRequest:
    """A text the compliance layer passed on, with what the responder may do with it."""

    conversation_id: uuid.UUID
    phone: str
    body: str
    decision: InboundDecision
    history: tuple[Turn, ...] = ()
    """The last turns before this text (both directions)."""
    first_outbound: bool = False
    """No text has gone to this customer yet: the reply must name the brand (SPEC MSG-2)."""
    opt_out: OptOutTool | None = None
    """SPEC §7: records a revocation the rules missed, enforced like any other opt-out."""


@dataclass(frozen=True, slots=True)
class ResponderResult:
    """A reply to send, reasons for a person to take over, or both empty: silence."""

    reply: str | None = None
    handoff_reasons: tuple[str, ...] = ()
    revocation: InboundDecision | None = None
    """Set when the responder recorded an opt-out through `ResponderRequest.opt_out`: the
    pipeline then cancels queued texts and confirms, exactly as for a keyword STOP."""
    record: Mapping[str, Any] = field(default_factory=dict)
    """What the responder saw and decided (intent, scores, sources, draft, guardrails), stored
    with the message for the console and evals. Empty: nothing is stored."""


class Responder(Protocol):
    """Answers a passed text or hands it to a person."""

    def respond(self, request: ResponderRequest) -> ResponderResult:
        """Decide what to do with one text."""
        ...


class HandoffResponder:
    """The responder with the bot disabled: every text goes to a person."""

    def respond(self, request: ResponderRequest) -> ResponderResult:
        """Hand the conversation to the human queue."""
        return ResponderResult(handoff_reasons=("bot_disabled",))

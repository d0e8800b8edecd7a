"""The responder seam: what the AI layer plugs into without touching ingress or outbound."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from app.compliance.model import InboundDecision


@dataclass(frozen=True, slots=True)
class ResponderRequest:
    """A text the compliance layer passed on, with what the responder may do with it."""

    conversation_id: uuid.UUID
    phone: str
    body: str
    decision: InboundDecision


@dataclass(frozen=True, slots=True)
class ResponderResult:
    """Either a reply to send, or reasons for a person to take over (or both empty: silence)."""

    reply: str | None = None
    handoff_reasons: tuple[str, ...] = ()


class Responder(Protocol):
    """Answers a passed text or hands it to a person."""

    def respond(self, request: ResponderRequest) -> ResponderResult:
        """Decide what to do with one text."""
        ...


class HandoffResponder:
    """The responder until the AI layer exists: every text goes to a person."""

    def respond(self, request: ResponderRequest) -> ResponderResult:
        """Hand the conversation to the human queue."""
        return ResponderResult(handoff_reasons=("bot_disabled",))

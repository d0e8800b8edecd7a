"""The responder seam: what the AI layer plugs into without touching ingress or outbound.

A responder reads a text the compliance layer passed, in its conversation, and returns one
`Decided` (a typed `Decision` and the record of what it saw). It never sends anything itself:
the processor acts on the decision.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from app.compliance.model import InboundDecision
from app.compliance.second_pass import OptOutTool
from app.pipeline.decision import Decided, HandOff, Option, Reason

if TYPE_CHECKING:
    from app.context.model import CustomerContext

QueueState = Literal["none", "waiting", "owned"]


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier text of the conversation, oldest first in `ResponderRequest.history`."""

    direction: Literal["inbound", "outbound"]
    body: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Previous:
    """What the bot decided on the customer's previous text (the conversation's context)."""

    question: str
    """The customer's previous text."""
    kind: str
    """reply, clarify, close, handoff, draft, silent, opt_out."""
    entries: tuple[str, ...] = ()
    """The entries the bot answered from."""
    reply: str | None = None
    """The bot's text, when it sent one."""
    options: tuple[Option, ...] = ()
    """A clarifying question's numbered options."""
    at: datetime | None = None


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
    previous: Previous | None = None
    queue: QueueState = "none"
    """Whether a person is already on the conversation: waiting (unclaimed) or owning it."""
    has_media: bool = False
    """The text came with a picture (MMS)."""
    brand: str = ""
    """The brand the text was sent to: with `phone`, the only key to the customer's records."""
    context: CustomerContext | None = None
    """Where the customer's own records are looked up (None: nowhere; the knowledge base
    answers order questions in general)."""


class Responder(Protocol):
    """Decides what to do with a passed text."""

    def respond(self, request: ResponderRequest) -> Decided:
        """Decide on one text."""
        ...


class BatchReading(Protocol):
    """A responder that can read a batch of texts together before deciding on each (optional:
    the processor asks for `prepare` only where a responder has it)."""

    def prepare(self, bodies: Sequence[str]) -> AbstractContextManager[object]:
        """Shared work for these texts, used by this thread's `respond` calls while the
        context is open; each decision must be the same without it."""
        ...


class HandoffResponder:
    """The responder with the bot disabled: every text goes to a person."""

    def respond(self, request: ResponderRequest) -> Decided:
        """Hand the conversation to the human queue."""
        return Decided(HandOff((Reason.bot_disabled,)), {"reasons": [Reason.bot_disabled.value]})

"""The consent ledger (SPEC §11): append-only events per (brand, E.164 number), state by folding.

State is never stored, only derived, so a record can always show why a number was or was not
texted at a given instant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app import clock
from app.compliance.model import SUBSCRIBED, ConsentState, Scope
from app.storage.tables import ComplianceDecision, ConsentEvent

EventType = Literal[
    "consent_captured",
    "opt_in",
    "opt_out",
    "help_request",
    "revocation_phrase",
    "scope_change",
    "confirmation_sent",
    "ai_detected_revocation",
    "human_override",
    "message_sent",
]
Channel = Literal["sms", "web", "voice", "paper", "api"]
REVOCATION_EVENTS = frozenset({"opt_out", "revocation_phrase", "ai_detected_revocation"})
"""Events that end a number's consent: a STOP keyword, a revocation phrase, the AI's catch."""


@dataclass(frozen=True, slots=True)
class ContactConsent:
    """What the ledger says about one number: its state and whether marketing was consented."""

    state: ConsentState
    marketing_consent: bool
    """Prior express written consent to marketing was captured (and not since revoked)."""
    opted_out_at: datetime | None = None
    """When the standing opt-out took effect (None while subscribed)."""


def fold(events: Iterable[ConsentEvent]) -> ContactConsent:
    """Derive consent from events in ledger order. A number with no events may converse
    (it texted us) but has no marketing consent."""
    state, marketing, opted_out_at = SUBSCRIBED, False, None
    for event in events:
        was_opted_out = state.status == "opted_out"
        kind = event.event_type
        if kind == "consent_captured":
            state = SUBSCRIBED
            marketing = marketing or event.scope in ("all", "marketing")
        elif kind == "opt_in":
            # REC-3: START restores only what was consented before; it grants nothing new.
            state = SUBSCRIBED
        elif kind in REVOCATION_EVENTS:
            scope: Scope = "marketing" if event.scope == "marketing" else "all"
            if state.status == "opted_out" and state.scope == "all":
                scope = "all"
            state = ConsentState("opted_out", scope)
        elif kind in ("scope_change", "human_override"):
            status = event.evidence.get("status", state.status)
            state = (
                SUBSCRIBED
                if status == "subscribed"
                else ConsentState("opted_out", "marketing" if event.scope == "marketing" else "all")
            )
        if state.status != "opted_out":
            opted_out_at = None
        elif not was_opted_out:
            opted_out_at = event.effective_at
    return ContactConsent(state, marketing, opted_out_at)


class ConsentLedger:
    """Reads and appends consent events and compliance decisions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def session(self) -> Session:
        """A session on the ledger's database (callers commit)."""
        return Session(self.engine, expire_on_commit=False)

    @staticmethod
    def events(session: Session, *, brand: str, phone: str) -> Sequence[ConsentEvent]:
        """Every event of one number, oldest first."""
        query = (
            select(ConsentEvent)
            .where(ConsentEvent.brand == brand, ConsentEvent.phone_e164 == phone)
            .order_by(col(ConsentEvent.seq))
        )
        return session.exec(query).all()

    def consent(self, session: Session, *, brand: str, phone: str) -> ContactConsent:
        """The current consent of one number."""
        return fold(self.events(session, brand=brand, phone=phone))

    @staticmethod
    def append(session: Session, **fields: Any) -> ConsentEvent:
        """Add one event to the session (committed by the caller, with what caused it)."""
        now = clock.now()
        fields.setdefault("processed_at", now)
        fields.setdefault("effective_at", fields["processed_at"])
        event = ConsentEvent(**fields)
        session.add(event)
        return event

    @staticmethod
    def has_event(
        session: Session, *, brand: str, event_type: str, provider_message_id: str
    ) -> bool:
        """Whether an event of this type was already recorded for this provider message."""
        query = select(ConsentEvent.seq).where(
            ConsentEvent.brand == brand,
            ConsentEvent.event_type == event_type,
            ConsentEvent.provider_message_id == provider_message_id,
        )
        return session.exec(query.limit(1)).first() is not None

    @staticmethod
    def sends(
        session: Session, *, brand: str, phone: str, category: str, since: datetime
    ) -> list[datetime]:
        """When messages of `category` were sent to the number, from `since` on."""
        query = select(ConsentEvent.effective_at).where(
            ConsentEvent.brand == brand,
            ConsentEvent.phone_e164 == phone,
            ConsentEvent.event_type == "message_sent",
            ConsentEvent.category == category,
            col(ConsentEvent.effective_at) >= since,
        )
        return sorted(session.exec(query).all())

    @staticmethod
    def last_inbound_at(session: Session, *, brand: str, phone: str) -> datetime | None:
        """When the customer last texted this brand (from the inbound decisions)."""
        query = select(func.max(ComplianceDecision.occurred_at)).where(
            ComplianceDecision.brand == brand,
            ComplianceDecision.phone_e164 == phone,
            ComplianceDecision.direction == "inbound",
        )
        value = session.exec(query).one()
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @staticmethod
    def decision_for(
        session: Session, *, brand: str, direction: str, provider_message_id: str
    ) -> ComplianceDecision | None:
        """The decision already made for a provider message, if any (IN-10)."""
        query = select(ComplianceDecision).where(
            ComplianceDecision.brand == brand,
            ComplianceDecision.direction == direction,
            ComplianceDecision.provider_message_id == provider_message_id,
        )
        return session.exec(query).first()

"""Accepting an inbound text: store it and its processing job in one transaction, or neither."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.channels.base import InboundSms
from app.compliance import classify
from app.compliance.parsing import parse_e164
from app.compliance.service import storable
from app.storage.messages import (
    conversation_key,
    enqueue,
    find_message,
    get_or_create_conversation,
    new_message,
)

PROCESS_INBOUND = "process_inbound"
URGENT = 1
"""Job priority of a text the compliance layer will act on (STOP, HELP, START): under a backlog
an opt-out must not wait behind other customers' questions (TIME-1)."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """The stored message, and whether this delivery created it (False: a retry)."""

    message_id: uuid.UUID
    created: bool


def triage(body: str) -> int:
    """The job priority of a text: the pure keyword rules (about 70 µs), not the ledger."""
    return URGENT if classify(body).action != "pass" else 0


def accept_inbound(engine: Engine, sms: InboundSms, *, brand: str) -> Accepted:
    """Durably store `sms` and its job; a repeated provider message id stores nothing new.

    Raises `InvalidPhoneNumber` for a sender that is not E.164 and SQLAlchemy errors when the
    database cannot take the write (the caller answers 503 so the provider retries).
    """
    phone = parse_e164(sms.from_number)
    with Session(engine) as session:
        existing = find_message(
            session, provider=sms.provider, provider_message_id=sms.provider_message_id
        )
        if existing is not None:
            return Accepted(existing.id, created=False)
        conversation = get_or_create_conversation(
            session, brand=brand, phone=phone, business_number=sms.to_number[:20]
        )
        conversation.last_inbound_at = sms.received_at
        message = new_message(
            session,
            conversation=conversation,
            direction="inbound",
            provider=sms.provider,
            provider_message_id=sms.provider_message_id,
            body=storable(sms.body),
            media=[{"url": m.url, "content_type": m.content_type} for m in sms.media],
            status="received",
        )
        message.created_at = sms.received_at
        enqueue(
            session,
            kind=PROCESS_INBOUND,
            key=conversation_key(brand, phone),
            payload={"message_id": str(message.id)},
            dedupe_key=f"in:{message.id}",
            priority=triage(sms.body),
        )
        try:
            session.commit()
        except IntegrityError:
            # A concurrent delivery of the same provider message committed first.
            session.rollback()
            again = find_message(
                session, provider=sms.provider, provider_message_id=sms.provider_message_id
            )
            if again is None:
                raise
            return Accepted(again.id, created=False)
        return Accepted(message.id, created=True)

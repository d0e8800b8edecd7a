"""Accepting inbound texts: store them and their processing jobs in one transaction, or none."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.channels.base import InboundSms
from app.compliance import classify
from app.compliance.parsing import parse_e164
from app.compliance.service import storable
from app.media.fetch import add_inbound_media
from app.storage.engine import reading
from app.storage.messages import (
    conversation_key,
    enqueue,
    new_message,
    now,
)
from app.storage.tables import Conversation, Message

PROCESS_INBOUND = "process_inbound"
URGENT = 1
"""Job priority of a text the compliance layer will act on (STOP, HELP, START): under a backlog
an opt-out must not wait behind other customers' questions (TIME-1)."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """The stored message, and whether this delivery created it (False: a retry)."""

    message_id: uuid.UUID
    created: bool


@dataclass(frozen=True, slots=True)
class Inbound:
    """A text to store, its sender already checked to be E.164 (`inbound`)."""

    sms: InboundSms
    phone: str


def inbound(sms: InboundSms) -> Inbound:
    """`sms` ready to store; raises `InvalidPhoneNumber` for a sender that is not E.164."""
    return Inbound(sms, parse_e164(sms.from_number))


def triage(body: str) -> int:
    """The job priority of a text: the pure keyword rules (about 70 µs), not the ledger."""
    return URGENT if classify(body).action != "pass" else 0


def accept_inbound(engine: Engine, sms: InboundSms, *, brand: str) -> Accepted:
    """Durably store `sms` and its job; a repeated provider message id stores nothing new.

    Raises `InvalidPhoneNumber` for a sender that is not E.164 and SQLAlchemy errors when the
    database cannot take the write (the caller answers 503 so the provider retries).
    """
    text = inbound(sms)
    try:
        return accept_many(engine, [text], brand=brand)[0]
    except IntegrityError:
        # A concurrent writer committed first: this very text (the provider's retry) or the
        # first text of the same new customer. Once more, it is a duplicate or joins them.
        return accept_many(engine, [text], brand=brand)[0]


def accept_many(engine: Engine, texts: Sequence[Inbound], *, brand: str) -> list[Accepted]:
    """Store `texts` and their jobs in one transaction, in order (a conversation's jobs keep
    the order its texts arrived in); a provider message id stored before, or earlier in
    `texts`, stores nothing new.

    Raises `IntegrityError` when a concurrent writer stored one of them first (nothing of
    `texts` is stored then: retry them one by one) and SQLAlchemy errors when the database
    cannot take the write.
    """
    # Looked up outside the writers' queue (on SQLite a read-only transaction never takes the
    # write lock): the write transaction below holds the lock only for its inserts. What a
    # concurrent writer stores meanwhile breaks a unique constraint: IntegrityError, as above.
    with Session(reading(engine)) as session:
        stored = _stored_ids(session, texts)
        conversations = _conversations(session, brand, {t.phone for t in texts})
        # Customers with a text still waiting: an urgent text of theirs must not overtake it
        # (a STOP processed before the same customer's earlier YES; enqueue's `after_waiting`).
        priorities = [triage(text.sms.body) for text in texts]
        waiting = _with_waiting_text(
            session,
            [
                conversations[text.phone].id
                for text, priority in zip(texts, priorities, strict=True)
                if priority and text.phone in conversations
            ],
        )
    with Session(engine) as session:
        # Nothing is sent to the database before the commit's flush: building the rows (the
        # larger part of the Python work) happens before the transaction takes the lock.
        session.add_all(conversations.values())
        accepted: list[Accepted] = []
        for text, priority in zip(texts, priorities, strict=True):
            sms = text.sms
            known = stored.get((sms.provider, sms.provider_message_id))
            if known is not None:
                accepted.append(Accepted(known, created=False))
                continue
            conversation = conversations.get(text.phone)
            if conversation is None:
                # Added, not flushed: the batch's rows are inserted together at commit (a
                # conversation a concurrent writer created first fails it: IntegrityError).
                conversation = Conversation(
                    brand=brand,
                    phone_e164=text.phone,
                    business_number=sms.to_number[:20],
                    created_at=now(),
                )
                session.add(conversation)
                conversations[text.phone] = conversation
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
            if sms.media:
                add_inbound_media(session, message=message, media=sms.media)
            enqueue(
                session,
                kind=PROCESS_INBOUND,
                key=conversation_key(brand, text.phone),
                payload={"message_id": str(message.id)},
                dedupe_key=f"in:{message.id}",
                priority=priority,
                after_waiting=conversation.id in waiting,
            )
            waiting.add(conversation.id)  # this text waits now: the customer's next ones too
            stored[(sms.provider, sms.provider_message_id)] = message.id
            accepted.append(Accepted(message.id, created=True))
        session.commit()
        return accepted


def _stored_ids(session: Session, texts: Sequence[Inbound]) -> dict[tuple[str, str], uuid.UUID]:
    """The messages already stored for these provider ids (one query per provider)."""
    found: dict[tuple[str, str], uuid.UUID] = {}
    for provider in {t.sms.provider for t in texts}:
        ids = [t.sms.provider_message_id for t in texts if t.sms.provider == provider]
        rows = session.exec(
            select(Message.provider_message_id, Message.id).where(
                Message.provider == provider, col(Message.provider_message_id).in_(ids)
            )
        )
        found.update(((provider, str(sid)), mid) for sid, mid in rows)
    return found


def _with_waiting_text(session: Session, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of these conversations with an inbound text not yet processed (its job waits)."""
    if not ids:
        return set()
    rows = session.exec(
        select(Message.conversation_id).where(
            col(Message.conversation_id).in_(ids),
            Message.direction == "inbound",
            Message.status == "received",
        )
    )
    return set(rows)


def _conversations(session: Session, brand: str, phones: set[str]) -> dict[str, Conversation]:
    """The existing conversations of these phones (one query; new ones are created later)."""
    rows = session.exec(
        select(Conversation).where(
            Conversation.brand == brand, col(Conversation.phone_e164).in_(phones)
        )
    )
    return {c.phone_e164: c for c in rows}

"""Putting a conversation in the human queue, with why and how urgently."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import Session, col, select

from app.storage.messages import now
from app.storage.tables import Conversation, HandoffItem

# Lower is sooner: safety first, then negative sentiment, then a request for a person.
PRIORITY = {
    "safety_language": 0,
    "negative_sentiment": 10,
    "asked_for_person": 20,
    "compliance_handoff": 30,
}
DEFAULT_PRIORITY = 50


def hand_off(
    session: Session,
    *,
    conversation: Conversation,
    reasons: Sequence[str],
    message_id: uuid.UUID | None = None,
) -> HandoffItem:
    """Queue the conversation for a person (in the caller's transaction); the bot stops sending."""
    conversation.status = "human"
    session.add(conversation)
    item = HandoffItem(
        conversation_id=conversation.id,
        message_id=message_id,
        reasons=list(dict.fromkeys(reasons)),
        priority=min(
            (PRIORITY.get(r, DEFAULT_PRIORITY) for r in reasons), default=DEFAULT_PRIORITY
        ),
        created_at=now(),
    )
    session.add(item)
    return item


def open_items(session: Session) -> Sequence[HandoffItem]:
    """Open queue items, most urgent and oldest first."""
    return session.exec(
        select(HandoffItem)
        .where(HandoffItem.status == "open")
        .order_by(col(HandoffItem.priority), col(HandoffItem.created_at))
    ).all()

"""Putting a conversation in the human queue, with why, how urgently and by when."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import Session, col, select

from app.handoff.sla import FirstResponseSla
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
UNRESOLVED = ("open", "claimed")


def priority_of(reasons: Sequence[str]) -> int:
    """The most urgent reason decides."""
    return min((PRIORITY.get(r, DEFAULT_PRIORITY) for r in reasons), default=DEFAULT_PRIORITY)


def unresolved_item(session: Session, *, conversation_id: uuid.UUID) -> HandoffItem | None:
    """The conversation's open or claimed queue item, if it has one."""
    return session.exec(
        select(HandoffItem)
        .where(
            HandoffItem.conversation_id == conversation_id, col(HandoffItem.status).in_(UNRESOLVED)
        )
        .order_by(col(HandoffItem.created_at).desc())
    ).first()


def hand_off(
    session: Session,
    *,
    conversation: Conversation,
    reasons: Sequence[str],
    message_id: uuid.UUID | None = None,
    sla: FirstResponseSla | None = None,
    team: str | None = None,
) -> HandoffItem:
    """Queue the conversation for a person (in the caller's transaction); the bot stops sending.

    `team` routes a new item to the team that owns the question (the AI's intent); agents on
    another team do not see it in their open queue. A conversation already waiting for (or
    owned by) a person keeps its one item: the new reasons join it and may raise its
    priority, but its place, team and SLA clock stay.
    """
    conversation.status = "human"
    session.add(conversation)
    item = unresolved_item(session, conversation_id=conversation.id)
    if item is not None:
        item.reasons = list(dict.fromkeys([*item.reasons, *reasons]))
        item.priority = min(item.priority, priority_of(reasons))
        item.snoozed_until = None  # the customer wrote again: it needs eyes now
        session.add(item)
        return item
    at = now()
    item = HandoffItem(
        conversation_id=conversation.id,
        message_id=message_id,
        reasons=list(dict.fromkeys(reasons)),
        priority=priority_of(reasons),
        created_at=at,
        due_at=sla.due(at) if sla is not None else None,
        team=team,
    )
    session.add(item)
    return item

"""Putting a conversation in the human queue, with why, how urgently and by when."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from app.handoff.sla import FirstResponseSla
from app.pipeline.decision import priority_of
from app.storage.messages import now
from app.storage.tables import Conversation, HandoffItem

UNRESOLVED = ("open", "claimed")


def awake(at: datetime) -> ColumnElement[bool]:
    """The item is not snoozed at `at` (never snoozed, or its snooze is over)."""
    return or_(col(HandoffItem.snoozed_until).is_(None), col(HandoffItem.snoozed_until) <= at)


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
    around_the_clock: bool = False,
) -> HandoffItem:
    """Queue the conversation for a person (in the caller's transaction); the bot stops sending.

    `team` routes a new item to the team that owns the question (the AI's intent); agents on
    another team do not see it in their open queue. A conversation already waiting for (or
    owned by) a person keeps its one item: the new reasons join it and may raise its
    priority, but its place and team stay. `around_the_clock` (safety) puts the SLA on the
    wall clock: due within minutes at any hour, and sooner than a waiting item's own clock.
    """
    conversation.status = "human"
    session.add(conversation)
    item = unresolved_item(session, conversation_id=conversation.id)
    if item is not None:
        item.reasons = list(dict.fromkeys([*item.reasons, *reasons]))
        item.priority = min(item.priority, priority_of(list(reasons)))
        item.snoozed_until = None  # the customer wrote again: it needs eyes now
        if around_the_clock and sla is not None:
            urgent = sla.due(now(), around_the_clock=True)
            item.due_at = min(item.due_at, urgent) if item.due_at is not None else urgent
        session.add(item)
        return item
    at = now()
    item = HandoffItem(
        conversation_id=conversation.id,
        message_id=message_id,
        reasons=list(dict.fromkeys(reasons)),
        priority=priority_of(list(reasons)),
        created_at=at,
        due_at=sla.due(at, around_the_clock=around_the_clock) if sla is not None else None,
        team=team,
    )
    session.add(item)
    return item

"""What agents do to the human queue: list by brand, claim atomically, release, resolve.

Data functions in the caller's transaction; they return an outcome and never raise HTTP errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal, get_args

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.handoff.agents import can_see_brand
from app.storage.messages import now
from app.storage.tables import Agent, Conversation, HandoffItem

ActionResult = Literal["ok", "not_found", "conflict"]
QueueView = Literal["open", "claimed", "mine"]
Outcome = Literal["resolved", "return_to_bot", "no_reply_needed", "spam"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)


def _manages(agent: Agent) -> bool:
    return agent.role in ("supervisor", "admin")


def visible_items(
    session: Session, *, agent: Agent, view: QueueView = "open"
) -> Sequence[tuple[HandoffItem, Conversation]]:
    """Queue items of the agent's brands, most urgent then oldest first."""
    query = select(HandoffItem, Conversation).join(
        Conversation, col(Conversation.id) == col(HandoffItem.conversation_id)
    )
    if view == "mine":
        query = query.where(HandoffItem.status == "claimed", HandoffItem.assigned_to == agent.id)
    else:
        query = query.where(HandoffItem.status == view)
    if agent.role != "admin":
        query = query.where(col(Conversation.brand).in_(agent.brands))
    query = query.order_by(col(HandoffItem.priority), col(HandoffItem.created_at))
    return [(item, conversation) for item, conversation in session.exec(query).all()]


def _visible(session: Session, *, agent: Agent, item_id: uuid.UUID) -> HandoffItem | None:
    row = session.exec(
        select(HandoffItem, Conversation)
        .join(Conversation, col(Conversation.id) == col(HandoffItem.conversation_id))
        .where(HandoffItem.id == item_id)
    ).first()
    if row is None or not can_see_brand(agent, row[1].brand):
        return None  # another brand's item is reported as absent, not as forbidden
    return row[0]


def claim(session: Session, *, agent: Agent, item_id: uuid.UUID) -> ActionResult:
    """Make the agent the item's owner if it is still open (one winner however many click)."""
    if _visible(session, agent=agent, item_id=item_id) is None:
        return "not_found"
    # A conditional UPDATE, not read-then-write: the database decides who was first.
    result = session.connection().execute(
        update(HandoffItem)
        .where(col(HandoffItem.id) == item_id, col(HandoffItem.status) == "open")
        .values(status="claimed", assigned_to=agent.id, claimed_at=now())
    )
    return "ok" if result.rowcount == 1 else "conflict"


def release(session: Session, *, agent: Agent, item_id: uuid.UUID) -> ActionResult:
    """Put a claimed item back in the queue (its owner, or a supervisor/admin)."""
    if _visible(session, agent=agent, item_id=item_id) is None:
        return "not_found"
    query = update(HandoffItem).where(
        col(HandoffItem.id) == item_id, col(HandoffItem.status) == "claimed"
    )
    if not _manages(agent):
        query = query.where(col(HandoffItem.assigned_to) == agent.id)
    result = session.connection().execute(
        query.values(status="open", assigned_to=None, claimed_at=None)
    )
    return "ok" if result.rowcount == 1 else "conflict"


def resolve(
    session: Session, *, agent: Agent, item_id: uuid.UUID, outcome: Outcome
) -> ActionResult:
    """Close the item with an outcome; `return_to_bot` hands the conversation back to the bot.

    An agent resolves what they own; a supervisor or admin may resolve any unresolved item.
    """
    item = _visible(session, agent=agent, item_id=item_id)
    if item is None:
        return "not_found"
    query = update(HandoffItem).where(col(HandoffItem.id) == item_id)
    if _manages(agent):
        query = query.where(col(HandoffItem.status).in_(("open", "claimed")))
    else:
        query = query.where(
            col(HandoffItem.status) == "claimed", col(HandoffItem.assigned_to) == agent.id
        )
    result = session.connection().execute(
        query.values(
            status="resolved",
            outcome=outcome,
            resolved_at=now(),
            # A supervisor closing an unclaimed item becomes its owner of record.
            assigned_to=func.coalesce(col(HandoffItem.assigned_to), agent.id),
            claimed_at=func.coalesce(col(HandoffItem.claimed_at), now()),
        )
    )
    if result.rowcount != 1:
        return "conflict"
    conversation = session.get(Conversation, item.conversation_id)
    if conversation is not None:
        conversation.status = "bot" if outcome == "return_to_bot" else "closed"
        session.add(conversation)
    return "ok"

"""Re-queue: a claimed item whose owner has not replied in time goes back (issue 16).

An agent who owns an item for SMSDESK_REQUEUE_AFTER_MINUTES business minutes without sending
the customer a reply loses it: it returns to the open queue marked "re-queued from" them, or,
with auto-assignment on, goes straight to the next eligible agent (never them again).

Which items are overdue is a pure function of the items and the instant (`overdue`), so tests
give the time; `requeue_due` is the periodic task both execution modes run about once a second.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app import log
from app.handoff.agents import audit
from app.handoff.routing import Routing, auto_assign
from app.storage.messages import now
from app.storage.tables import Agent, HandoffItem, Message

_logger = log.get_logger("handoff")


@dataclass(frozen=True)
class Watched:
    """A claimed item whose owner's reply is awaited."""

    item_id: uuid.UUID
    agent_id: uuid.UUID
    since: datetime
    """When the owner's clock started: they claimed it, or it woke from a snooze."""
    replied_at: datetime | None
    """The owner's latest reply to the customer since they claimed it (None: none yet)."""


def overdue(watched: Sequence[Watched], *, at: datetime, routing: Routing) -> list[Watched]:
    """The items whose owner has not replied within the re-queue timeout (pure)."""
    if routing.requeue_after_minutes <= 0:
        return []
    limit = timedelta(minutes=routing.requeue_after_minutes)
    return [
        w for w in watched if w.replied_at is None and routing.clock.elapsed(w.since, at) >= limit
    ]


def watched_items(session: Session, *, at: datetime) -> list[Watched]:
    """Claimed items not snoozed at `at`, with their owner's latest reply since claiming."""
    replied = (
        select(func.max(Message.created_at))
        .where(
            col(Message.conversation_id) == col(HandoffItem.conversation_id),
            col(Message.direction) == "outbound",
            col(Message.purpose) == "agent",
            col(Message.created_at) >= col(HandoffItem.claimed_at),
        )
        .scalar_subquery()
    )
    rows = session.execute(
        sa_select(
            col(HandoffItem.id),
            col(HandoffItem.assigned_to),
            col(HandoffItem.claimed_at),
            col(HandoffItem.snoozed_until),
            replied,
        ).where(
            col(HandoffItem.status) == "claimed",
            col(HandoffItem.assigned_to).is_not(None),
            col(HandoffItem.claimed_at).is_not(None),
            or_(col(HandoffItem.snoozed_until).is_(None), col(HandoffItem.snoozed_until) <= at),
        )
    ).all()
    watched = []
    for item_id, agent_id, claimed_at, snoozed_until, replied_at in rows:
        assert agent_id is not None and claimed_at is not None
        since = max(claimed_at, snoozed_until) if snoozed_until is not None else claimed_at
        watched.append(Watched(item_id, agent_id, since, replied_at))
    return watched


@dataclass(frozen=True)
class Requeued:
    """One item taken back: from whom, and who has it now (None: the open queue)."""

    item_id: uuid.UUID
    from_agent: uuid.UUID
    to_agent: uuid.UUID | None


def requeue(session: Session, *, routing: Routing, at: datetime) -> list[Requeued]:
    """Take back every overdue item at `at` (in the caller's transaction), audited."""
    done = []
    for w in overdue(watched_items(session, at=at), at=at, routing=routing):
        taken = session.connection().execute(
            update(HandoffItem)
            .where(
                and_(
                    col(HandoffItem.id) == w.item_id,
                    col(HandoffItem.status) == "claimed",
                    col(HandoffItem.assigned_to) == w.agent_id,
                )
            )
            .values(status="open", assigned_to=None, claimed_at=None, requeued_from=w.agent_id)
        )
        if taken.rowcount != 1:
            continue  # resolved, released or passed on meanwhile
        owner = session.get(Agent, w.agent_id)
        audit(
            session,
            action="queue.requeued",
            target=str(w.item_id),
            detail={
                "from": owner.email if owner else str(w.agent_id),
                "after_business_minutes": routing.requeue_after_minutes,
            },
        )
        item = session.get(HandoffItem, w.item_id)
        assert item is not None
        session.refresh(item)
        given = auto_assign(session, routing=routing, item=item, at=at, exclude={w.agent_id})
        done.append(Requeued(w.item_id, w.agent_id, given.id if given else None))
    return done


def requeue_due(engine: Engine, routing: Routing) -> int:
    """The periodic task: re-queue what is overdue now; how many items were taken back."""
    if routing.requeue_after_minutes <= 0:
        return 0
    with Session(engine) as session:
        done = requeue(session, routing=routing, at=now())
        session.commit()
    for r in done:
        _logger.info(
            "handoff.requeued", item=str(r.item_id), to=str(r.to_agent) if r.to_agent else None
        )
    return len(done)

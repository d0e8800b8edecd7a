"""Who is on what: each agent's availability, claimed items against capacity, oldest item."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.handoff.routing import Routing, is_online, signed_in_ids
from app.storage.tables import Agent, Conversation, HandoffItem


@dataclass(frozen=True)
class Workload:
    """One agent's line in the supervisors' table."""

    agent: Agent
    online: bool
    """What auto-assignment sees: said online and signed in."""
    signed_in: bool
    claimed: int
    capacity: int
    oldest: datetime | None
    """When the oldest item they own was handed off (None: they own nothing)."""


def workloads(
    session: Session, *, routing: Routing, scope: Sequence[str] | None, at: datetime
) -> list[Workload]:
    """Active agents who share a brand with `scope` (None: every brand), their items in it."""
    agents = [
        a
        for a in session.exec(select(Agent).where(col(Agent.active)).order_by(col(Agent.email)))
        if scope is None or a.role == "admin" or set(a.brands) & set(scope)
    ]
    query = (
        sa_select(col(HandoffItem.assigned_to), func.count(), func.min(col(HandoffItem.created_at)))
        .join(Conversation, col(Conversation.id) == col(HandoffItem.conversation_id))
        .where(col(HandoffItem.status) == "claimed", col(HandoffItem.assigned_to).is_not(None))
        .group_by(col(HandoffItem.assigned_to))
    )
    if scope is not None:
        query = query.where(col(Conversation.brand).in_(scope))
    owned: dict[uuid.UUID, tuple[int, datetime]] = {
        agent_id: (int(count), oldest) for agent_id, count, oldest in session.execute(query)
    }
    signed_in = signed_in_ids(session, at=at)
    return [
        Workload(
            agent=a,
            online=is_online(a, signed_in),
            signed_in=a.id in signed_in,
            claimed=owned.get(a.id, (0, None))[0],
            capacity=routing.capacity_of(a),
            oldest=owned[a.id][1] if a.id in owned else None,
        )
        for a in agents
    ]

"""Automatic assignment: who among the online agents gets a hand-off item (issue 16).

An agent says they are `online` or `away` (the console header); only an online agent with a
live console session, room under their capacity, the item's brand and a team that allows it
is given items. The strategy (SMSDESK_AUTO_ASSIGN) orders them:

* `least_busy`: fewest claimed items first, ties to whoever was auto-assigned longest ago;
* `round_robin`: whoever was auto-assigned longest ago;
* `off`: nobody is given anything; items wait in the open queue to be claimed.

Round-robin order is data, not a counter in memory: each agent's `route_turn` is raised past
everyone else's when they are given an item, with a compare-and-set on the value that was read,
so two workers (or two servers) routing at once never both hand the same turn out: the loser
moves on to the next agent. Data functions work in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, get_args

from sqlalchemy import func, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from app.handoff.agents import AgentError, audit, can_see_brand
from app.handoff.claims import team_allows, visible_items
from app.handoff.sla import BusinessClock
from app.storage.messages import now
from app.storage.tables import Agent, AgentSession, Conversation, HandoffItem

if TYPE_CHECKING:
    from app.config import Settings

Availability = Literal["online", "away"]
AVAILABILITIES: tuple[Availability, ...] = get_args(Availability)
Strategy = Literal["off", "round_robin", "least_busy"]
MAX_CAPACITY = 100
MAX_ROUNDS = 32
"""How often one assignment re-reads the agents after losing a race for one of them (each
loss means another worker's assignment committed, so this bounds only a burst of workers)."""
AUTO = "auto"
"""Who the audit log says assigned an item that routing gave out."""


@dataclass(frozen=True)
class Routing:
    """The routing settings: strategy, default capacity and the re-queue timeout."""

    strategy: Strategy
    default_capacity: int
    requeue_after_minutes: int
    clock: BusinessClock
    """Business hours: the re-queue timeout counts business minutes, like the SLA."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Routing:
        """The configured routing (the business clock is validated with the settings)."""
        return cls(
            settings.auto_assign,
            settings.agent_capacity,
            settings.requeue_after_minutes,
            BusinessClock(
                settings.business_hours, settings.business_timezone, settings.business_holidays
            ),
        )

    def capacity_of(self, agent: Agent) -> int:
        """The agent's own capacity, else the default."""
        return agent.capacity if agent.capacity is not None else self.default_capacity


def parse_availability(value: str) -> Availability:
    """`online` or `away`; AgentError naming both otherwise."""
    for known in AVAILABILITIES:
        if value == known:
            return known
    raise AgentError(f"availability must be online or away, not {value!r}")


def set_availability(session: Session, *, agent: Agent, availability: Availability) -> Agent:
    """Record the agent's availability (in the caller's transaction)."""
    agent.availability = availability
    session.add(agent)
    return agent


def set_capacity(session: Session, *, agent: Agent, capacity: int | None) -> Agent:
    """Give the agent their own capacity (None: the default); AgentError when out of range."""
    if capacity is not None and not 1 <= capacity <= MAX_CAPACITY:
        raise AgentError(f"capacity must be a whole number from 1 to {MAX_CAPACITY}")
    agent.capacity = capacity
    session.add(agent)
    return agent


def parse_capacity(text: str) -> int | None:
    """`3` -> 3, empty or `default` -> None; AgentError for anything else."""
    value = text.strip().lower()
    if value in ("", "default"):
        return None
    if not value.isdigit():
        raise AgentError(f"capacity must be a whole number from 1 to {MAX_CAPACITY}, not {text!r}")
    return int(value)


def loads(session: Session, agent_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many claimed items each agent owns (snoozed ones included: they are still theirs)."""
    if not agent_ids:
        return {}
    rows = session.exec(
        select(HandoffItem.assigned_to, func.count())
        .where(HandoffItem.status == "claimed", col(HandoffItem.assigned_to).in_(agent_ids))
        .group_by(col(HandoffItem.assigned_to))
    ).all()
    return {agent_id: int(count) for agent_id, count in rows if agent_id is not None}


def signed_in_ids(session: Session, *, at: datetime) -> set[uuid.UUID]:
    """Agents with a console session that has not ended or expired at `at`: an agent who
    signed out (or whose session ran out) is away whatever they last said."""
    rows = session.exec(
        select(AgentSession.agent_id).where(col(AgentSession.expires_at) > at).distinct()
    ).all()
    return set(rows)


def is_online(agent: Agent, signed_in: Collection[uuid.UUID]) -> bool:
    """Online as auto-assignment sees it: active, said online, and signed in."""
    return agent.active and agent.availability == "online" and agent.id in signed_in


def ranked(
    agents: Sequence[Agent], *, strategy: Strategy, item: HandoffItem, load: dict[uuid.UUID, int]
) -> list[Agent]:
    """The order in which eligible agents are offered the item (pure). Agents on the item's
    own team come before agents who take any team's items."""

    def key(agent: Agent) -> tuple[int, int, int, str]:
        own_team = 0 if item.team is not None and agent.team == item.team else 1
        busy = load.get(agent.id, 0) if strategy == "least_busy" else 0
        return own_team, busy, agent.route_turn, agent.email

    return sorted(agents, key=key)


def candidates(
    session: Session,
    *,
    routing: Routing,
    item: HandoffItem,
    brand: str,
    at: datetime,
    exclude: Collection[uuid.UUID] = (),
) -> list[Agent]:
    """Who may be given the item now, best first (empty when routing is off)."""
    if routing.strategy == "off":
        return []
    signed_in = signed_in_ids(session, at=at)
    online = [
        a
        for a in session.exec(
            # Fresh values, not the session's cached ones: a lost race moved someone's turn.
            select(Agent)
            .where(Agent.availability == "online")
            .execution_options(populate_existing=True)
        ).all()
        if is_online(a, signed_in)
        and a.id not in exclude
        and can_see_brand(a, brand)
        and team_allows(a, item)
    ]
    load = loads(session, [a.id for a in online])
    room = [a for a in online if load.get(a.id, 0) < routing.capacity_of(a)]
    return ranked(room, strategy=routing.strategy, item=item, load=load)


def _take_turn(session: Session, agent: Agent) -> bool:
    """Move the agent to the back of the round-robin order, if nobody did meanwhile."""
    others = aliased(Agent)
    back = select(func.coalesce(func.max(others.route_turn), 0) + 1).scalar_subquery()
    result = session.connection().execute(
        update(Agent)
        .where(col(Agent.id) == agent.id, col(Agent.route_turn) == agent.route_turn)
        .values(route_turn=back)
    )
    return result.rowcount == 1


def _give(session: Session, *, item_id: uuid.UUID, agent: Agent, at: datetime) -> bool:
    result = session.connection().execute(
        update(HandoffItem)
        .where(
            col(HandoffItem.id) == item_id,
            col(HandoffItem.status) == "open",
            col(HandoffItem.assigned_to).is_(None),
        )
        .values(status="claimed", assigned_to=agent.id, claimed_at=at, snoozed_until=None)
    )
    return result.rowcount == 1


def _assigned(session: Session, *, item_id: uuid.UUID, agent: Agent, routing: Routing) -> None:
    audit(
        session,
        action="queue.assign",
        target=str(item_id),
        detail={"result": "ok", "by": AUTO, "strategy": routing.strategy, "to": agent.email},
    )


def auto_assign(
    session: Session,
    *,
    routing: Routing,
    item: HandoffItem,
    at: datetime | None = None,
    exclude: Collection[uuid.UUID] = (),
) -> Agent | None:
    """Give an open item to the best eligible agent (None: nobody can take it now)."""
    at = at or now()
    session.flush()  # a new item must exist for the conditional UPDATE below
    conversation = session.get(Conversation, item.conversation_id)
    if conversation is None or item.status != "open" or item.assigned_to is not None:
        return None
    for _ in range(MAX_ROUNDS):
        ranking = candidates(
            session, routing=routing, item=item, brand=conversation.brand, at=at, exclude=exclude
        )
        if not ranking:
            return None
        agent = ranking[0]
        if not _take_turn(session, agent):
            continue  # another worker just gave this agent an item: read everyone again
        if not _give(session, item_id=item.id, agent=agent, at=at):
            return None  # claimed by someone meanwhile
        _assigned(session, item_id=item.id, agent=agent, routing=routing)
        session.refresh(item)
        session.refresh(agent)
        return agent
    return None  # lost the race every time: it waits in the open queue like any other


def fill(
    session: Session, *, routing: Routing, agent: Agent, at: datetime | None = None
) -> list[uuid.UUID]:
    """Give an agent who just came online (or freed capacity) the waiting items they may
    take, most urgent first, up to their capacity; never one taken back from them."""
    at = at or now()
    if routing.strategy == "off" or not is_online(agent, signed_in_ids(session, at=at)):
        return []
    room = routing.capacity_of(agent) - loads(session, [agent.id]).get(agent.id, 0)
    given: list[uuid.UUID] = []
    for item, _ in visible_items(session, agent=agent, view="open", limit=max(room, 0) * 4):
        if len(given) >= room:
            break
        if not team_allows(agent, item) or item.requeued_from == agent.id:
            continue
        session.refresh(agent)  # its turn, as another worker may have moved it
        if not _take_turn(session, agent):
            break  # being given items elsewhere right now: leave the rest to that
        if _give(session, item_id=item.id, agent=agent, at=at):
            _assigned(session, item_id=item.id, agent=agent, routing=routing)
            given.append(item.id)
    return given


def refill(session: Session, *, routing: Routing, agent_id: uuid.UUID | None) -> list[uuid.UUID]:
    """After an item of `agent_id` was resolved: their freed capacity takes waiting items."""
    agent = session.get(Agent, agent_id) if agent_id is not None else None
    return fill(session, routing=routing, agent=agent) if agent is not None else []


def after_resolve(session: Session, *, routing: Routing, item_id: uuid.UUID) -> list[uuid.UUID]:
    """A resolved item frees a place of its owner's (whoever resolved it, by hand, in bulk or
    through the API): auto-assignment fills it."""
    item = session.get(HandoffItem, item_id)
    if item is None:
        return []
    session.refresh(item)
    return refill(session, routing=routing, agent_id=item.assigned_to)

"""What agents do to the human queue: list, claim atomically, release, assign, transfer, snooze,
resolve.

Data functions in the caller's transaction; they return an outcome and never raise HTTP errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, Update, and_, case, func, or_, update
from sqlmodel import Session, col, select

from app.flows.survey import queue_survey
from app.handoff import search
from app.handoff.agents import can_see_brand
from app.handoff.queue import UNRESOLVED, awake
from app.handoff.search import QueueFilter
from app.storage.messages import now
from app.storage.tables import Agent, Conversation, HandoffItem

ActionResult = Literal["ok", "not_found", "conflict", "forbidden"]
QueueView = Literal["open", "mine", "claimed", "snoozed", "all"]
QUEUE_VIEWS: tuple[QueueView, ...] = get_args(QueueView)
COUNTED_VIEWS: tuple[QueueView, ...] = ("open", "mine", "claimed", "snoozed")
"""The views whose tabs show a count (`all` holds the resolved past too: not worth counting
on every live update)."""
Outcome = Literal["resolved", "return_to_bot", "no_reply_needed", "spam"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
MAX_SNOOZE_MINUTES = 7 * 24 * 60
"""A week: an item snoozed longer is better resolved (the customer writing wakes it anyway)."""


def manages(agent: Agent) -> bool:
    """Supervisors and admins act on any item of their brands, not only their own."""
    return agent.role in ("supervisor", "admin")


def _in_view(agent: Agent, view: QueueView, *, at: datetime) -> list[ColumnElement[bool]]:
    """The conditions that put an item (joined with its conversation) in the agent's view.

    `open` is what waits for someone (for an agent on a team: unrouted items and their
    team's); `mine` what the agent owns; `claimed` what anyone owns; `snoozed` what is put
    aside until later (and left out of the other three until then); `all` every item of
    the agent's brands the other views could show, and the resolved ones.
    """
    is_awake = awake(at)
    team_scoped = bool(agent.team) and not manages(agent)
    their_team = or_(col(HandoffItem.team).is_(None), col(HandoffItem.team) == agent.team)
    conditions: list[ColumnElement[bool]]
    if view == "mine":
        conditions = [
            col(HandoffItem.status) == "claimed",
            col(HandoffItem.assigned_to) == agent.id,
            is_awake,
        ]
    elif view == "claimed":
        conditions = [col(HandoffItem.status) == "claimed", is_awake]
    elif view == "snoozed":
        conditions = [col(HandoffItem.status).in_(UNRESOLVED), ~is_awake]
    elif view == "all":
        # The union of the other views: only a waiting, awake item is scoped to a team.
        waiting = (col(HandoffItem.status) == "open") & is_awake
        conditions = [or_(~waiting, their_team)] if team_scoped else []
    else:
        conditions = [col(HandoffItem.status) == "open", is_awake]
        if team_scoped:
            conditions.append(their_team)
    if agent.role != "admin":
        conditions.append(col(Conversation.brand).in_(agent.brands))
    return conditions


def _order(view: QueueView) -> tuple[Any, ...]:
    # The work views: most urgent, then longest waiting first. `all` is for finding: newest first.
    if view == "all":
        return (col(HandoffItem.created_at).desc(), col(HandoffItem.id).desc())
    return (col(HandoffItem.priority), col(HandoffItem.created_at), col(HandoffItem.id))


def visible_items(
    session: Session,
    *,
    agent: Agent,
    view: QueueView = "open",
    where: QueueFilter | None = None,
    limit: int = 500,
    offset: int = 0,
) -> Sequence[tuple[HandoffItem, Conversation]]:
    """Queue items in one of the agent's views (see `_in_view`) that pass the filter, most
    urgent then oldest first (`all`: newest first); `offset` skips that many."""
    at = now()
    query = (
        select(HandoffItem, Conversation)
        .join(Conversation, col(Conversation.id) == col(HandoffItem.conversation_id))
        .where(*_in_view(agent, view, at=at), *search.conditions(where or QueueFilter(), at=at))
        .order_by(*_order(view))
        .offset(offset)
        .limit(limit)
    )
    return [(item, conversation) for item, conversation in session.exec(query).all()]


def count_views(
    session: Session, *, agent: Agent, where: QueueFilter | None = None
) -> dict[QueueView, int]:
    """How many items each counted view holds, with the filter (one query for all of them)."""
    at = now()
    query = (
        select(
            *(
                func.coalesce(func.sum(case((and_(*_in_view(agent, view, at=at)), 1), else_=0)), 0)
                for view in COUNTED_VIEWS
            )
        )
        .select_from(HandoffItem)
        .join(Conversation, col(Conversation.id) == col(HandoffItem.conversation_id))
        .where(
            col(HandoffItem.status).in_(UNRESOLVED),
            *search.conditions(where or QueueFilter(), at=at),
        )
    )
    counts = session.execute(query).one()
    return {view: int(count) for view, count in zip(COUNTED_VIEWS, counts, strict=True)}


def count_items(
    session: Session, *, agent: Agent, view: QueueView, where: QueueFilter | None = None
) -> int:
    """How many items one view holds with the filter."""
    at = now()
    query = (
        select(func.count())
        .select_from(HandoffItem)
        .join(Conversation, col(Conversation.id) == col(HandoffItem.conversation_id))
        .where(*_in_view(agent, view, at=at), *search.conditions(where or QueueFilter(), at=at))
    )
    return int(session.execute(query).scalar_one())


def next_open_item(
    session: Session, *, agent: Agent, where: QueueFilter | None = None
) -> tuple[HandoffItem, Conversation] | None:
    """The item the agent should take next: the top of their open queue, searched and
    filtered as the queue they came from was (its state and owner filters aside)."""
    narrowed = (where or QueueFilter()).for_next_item()
    found = visible_items(session, agent=agent, view="open", where=narrowed, limit=1)
    return found[0] if found else None


def visible_item(session: Session, *, agent: Agent, item_id: uuid.UUID) -> HandoffItem | None:
    """The item if it exists and is of one of the agent's brands."""
    row = session.exec(
        select(HandoffItem, Conversation)
        .join(Conversation, col(Conversation.id) == col(HandoffItem.conversation_id))
        .where(HandoffItem.id == item_id)
        # Fresh from the database: the actions change items with UPDATEs, which the session's
        # copy of an item loaded earlier (a bulk action's claim, then resolve) does not see.
        .execution_options(populate_existing=True)
    ).first()
    if row is None or not can_see_brand(agent, row[1].brand):
        return None  # another brand's item is reported as absent, not as forbidden
    return row[0]


def team_allows(agent: Agent, item: HandoffItem) -> bool:
    """Whether the item's team lets this agent take it: an agent on a team takes unrouted
    items and their own team's (as their open queue shows); supervisors and admins route."""
    return not agent.team or manages(agent) or item.team is None or item.team == agent.team


def claim(session: Session, *, agent: Agent, item_id: uuid.UUID) -> ActionResult:
    """Make the agent the item's owner if it is still open (one winner however many click);
    `forbidden` for another team's item (its id is no way around the team's queue)."""
    item = visible_item(session, agent=agent, item_id=item_id)
    if item is None:
        return "not_found"
    if not team_allows(agent, item):
        return "forbidden"
    # A conditional UPDATE, not read-then-write: the database decides who was first.
    result = session.connection().execute(
        update(HandoffItem)
        .where(col(HandoffItem.id) == item_id, col(HandoffItem.status) == "open")
        .values(status="claimed", assigned_to=agent.id, claimed_at=now())
    )
    return "ok" if result.rowcount == 1 else "conflict"


def assign(session: Session, *, by: Agent, to: Agent, item_id: uuid.UUID) -> ActionResult:
    """A supervisor or admin gives an unresolved item to an agent of its brand."""
    item = visible_item(session, agent=by, item_id=item_id)
    conversation = session.get(Conversation, item.conversation_id) if item else None
    if item is None or conversation is None:
        return "not_found"
    if not manages(by) or not to.active or not can_see_brand(to, conversation.brand):
        return "conflict"
    result = session.connection().execute(
        update(HandoffItem)
        .where(col(HandoffItem.id) == item_id, col(HandoffItem.status).in_(UNRESOLVED))
        .values(status="claimed", assigned_to=to.id, claimed_at=now(), snoozed_until=None)
    )
    return "ok" if result.rowcount == 1 else "conflict"


def transfer(
    session: Session,
    *,
    agent: Agent,
    item_id: uuid.UUID,
    to: Agent | None = None,
    team: str | None = None,
) -> ActionResult:
    """Hand an owned item to another agent (who then owns it) or to a team's queue; a
    supervisor or admin may also route a waiting item to a team (it keeps waiting there)."""
    item = visible_item(session, agent=agent, item_id=item_id)
    conversation = session.get(Conversation, item.conversation_id) if item else None
    if item is None or conversation is None:
        return "not_found"
    if (to is None) == (team is None):
        return "conflict"
    if to is not None and (not to.active or not can_see_brand(to, conversation.brand)):
        return "conflict"
    if team is not None and manages(agent) and item.status == "open":
        rerouted = session.connection().execute(
            update(HandoffItem)
            .where(col(HandoffItem.id) == item_id, col(HandoffItem.status) == "open")
            .values(team=team)
        )
        return "ok" if rerouted.rowcount == 1 else "conflict"
    query = _claimed_by(agent, item_id)
    if to is not None:
        values: dict[str, object] = {"assigned_to": to.id, "claimed_at": now()}
    else:
        values = {"status": "open", "assigned_to": None, "claimed_at": None, "team": team}
    result = session.connection().execute(query.values(**values))
    return "ok" if result.rowcount == 1 else "conflict"


def snooze(session: Session, *, agent: Agent, item_id: uuid.UUID, until: datetime) -> ActionResult:
    """Put an item aside until `until` (its owner keeps it): it leaves the open queue and
    the owner's list until then, or until the customer writes again."""
    item = visible_item(session, agent=agent, item_id=item_id)
    if item is None:
        return "not_found"
    if item.status == "open" and not team_allows(agent, item):
        return "forbidden"
    query = update(HandoffItem).where(col(HandoffItem.id) == item_id)
    if manages(agent):
        query = query.where(col(HandoffItem.status).in_(UNRESOLVED))
    else:
        query = query.where(
            or_(
                col(HandoffItem.status) == "open",
                (col(HandoffItem.status) == "claimed") & (col(HandoffItem.assigned_to) == agent.id),
            )
        )
    result = session.connection().execute(query.values(snoozed_until=until))
    return "ok" if result.rowcount == 1 else "conflict"


def mark_first_response(session: Session, *, item_id: uuid.UUID) -> None:
    """Stop the item's SLA clock (the first human reply went out); later replies change nothing."""
    session.connection().execute(
        update(HandoffItem)
        .where(col(HandoffItem.id) == item_id, col(HandoffItem.first_response_at).is_(None))
        .values(first_response_at=now())
    )


def release(session: Session, *, agent: Agent, item_id: uuid.UUID) -> ActionResult:
    """Put a claimed item back in the queue (its owner, or a supervisor/admin)."""
    if visible_item(session, agent=agent, item_id=item_id) is None:
        return "not_found"
    result = session.connection().execute(
        _claimed_by(agent, item_id).values(status="open", assigned_to=None, claimed_at=None)
    )
    return "ok" if result.rowcount == 1 else "conflict"


def _claimed_by(agent: Agent, item_id: uuid.UUID) -> Update:
    """An UPDATE of the item while it is claimed by `agent` (a supervisor/admin: by anyone)."""
    query = update(HandoffItem).where(
        col(HandoffItem.id) == item_id, col(HandoffItem.status) == "claimed"
    )
    if not manages(agent):
        query = query.where(col(HandoffItem.assigned_to) == agent.id)
    return query


def resolve(
    session: Session, *, agent: Agent, item_id: uuid.UUID, outcome: Outcome
) -> ActionResult:
    """Close the item with an outcome; `return_to_bot` hands the conversation back to the bot.

    An agent resolves what they own; a supervisor or admin may resolve any unresolved item.
    """
    item = visible_item(session, agent=agent, item_id=item_id)
    if item is None:
        return "not_found"
    query = update(HandoffItem).where(col(HandoffItem.id) == item_id)
    if manages(agent):
        query = query.where(col(HandoffItem.status).in_(UNRESOLVED))
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
        if outcome == "resolved":
            # The satisfaction survey (issue 14): decided by its job, after this commits.
            queue_survey(session, item=item, conversation=conversation)
    return "ok"

"""Bulk actions on the queue: resolve as spam, assign to an agent, transfer to a team.

Each item goes through the single-item action of `app.handoff.claims` (the same rules as one
click on one item) and is audited and committed on its own, so one item refused leaves the
others done; the report says, item by item, what happened and why one was skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from sqlmodel import Session

from app.console.deps import ConsoleContext
from app.errors import InvalidInput
from app.handoff import claims
from app.handoff.routing import Routing, after_resolve
from app.storage.tables import Agent, Conversation, HandoffItem

BulkAction = Literal["spam", "assign", "transfer"]
BULK_ACTIONS: tuple[BulkAction, ...] = get_args(BulkAction)
MAX_BULK_ITEMS = 100
"""A page of the queue."""
SPAM_OUTCOME: claims.Outcome = "spam"


class BulkRefused(InvalidInput):
    """The bulk action cannot be done at all (no item chosen, no such agent, not allowed)."""

    code = "bulk_refused"

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


@dataclass(frozen=True)
class ItemResult:
    """What the action did to one item."""

    item_id: uuid.UUID
    result: claims.ActionResult
    phone: str | None
    """The customer's number (None for an item the agent may not see)."""
    status: str | None
    """The item's status afterwards (None for an item the agent may not see)."""
    why: str | None = None
    """Why it was skipped, as the agent reads it: `already resolved by Ann`."""


@dataclass(frozen=True)
class BulkReport:
    """Every item's result, and the sentence that sums them up."""

    action: BulkAction
    done_as: str
    """What a done item became: `resolved as spam`, `assigned to Bo`, `transferred to billing`."""
    results: list[ItemResult]

    @property
    def done(self) -> int:
        """Items the action was applied to."""
        return sum(1 for r in self.results if r.result == "ok")

    @property
    def skipped(self) -> list[ItemResult]:
        """Items left as they were."""
        return [r for r in self.results if r.result != "ok"]

    @property
    def summary(self) -> str:
        """`3 resolved as spam, 1 skipped: +12125550101 already resolved by Ann.`"""
        text = f"{self.done} {self.done_as}"
        if self.skipped:
            reasons = "; ".join(f"{r.phone or 'an item'} {r.why}" for r in self.skipped)
            text += f", {len(self.skipped)} skipped: {reasons}"
        return text + "."


def run_bulk(
    db: Session,
    console: ConsoleContext,
    *,
    action: BulkAction,
    item_ids: Sequence[uuid.UUID],
    to: Agent | None = None,
    team: str | None = None,
    teams: Sequence[str] = (),
    routing: Routing | None = None,
) -> BulkReport:
    """Apply `action` to each item; BulkRefused (nothing done) when it cannot apply at all."""
    ids = list(dict.fromkeys(item_ids))
    if not ids:
        raise BulkRefused("select at least one conversation first")
    if len(ids) > MAX_BULK_ITEMS:
        raise BulkRefused(f"select at most {MAX_BULK_ITEMS} conversations at once")
    agent = console.agent
    if action == "assign":
        if not claims.manages(agent):
            raise BulkRefused("only supervisors and admins assign conversations", forbidden=True)
        if to is None:
            raise BulkRefused("choose the agent to assign to")
        if not to.active:
            raise BulkRefused(f"{to.display_name}'s account is disabled")
        done_as = f"assigned to {to.display_name}"
    elif action == "transfer":
        if not team:
            raise BulkRefused("choose the team to transfer to")
        if team not in teams:
            raise BulkRefused(f"there is no team {team[:40]!r}; the teams are: {', '.join(teams)}")
        done_as = f"transferred to {team}"
    else:
        done_as = "resolved as spam"
    results = [
        _one(db, console, action=action, item_id=item_id, to=to, team=team) for item_id in ids
    ]
    if action == "spam" and routing is not None:
        # After the whole batch: refilled one by one, auto-assignment could hand a later item
        # of the selection to someone else before it came to be resolved.
        for done in results:
            if done.result == "ok":
                after_resolve(db, routing=routing, item_id=done.item_id)
        db.commit()
    return BulkReport(action=action, done_as=done_as, results=results)


def _one(
    db: Session,
    console: ConsoleContext,
    *,
    action: BulkAction,
    item_id: uuid.UUID,
    to: Agent | None,
    team: str | None,
) -> ItemResult:
    agent = console.agent
    if action == "assign":
        assert to is not None
        result = claims.assign(db, by=agent, to=to, item_id=item_id)
        console.audit_queue(db, "assign", item_id, result, to=to.email, bulk=True)
    elif action == "transfer":
        assert team is not None
        result = claims.transfer(db, agent=agent, item_id=item_id, team=team)
        console.audit_queue(db, "transfer", item_id, result, to=f"team:{team}", bulk=True)
    else:
        result = _resolve_as_spam(db, console, item_id=item_id)
    return _outcome(db, agent, action=action, item_id=item_id, result=result, to=to)


def _resolve_as_spam(
    db: Session, console: ConsoleContext, *, item_id: uuid.UUID
) -> claims.ActionResult:
    """An agent resolves what they own: a waiting item is claimed first (as they would by
    hand, with the same team rules); supervisors and admins resolve any item directly."""
    agent = console.agent
    item = claims.visible_item(db, agent=agent, item_id=item_id)
    if item is not None and item.status == "open" and not claims.manages(agent):
        claimed = claims.claim(db, agent=agent, item_id=item_id)
        console.audit_queue(db, "claim", item_id, claimed, bulk=True)
        if claimed != "ok":
            return claimed
    result = claims.resolve(db, agent=agent, item_id=item_id, outcome=SPAM_OUTCOME)
    console.audit_queue(db, "resolve", item_id, result, outcome=SPAM_OUTCOME, bulk=True)
    return result


def _outcome(
    db: Session,
    agent: Agent,
    *,
    action: BulkAction,
    item_id: uuid.UUID,
    result: claims.ActionResult,
    to: Agent | None,
) -> ItemResult:
    item = claims.visible_item(db, agent=agent, item_id=item_id)
    conversation = db.get(Conversation, item.conversation_id) if item is not None else None
    if item is None or conversation is None:
        return ItemResult(item_id, "not_found", None, None, "is not in your queue any more")
    why = None if result == "ok" else _why(db, agent, item, result, action=action, to=to)
    return ItemResult(item_id, result, conversation.phone_e164, item.status, why)


def _why(
    db: Session,
    agent: Agent,
    item: HandoffItem,
    result: claims.ActionResult,
    *,
    action: BulkAction,
    to: Agent | None,
) -> str:
    """Why the item was left alone, from what it is now."""
    if result == "forbidden":
        return "is another team's"
    owner = db.get(Agent, item.assigned_to) if item.assigned_to else None
    name = "you" if owner is not None and owner.id == agent.id else _name(owner)
    if item.status == "resolved":
        return f"was already resolved by {name}"
    if action == "assign" and to is not None:
        return f"is of a brand {to.display_name} does not work on"
    if item.status == "claimed":
        return f"is claimed by {name}"
    if action == "transfer":
        return "is waiting in the queue: claim it before transferring it"
    return "could not be changed"


def _name(agent: Agent | None) -> str:
    return agent.display_name if agent is not None else "someone"

"""Finding work in the human queue: a search (a phone number, a customer's name, words of the
texts) and filters (reason, team, state, owner, when it was queued).

Everything here is a SQL condition on a queue item joined with its conversation, written to
mean the same on SQLite and PostgreSQL; `claims.visible_items` adds them to an agent's view,
so brand isolation and team scopes are decided there, once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, get_args

import phonenumbers
from sqlalchemy import ColumnElement, Text, cast, exists, or_
from sqlmodel import Session, col, select

from app.handoff.contacts import contact_names, name_matches
from app.handoff.queue import UNRESOLVED, awake
from app.pipeline.decision import Reason
from app.storage.tables import Conversation, HandoffItem, Message

ItemState = Literal["open", "claimed", "snoozed", "resolved"]
ITEM_STATES: tuple[ItemState, ...] = get_args(ItemState)
MAX_SEARCH_CHARS = 100
MIN_PHONE_DIGITS = 3
"""Fewer digits than this match too many numbers to mean one: they are searched as text only."""
_PHONE_CHARS = re.compile(r"[\d\s().+\-/]+")
_ESCAPE = "/"
"""LIKE's escape character: not a backslash, which string literals read differently by database."""


@dataclass(frozen=True)
class Search:
    """What an agent typed in the queue's search box, read every way it can mean something."""

    text: str
    digits: str | None = None
    """The digits, when the text reads as (part of) a phone number: `(212) 555-0101`."""
    e164: str | None = None
    """The whole number, when phonenumbers reads one (a national form with its trunk 0 too)."""

    @classmethod
    def of(cls, text: str, *, region: str) -> Search:
        """Read `text`; a number without +country is read as one of `region` (`US`)."""
        typed = " ".join(text.split())
        digits = re.sub(r"\D", "", typed)
        if not _PHONE_CHARS.fullmatch(typed) or len(digits) < MIN_PHONE_DIGITS:
            return cls(typed)
        return cls(typed, digits=digits, e164=_e164(typed, region=region))


def _e164(text: str, *, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class QueueFilter:
    """The search and filters of one queue page (all None: the whole view)."""

    search: Search | None = None
    reason: Reason | None = None
    team: str | None = None
    state: ItemState | None = None
    agent_id: uuid.UUID | None = None
    """The item's owner (who claimed, was assigned or resolved it)."""
    created_from: datetime | None = None
    """Queued at or after this instant."""
    created_before: datetime | None = None
    """Queued before this instant."""

    @property
    def active(self) -> bool:
        """Something narrows the view."""
        return self != QueueFilter()

    def for_next_item(self) -> QueueFilter:
        """What the "next item" after a resolve keeps: what the agent searched for, not the
        state or owner (the next item is an open one, owned by nobody)."""
        return replace(self, state=None, agent_id=None)


def conditions(where: QueueFilter, *, at: datetime) -> list[ColumnElement[bool]]:
    """The filter as conditions on HandoffItem joined with Conversation (`at`: now, which
    decides whether an item is snoozed)."""
    found: list[ColumnElement[bool]] = []
    if where.search is not None:
        found.append(_matches(where.search))
    if where.reason is not None:
        found.append(_has_reason(where.reason))
    if where.team is not None:
        found.append(col(HandoffItem.team) == where.team)
    if where.state is not None:
        found.append(_in_state(where.state, at=at))
    if where.agent_id is not None:
        found.append(col(HandoffItem.assigned_to) == where.agent_id)
    if where.created_from is not None:
        found.append(col(HandoffItem.created_at) >= where.created_from)
    if where.created_before is not None:
        found.append(col(HandoffItem.created_at) < where.created_before)
    return found


def _in_state(state: ItemState, *, at: datetime) -> ColumnElement[bool]:
    # As the queue's tabs define them: a snoozed item is in none of open and claimed.
    status = col(HandoffItem.status)
    if state == "snoozed":
        return status.in_(UNRESOLVED) & ~awake(at)
    if state == "resolved":
        return status == "resolved"
    return (status == state) & awake(at)


def _escaped(text: str) -> str:
    # % and _ (and the escape character itself) taken literally by LIKE ... ESCAPE '/'.
    return re.sub(r"([%_/])", lambda m: _ESCAPE + m.group(1), text)


def like_pattern(text: str) -> str:
    """`%text%` for LIKE with `_ESCAPE`: anything containing what the agent typed."""
    return f"%{_escaped(text)}%"


def _has_reason(reason: Reason) -> ColumnElement[bool]:
    # `reasons` is a JSON list of strings: its text holds `"<reason>"` with the quotes on both
    # databases (PostgreSQL's json keeps the text it was given), so one LIKE serves both
    # without json_each / json_array_elements_text.
    quoted = f'%"{_escaped(reason.value)}"%'
    return cast(col(HandoffItem.reasons), Text).like(quoted, escape=_ESCAPE)


def _matches(search: Search) -> ColumnElement[bool]:
    pattern = like_pattern(search.text)
    # ILIKE on PostgreSQL; lower() LIKE lower() on SQLite (ASCII letters only, a SQLite limit).
    said = exists(
        select(col(Message.id)).where(
            col(Message.conversation_id) == col(Conversation.id),
            col(Message.body).ilike(pattern, escape=_ESCAPE),
        )
    )
    alternatives = [said, customer_name_matches(pattern)]
    if search.digits is not None:
        alternatives.append(col(Conversation.phone_e164).like(f"%{search.digits}%"))
    if search.e164 is not None:
        alternatives.append(col(Conversation.phone_e164) == search.e164)
    return or_(*alternatives)


# --- customers' names: the one place that knows where a name is kept ------------------------


def customer_name_matches(pattern: str) -> ColumnElement[bool]:
    """The conversation's customer has a name matching the LIKE `pattern`: the name the console
    shows (the agents' name for the contact, else the customer record's; app.handoff.contacts)."""
    return name_matches(pattern, escape=_ESCAPE)


def customer_names(
    session: Session, *, conversations: Collection[Conversation]
) -> dict[uuid.UUID, str]:
    """Conversation id -> the customer's name, for those whose name is known."""
    names = contact_names(session, [(c.brand, c.phone_e164) for c in conversations])
    return {
        c.id: names[(c.brand, c.phone_e164)]
        for c in conversations
        if (c.brand, c.phone_e164) in names
    }

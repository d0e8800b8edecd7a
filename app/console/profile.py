"""The customer's profile beside a conversation: who they are from the customer context (name,
orders, appointments, membership) and their earlier conversations with the team.

Read-only. Looked up by the conversation's own brand and number only (the page has already
checked the agent may see that brand), and a customer system that is down shows as such
instead of failing the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from app import log
from app.context import ContextUnavailable, Customer, CustomerContext
from app.handoff.agents import can_see_brand
from app.storage.tables import Agent, Conversation, HandoffItem

MAX_PAST = 10
_logger = log.get_logger("console")


@dataclass(frozen=True)
class PastConversation:
    """An earlier conversation with a person: when, why, how it ended, and where to read it."""

    at: datetime
    label: str
    url: str
    reasons: tuple[str, ...] = ()
    outcome: str | None = None


@dataclass(frozen=True)
class CustomerProfile:
    """What the side panel shows about the customer."""

    source: str | None
    """`builtin`, `http`, or None when no customer context is configured."""
    customer: Customer | None = None
    unavailable: str | None = None
    """Why the records could not be read (the customer system is down)."""
    past: list[PastConversation] = field(default_factory=list)


def customer_profile(
    session: Session,
    *,
    context: CustomerContext | None,
    agent: Agent,
    conversation: Conversation,
) -> CustomerProfile:
    """The profile of the conversation's customer, as this agent may see it."""
    past = past_conversations(session, agent=agent, conversation=conversation)
    if context is None:
        return CustomerProfile(None, past=past)
    try:
        customer = context.customer(conversation.brand, conversation.phone_e164)
    except ContextUnavailable as exc:
        _logger.warning("console.context_unavailable", error=str(exc))
        return CustomerProfile(context.name, unavailable=str(exc), past=past)
    return CustomerProfile(context.name, customer, past=past)


def past_conversations(
    session: Session, *, agent: Agent, conversation: Conversation, limit: int | None = MAX_PAST
) -> list[PastConversation]:
    """Resolved hand-offs of this conversation, and this number's conversations with the
    agent's other brands (never a brand the agent may not see), newest first; `limit` of
    them (None: all, as the contact page lists them)."""
    found: list[PastConversation] = []
    resolved = session.exec(
        select(HandoffItem)
        .where(HandoffItem.conversation_id == conversation.id, HandoffItem.status == "resolved")
        .order_by(col(HandoffItem.created_at).desc())
        .limit(limit)
    ).all()
    for item in resolved:
        found.append(
            PastConversation(
                at=item.created_at,
                label="with the team",
                url=f"/console/conversations/{conversation.id}?history=all",
                reasons=tuple(item.reasons),
                outcome=item.outcome,
            )
        )
    others = session.exec(
        select(Conversation)
        .where(
            Conversation.phone_e164 == conversation.phone_e164,
            Conversation.id != conversation.id,
        )
        .order_by(col(Conversation.created_at).desc())
    ).all()
    for other in others:
        if can_see_brand(agent, other.brand):
            found.append(
                PastConversation(
                    at=other.last_inbound_at or other.created_at,
                    label=f"brand {other.brand}",
                    url=f"/console/conversations/{other.id}",
                )
            )
    return sorted(found, key=lambda p: p.at, reverse=True)[:limit]

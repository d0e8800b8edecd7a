"""What the console API returns (never table objects)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.console.bulk import MAX_BULK_ITEMS, BulkAction, BulkReport
from app.handoff.agents import MAX_TEAM_LENGTH
from app.handoff.claims import MAX_SNOOZE_MINUTES, Outcome
from app.storage.tables import Agent, Conversation, HandoffItem


class AgentPublic(BaseModel):
    """An agent as the console shows them."""

    id: uuid.UUID
    email: str
    display_name: str
    role: str
    brands: list[str]

    @classmethod
    def of(cls, agent: Agent) -> AgentPublic:
        """The public view of an agent row."""
        return cls(
            id=agent.id,
            email=agent.email,
            display_name=agent.display_name,
            role=agent.role,
            brands=list(agent.brands),
        )


class SessionPublic(BaseModel):
    """The signed-in agent and the CSRF token every state-changing request must send."""

    agent: AgentPublic
    csrf_token: str
    expires_at: datetime


class QueueItemPublic(BaseModel):
    """One conversation waiting for (or owned by) a person."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    brand: str
    phone: str
    reasons: list[str]
    priority: int
    status: str
    created_at: datetime
    wait_seconds: int
    assigned_to: uuid.UUID | None
    claimed_at: datetime | None

    @classmethod
    def of(cls, item: HandoffItem, conversation: Conversation, at: datetime) -> QueueItemPublic:
        """The public view of a queue row and its conversation."""
        return cls(
            id=item.id,
            conversation_id=item.conversation_id,
            brand=conversation.brand,
            phone=conversation.phone_e164,
            reasons=list(item.reasons),
            priority=item.priority,
            status=item.status,
            created_at=item.created_at,
            wait_seconds=max(0, int((at - item.created_at).total_seconds())),
            assigned_to=item.assigned_to,
            claimed_at=item.claimed_at,
        )


class ResolveRequest(BaseModel):
    """How the conversation ended; `return_to_bot` gives it back to the bot."""

    outcome: Outcome
    note: str | None = None


class AssignRequest(BaseModel):
    """Who should own the conversation (supervisors and admins)."""

    agent_id: uuid.UUID


class TransferRequest(BaseModel):
    """Another agent, or a team's queue: exactly one of the two."""

    agent_id: uuid.UUID | None = None
    team: str | None = Field(default=None, min_length=1, max_length=MAX_TEAM_LENGTH)


class SnoozeRequest(BaseModel):
    """How long to put the conversation aside (it wakes early if the customer writes)."""

    minutes: int = Field(ge=1, le=MAX_SNOOZE_MINUTES)


class ActionPublic(BaseModel):
    """The item after a claim, release or resolve."""

    id: uuid.UUID
    status: str
    assigned_to: uuid.UUID | None
    outcome: str | None


class BulkRequest(BaseModel):
    """One action on several queue items: `spam` (resolve as spam), `assign` (to `agent_id`,
    supervisors and admins) or `transfer` (to `team`)."""

    action: BulkAction
    item_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_BULK_ITEMS)
    agent_id: uuid.UUID | None = None
    team: str | None = Field(default=None, min_length=1, max_length=MAX_TEAM_LENGTH)


class BulkItemPublic(BaseModel):
    """What the bulk action did to one item (`ok`, or why it was skipped)."""

    id: uuid.UUID
    result: str
    status: str | None
    detail: str | None


class BulkPublic(BaseModel):
    """Every item's result and the sentence that sums them up."""

    action: BulkAction
    done: int
    skipped: int
    summary: str
    results: list[BulkItemPublic]

    @classmethod
    def of(cls, report: BulkReport) -> BulkPublic:
        """The public view of a bulk report."""
        return cls(
            action=report.action,
            done=report.done,
            skipped=len(report.skipped),
            summary=report.summary,
            results=[
                BulkItemPublic(id=r.item_id, result=r.result, status=r.status, detail=r.why)
                for r in report.results
            ],
        )

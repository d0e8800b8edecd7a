"""What the console's pages show, read from the tables in one place (no page queries by itself)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.ai.knowledge import INTENTS_FILE, KnowledgeError, load_intents
from app.compliance.ledger import ConsentLedger, ContactConsent, fold
from app.flows.metrics import latest_run
from app.handoff import claims
from app.handoff.agents import can_see_brand
from app.handoff.queue import UNRESOLVED, unresolved_item
from app.handoff.search import QueueFilter, customer_names
from app.media.store import media_of
from app.storage.messages import now, thread
from app.storage.tables import (
    Agent,
    AiDecision,
    ConsentEvent,
    Conversation,
    ConversationNote,
    FlowRun,
    HandoffItem,
    Message,
    MessageMedia,
    MessageStatus,
)

SLA_WARNING = timedelta(minutes=5)
QUEUE_PAGE = 100
"""Rows the queue page shows: the most urgent first, and an agent works from the top."""
THREAD_WINDOW = 150
"""The newest texts a conversation page shows (and re-renders on every live update);
the rest are one link away."""


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue."""

    item: HandoffItem
    conversation: Conversation
    owner: Agent | None
    last_text: str | None
    at: datetime
    customer: str | None = None
    """The customer's name, when it is known."""
    requeued_from: Agent | None = None
    """The agent it was taken back from for not replying in time (routing)."""

    @property
    def sla_state(self) -> str:
        """`met`, `breached`, `soon` or `running` (or `none` without a target)."""
        if self.item.due_at is None:
            return "none"
        if self.item.first_response_at is not None:
            return "met" if self.item.first_response_at <= self.item.due_at else "breached"
        if self.at > self.item.due_at:
            return "breached"
        return "soon" if self.item.due_at - self.at <= SLA_WARNING else "running"


def _agents(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, Agent]:
    if not ids:
        return {}
    return {a.id: a for a in session.exec(select(Agent).where(col(Agent.id).in_(ids))).all()}


def queue_rows(
    session: Session,
    *,
    agent: Agent,
    view: claims.QueueView,
    where: QueueFilter | None = None,
    limit: int = QUEUE_PAGE,
    offset: int = 0,
) -> list[QueueRow]:
    """The most urgent `limit` items of a queue view that pass the filter (after `offset`),
    with owners, customers' names and each customer's latest text."""
    items = claims.visible_items(
        session, agent=agent, view=view, where=where, limit=limit, offset=offset
    )
    names = customer_names(session, conversations=[c for _, c in items])
    owners = _agents(
        session,
        {i.assigned_to for i, _ in items if i.assigned_to}
        | {i.requeued_from for i, _ in items if i.requeued_from},
    )
    ids = [c.id for _, c in items]
    latest: dict[uuid.UUID, str] = {}
    if ids:
        # Only each conversation's newest inbound text leaves the database, however long
        # the threads are (the queue is re-rendered on every live update).
        newest_first = func.row_number().over(
            partition_by=col(Message.conversation_id),
            order_by=(col(Message.created_at).desc(), col(Message.id).desc()),
        )
        ranked = (
            sa_select(col(Message.conversation_id), col(Message.body), newest_first.label("rank"))
            .where(col(Message.conversation_id).in_(ids), col(Message.direction) == "inbound")
            .subquery()
        )
        rows = session.execute(
            sa_select(ranked.c.conversation_id, ranked.c.body).where(ranked.c.rank == 1)
        ).all()
        latest = {conversation_id: body for conversation_id, body in rows}
    at = now()
    return [
        QueueRow(
            item,
            conversation,
            owners.get(item.assigned_to) if item.assigned_to else None,
            latest.get(conversation.id),
            at,
            names.get(conversation.id),
            owners.get(item.requeued_from) if item.requeued_from else None,
        )
        for item, conversation in items
    ]


@dataclass(frozen=True)
class ThreadEntry:
    """One text with its delivery history and, for an inbound text, the AI's view of it."""

    message: Message
    steps: list[MessageStatus]
    ai: AiDecision | None
    media: list[MessageMedia] = field(default_factory=list)
    """Its pictures (an inbound MMS's, an agent's attachment), in order."""

    @property
    def record(self) -> dict[str, Any]:
        """The AI record (empty when the AI layer did not see the text)."""
        return self.ai.record if self.ai is not None else {}


@dataclass(frozen=True)
class ConversationView:
    """Everything the conversation page shows."""

    conversation: Conversation
    item: HandoffItem | None
    owner: Agent | None
    entries: list[ThreadEntry]
    consent: ContactConsent
    ledger: Sequence[ConsentEvent]
    notes: list[tuple[ConversationNote, str]]
    draft: str | None
    earlier: int = 0
    """Older texts of the conversation the thread leaves out."""
    whole: bool = False
    """The thread was asked for whole (it stays whole as it updates)."""
    agents: list[Agent] = field(default_factory=list)
    """Who the item can be assigned or transferred to."""
    at: datetime = field(default_factory=now)
    flow_run: FlowRun | None = None
    """The conversation's newest flow run: what an agent taking over a flow should see."""

    def owned_by(self, agent: Agent) -> bool:
        """The agent owns the conversation's open item."""
        return (
            self.item is not None
            and self.item.status == "claimed"
            and self.item.assigned_to == agent.id
        )


@dataclass(frozen=True)
class ComposerWatch:
    """What the composer's watcher compares on every live update of the conversation.

    The composer is never re-rendered under an agent's typing just because the thread
    moved: only when who owns the conversation changes. A newer AI draft is offered
    beside the text instead, and the first-text reminder goes once a text has gone out.
    """

    owner: str
    """Digest of the unresolved item's id, status and owner ("none" without one)."""
    shown: str
    """Digest of the AI draft the composer was filled with ("" for none)."""
    draft: str
    """Digest of the latest AI draft now."""
    first_text: bool
    """Nothing has been sent to the customer yet."""

    @classmethod
    def of(cls, view: ConversationView, *, shown: str | None = None) -> ComposerWatch:
        """The watch of `view`; `shown` defaults to its current draft (a fresh composer)."""
        item = view.item
        owner = _digest(item.id, item.status, item.assigned_to) if item is not None else "none"
        draft = _digest(view.draft) if view.draft else ""
        return cls(
            owner=owner,
            shown=draft if shown is None else shown,
            draft=draft,
            first_text=view.conversation.last_outbound_at is None,
        )

    @property
    def newer_draft(self) -> bool:
        """The AI has drafted a reply the composer does not hold."""
        return self.draft != "" and self.draft != self.shown

    @property
    def state(self) -> str:
        """Digest of everything the watcher shows."""
        return _digest(self.owner, self.shown, self.draft, self.first_text)


def visible_conversation(
    session: Session, *, agent: Agent, conversation_id: uuid.UUID
) -> Conversation | None:
    """The conversation if it exists and is of one of the agent's brands."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or not can_see_brand(agent, conversation.brand):
        return None
    return conversation


def conversation_view(
    session: Session,
    *,
    conversation: Conversation,
    ledger: ConsentLedger,
    newest: int | None = THREAD_WINDOW,
) -> ConversationView:
    """The thread (its `newest` texts; None: all), the AI's view of each text, consent,
    notes and the latest AI draft."""
    stored = thread(session, conversation_id=conversation.id, newest=newest)
    messages = list(stored.messages) if stored is not None else []
    decisions: dict[uuid.UUID, AiDecision] = {}
    earlier = 0
    if messages:
        for decision in session.exec(
            select(AiDecision).where(col(AiDecision.message_id).in_([m.id for m in messages]))
        ).all():
            decisions[decision.message_id] = decision
        if newest is not None and len(messages) == newest:
            total = session.exec(
                select(func.count()).where(Message.conversation_id == conversation.id)
            ).one()
            earlier = total - len(messages)
    steps = stored.history if stored is not None else {}
    pictures = media_of(session, [m.id for m in messages])
    entries = [
        ThreadEntry(m, steps.get(m.id, []), decisions.get(m.id), pictures.get(m.id, []))
        for m in messages
    ]
    item = unresolved_item(session, conversation_id=conversation.id)
    events = ledger.events(session, brand=conversation.brand, phone=conversation.phone_e164)
    notes = session.exec(
        select(ConversationNote, Agent.display_name)
        .join(Agent, col(Agent.id) == col(ConversationNote.agent_id))
        .where(ConversationNote.conversation_id == conversation.id)
        .order_by(col(ConversationNote.id))
    ).all()
    agents = session.exec(
        select(Agent).where(col(Agent.active).is_(True)).order_by(col(Agent.display_name))
    ).all()
    return ConversationView(
        conversation=conversation,
        item=item,
        owner=session.get(Agent, item.assigned_to) if item and item.assigned_to else None,
        entries=entries,
        consent=fold(events),
        ledger=events,
        notes=[(note, name) for note, name in notes],
        draft=_latest_draft(entries),
        earlier=earlier,
        whole=newest is None,
        agents=[a for a in agents if can_see_brand(a, conversation.brand)],
        flow_run=latest_run(session, conversation_id=conversation.id),
    )


_NOTICES = ("handoff_ack", "safety")
"""The bot's texts saying a person will reply: they answer nothing, so a draft stays useful."""


def _latest_draft(entries: list[ThreadEntry]) -> str | None:
    # The AI's draft for the newest inbound text, if nothing has gone out since it that
    # answers it (a hand-off's acknowledgement does not).
    for entry in reversed(entries):
        message = entry.message
        if (
            message.direction == "outbound"
            and message.status != "cancelled"
            and message.purpose not in _NOTICES
        ):
            return None
        if entry.message.direction == "inbound":
            draft = entry.record.get("draft")
            return draft if isinstance(draft, str) and draft else None
    return None


def teams(session: Session, *, knowledge_dir: Path) -> list[str]:
    """Transfer targets: the teams of the knowledge base's catalogue and of the agents."""
    rows = session.exec(select(Agent.team).where(col(Agent.team).is_not(None)).distinct()).all()
    return sorted({t for t in rows if t} | set(_catalogue_teams(knowledge_dir / INTENTS_FILE)))


def _catalogue_teams(path: Path) -> tuple[str, ...]:
    try:
        stat = path.stat()
    except OSError:
        return ()
    return _teams_of(path, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _teams_of(path: Path, _mtime: int) -> tuple[str, ...]:
    try:
        return tuple(load_intents(path)[1])
    except KnowledgeError:
        return ()  # `smsdesk kb check` reports a broken catalogue; the console carries on


def fingerprints(session: Session, *, conversation_id: uuid.UUID | None) -> dict[str, str]:
    """Cheap digests of what the open pages show: when one changes, the page refreshes it.

    `queue` covers every unresolved item and the newest inbound text; `conversation` the
    thread, its delivery steps, the item, notes and the customer's consent events.
    """
    unresolved = session.execute(
        sa_select(
            *(
                col(c)
                for c in (
                    HandoffItem.id,
                    HandoffItem.status,
                    HandoffItem.assigned_to,
                    HandoffItem.priority,
                    HandoffItem.snoozed_until,
                    HandoffItem.team,
                )
            )
        )
        .where(col(HandoffItem.status).in_(UNRESOLVED))
        .order_by(col(HandoffItem.id))
    ).all()
    # Who is online shows on the dashboard, which refreshes with the queue.
    availability = session.execute(
        sa_select(col(Agent.id), col(Agent.availability)).order_by(col(Agent.id))
    ).all()
    newest = session.exec(
        select(func.max(Message.created_at)).where(Message.direction == "inbound")
    ).one()
    digests = {"queue": _digest(unresolved, newest, availability)}
    if conversation_id is not None:
        conversation = session.get(Conversation, conversation_id)
        if conversation is not None:
            # One indexed lookup: cheaper than carrying every item's conversation id above.
            item = unresolved_item(session, conversation_id=conversation_id)
            item_id = item.id if item is not None else None
            digests["conversation"] = _digest(
                session.exec(
                    select(func.count(), func.max(Message.updated_at)).where(
                        Message.conversation_id == conversation_id
                    )
                ).one(),
                session.exec(
                    select(func.count(), func.max(MessageStatus.id))
                    .join(Message, col(Message.id) == col(MessageStatus.message_id))
                    .where(Message.conversation_id == conversation_id)
                ).one(),
                session.exec(
                    select(func.max(ConversationNote.id)).where(
                        ConversationNote.conversation_id == conversation_id
                    )
                ).one(),
                session.exec(
                    select(func.max(ConsentEvent.seq)).where(
                        ConsentEvent.brand == conversation.brand,
                        ConsentEvent.phone_e164 == conversation.phone_e164,
                    )
                ).one(),
                session.exec(
                    select(func.count()).where(AiDecision.conversation_id == conversation_id)
                ).one(),
                [row for row in unresolved if row[0] == item_id],
                conversation.status,
                session.exec(
                    select(FlowRun.id, FlowRun.status, FlowRun.node, FlowRun.unrecognised).where(
                        FlowRun.conversation_id == conversation_id
                    )
                ).all(),
            )
    return digests


def _digest(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()

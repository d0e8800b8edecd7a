"""A person's reply: checked against the gate before it is queued, and again when it is sent.

The check here is only so the agent hears at once why a text cannot go (opted out, content)
or when it may (quiet hours); the send job still passes the gate at the moment of sending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.compliance.model import GateDecision, GateRequest
from app.compliance.parsing import parse_instant
from app.compliance.service import Compliance
from app.media.store import StoredFile, attach
from app.outbound.send import queue_outbound
from app.storage.messages import find_by_idempotency_key, now
from app.storage.tables import Conversation, Message

SendStatus = Literal["queued", "scheduled", "needs_schedule", "blocked", "duplicate"]


@dataclass(frozen=True)
class AgentSend:
    """What became of an agent's text."""

    status: SendStatus
    message: Message | None = None
    decision: GateDecision | None = None

    @property
    def send_at(self) -> datetime | None:
        """The next instant the gate allows (quiet hours), if it named one."""
        if self.decision is None or self.decision.next_allowed_utc is None:
            return None
        return parse_instant(self.decision.next_allowed_utc)


def send_agent_reply(
    engine: Engine,
    compliance: Compliance,
    *,
    conversation: Conversation,
    body: str,
    key: str,
    provider: str,
    schedule: bool = False,
    pictures: Sequence[StoredFile] = (),
) -> AgentSend:
    """Queue an agent's reply, or say why not.

    `key` makes a double click send once. Outside the allowed hours the text is only queued
    (for the next allowed time) when `schedule` says the agent agreed to wait. `pictures`
    (already checked and stored) go with the text; a picture alone passes the gate too.
    """
    decision = compliance.check_outbound(
        GateRequest(conversation.phone_e164, now(), "reply"),
        body=body,
        first_message=conversation.last_outbound_at is None,
        brand=conversation.brand,
        record=False,
        has_media=bool(pictures),
    )
    send_after = None
    if not decision.allowed:
        if decision.next_allowed_utc is None:
            return AgentSend("blocked", decision=decision)
        if not schedule:
            return AgentSend("needs_schedule", decision=decision)
        send_after = parse_instant(decision.next_allowed_utc)
    with Session(engine, expire_on_commit=False) as session:
        stored = session.get(Conversation, conversation.id)
        assert stored is not None
        message = queue_outbound(
            session,
            conversation=stored,
            body=body,
            category="reply",
            purpose="agent",
            idempotency_key=f"agent:{key}",
            provider=provider,
            send_after=send_after,
        )
        for position, picture in enumerate(pictures):
            attach(session, message_id=message.id, position=position, stored=picture)
        if pictures:  # as on an inbound MMS: the thread and the simulator see it has pictures
            message.media = [{"url": "", "content_type": p.content_type} for p in pictures]
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return AgentSend(
                "duplicate", find_by_idempotency_key(session, key=f"agent:{key}"), decision
            )
    return AgentSend("queued" if decision.allowed else "scheduled", message, decision)

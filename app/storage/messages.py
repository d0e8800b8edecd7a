"""Data functions for conversations, messages and their status history (keyword-only, no HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, Pool
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.clock import now as now  # the one clock (re-exported for the data functions' users)
from app.storage.tables import Conversation, Job, Message, MessageStatus

# Outbound messages that have not left yet: an opt-out cancels these (IN-2, TIME-3).
PENDING_OUTBOUND = ("queued", "scheduled")


def conversation_key(brand: str, phone: str) -> str:
    """The ordering key of one conversation's work."""
    return f"{brand}|{phone}"


def get_or_create_conversation(
    session: Session, *, brand: str, phone: str, business_number: str | None = None
) -> Conversation:
    """The conversation of (brand, phone), created on first contact (safe under races)."""
    query = select(Conversation).where(
        Conversation.brand == brand, Conversation.phone_e164 == phone
    )
    found = session.exec(query).first()
    if found is not None:
        return found
    conversation = Conversation(
        brand=brand, phone_e164=phone, business_number=business_number, created_at=now()
    )
    try:
        with session.begin_nested():
            session.add(conversation)
    except IntegrityError:
        return session.exec(query).one()
    return conversation


def add_status(
    session: Session,
    message: Message,
    status: str,
    *,
    detail: str | None = None,
    error_code: str | None = None,
) -> None:
    """Move a message to `status` and append the step to its history."""
    at = now()
    message.status, message.updated_at = status, at
    if detail is not None:
        message.status_reason = detail
    if error_code is not None:
        message.error_code = error_code
    session.add(message)
    session.add(
        MessageStatus(
            message_id=message.id, status=status, detail=detail, error_code=error_code, at=at
        )
    )


def new_message(session: Session, *, conversation: Conversation, **fields: Any) -> Message:
    """Add a message with its first status step."""
    at = now()
    message = Message(conversation_id=conversation.id, created_at=at, updated_at=at, **fields)
    session.add(message)
    session.add(MessageStatus(message_id=message.id, status=message.status, at=at))
    return message


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A job to queue: what `enqueue` was asked for."""

    kind: str
    key: str
    payload: dict[str, Any]
    dedupe_key: str | None
    run_after: datetime | None
    priority: int
    after_waiting: bool


class JobRouter(Protocol):
    """Another queue than the `jobs` table (scale-out mode: procrastinate's)."""

    def defer_in(self, session: Session, job: JobRequest) -> None:
        """Queue `job` in `session`'s transaction."""
        ...


_routers: WeakKeyDictionary[Pool, JobRouter] = WeakKeyDictionary()
"""By connection pool: `reading(engine)` and other option views of one engine share its pool."""


def route_jobs(engine: Engine, router: JobRouter) -> None:
    """Send the jobs enqueued on `engine` to `router` (scale-out mode: procrastinate's queue)
    instead of the `jobs` table: one queue per mode, chosen where the runtime is built."""
    _routers[engine.pool] = router


def _router_of(session: Session) -> JobRouter | None:
    """The runtime's routing, else the process's settings: a command that opens the database
    itself (a campaign, the demo seed) queues where the deployment's workers look."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.pool in _routers:
        return _routers[engine.pool]
    from app.config import get_settings

    if get_settings().execution_mode == "procrastinate" and engine.dialect.name == "postgresql":
        from app.jobs.procrastinate_engine import queue_for

        return queue_for(engine)
    return None


def enqueue(
    session: Session,
    *,
    kind: str,
    key: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    run_after: datetime | None = None,
    priority: int = 0,
    after_waiting: bool = False,
) -> Job | None:
    """Add a job in the caller's transaction: it exists exactly when the work that needs it does.

    Jobs of one `key` run one at a time, in order; a `priority` above 0 runs the job before
    other keys' jobs. `after_waiting`: the caller knows (from its own tables) that an earlier job
    of `key` may still wait. The embedded queue never lets a key's jobs overtake each other;
    procrastinate lets a higher priority overtake its own lock's earlier jobs, so there such a
    job takes no priority. Asking procrastinate's queue instead is a scan of every waiting job,
    which under a 10,000-text backlog cost the database more than the text itself (issue 15).

    Embedded mode: a `jobs` row (returned). Scale-out mode: a procrastinate job deferred with
    the transaction (None returned); there `dedupe_key` is not stored: every caller's key
    derives from a row that is itself unique (a message, a delivery, a batch), and handlers
    are idempotent."""
    router = _router_of(session)
    if router is not None:
        request = JobRequest(kind, key, payload, dedupe_key, run_after, priority, after_waiting)
        router.defer_in(session, request)
        return None
    job = Job(
        kind=kind,
        key=key,
        payload=payload,
        dedupe_key=dedupe_key,
        priority=priority,
        run_after=run_after or now(),
        created_at=now(),
    )
    session.add(job)
    return job


@dataclass(frozen=True, slots=True)
class Thread:
    """A conversation with its messages and their status histories."""

    conversation: Conversation
    messages: Sequence[Message]
    history: dict[uuid.UUID, list[MessageStatus]]


def find_message(session: Session, *, provider: str, provider_message_id: str) -> Message | None:
    """A message by its provider id."""
    return session.exec(
        select(Message).where(
            Message.provider == provider, Message.provider_message_id == provider_message_id
        )
    ).first()


def find_by_idempotency_key(session: Session, *, key: str) -> Message | None:
    """An outbound message by the idempotency key it was queued with."""
    return session.exec(select(Message).where(Message.idempotency_key == key)).first()


def pending_outbound(
    session: Session, *, conversation_id: uuid.UUID, lock: bool = False
) -> Sequence[Message]:
    """Outbound messages of a conversation that have not been handed to the provider
    (`lock`: held until the transaction ends, so a concurrent send cannot start them)."""
    query = select(Message).where(
        Message.conversation_id == conversation_id,
        Message.direction == "outbound",
        col(Message.status).in_(PENDING_OUTBOUND),
    )
    return session.exec(query.with_for_update() if lock else query).all()


def conversations_of(session: Session, *, phone: str | None = None) -> Sequence[Conversation]:
    """Conversations, newest first, optionally of one phone number."""
    query = select(Conversation).order_by(col(Conversation.created_at).desc())
    if phone is not None:
        query = query.where(Conversation.phone_e164 == phone)
    return session.exec(query.limit(200)).all()


def thread(
    session: Session, *, conversation_id: uuid.UUID, newest: int | None = None
) -> Thread | None:
    """One conversation with its messages and their status steps, oldest first: every
    message, or only the `newest` ones."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    query = select(Message).where(Message.conversation_id == conversation_id)
    if newest is None:
        messages = list(session.exec(query.order_by(col(Message.created_at), col(Message.id))))
    else:
        latest = query.order_by(col(Message.created_at).desc(), col(Message.id).desc())
        messages = list(reversed(session.exec(latest.limit(newest)).all()))
    history: dict[uuid.UUID, list[MessageStatus]] = {m.id: [] for m in messages}
    if messages:
        steps = session.exec(
            select(MessageStatus)
            .where(col(MessageStatus.message_id).in_([m.id for m in messages]))
            .order_by(col(MessageStatus.id))
        ).all()
        for step in steps:
            history[step.message_id].append(step)
    return Thread(conversation, messages, history)


def recent_messages(
    session: Session, *, conversation_id: uuid.UUID, before: datetime, limit: int = 6
) -> list[Message]:
    """The last `limit` texts of a conversation created before `before`, oldest first
    (cancelled and blocked outbound texts left out: the customer never saw them)."""
    rows = session.exec(
        select(Message)
        .where(Message.conversation_id == conversation_id, col(Message.created_at) < before)
        .where(col(Message.status).not_in(("cancelled", "blocked", "failed")))
        .order_by(col(Message.created_at).desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))

"""`GET /api/v1/messages/stream?phone=...`: the texts a number receives, as server-sent events.

`smsdesk chat` used to poll two routes every 0.3 s: 1,452 access-log lines for 35 texts, in
the terminal the README tells people to watch. It now opens this stream once (one log line)
and the server reads the database itself. Texts are processed in another process (the
embedded worker, or procrastinate workers), so no in-memory signal could say that one was
sent: each stream polls one cheap read-only query, like the console's live updates.

Events: `text` (an outbound text to the number once it is sent, queued, delivered, scheduled,
blocked or failed: JSON `{id, body, status, detail}`, each once) and `conversation` (the
conversation's status changed: JSON `{id, status}`). The texts already there come first.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from app.api.deps import ApiGrantDep, ApiKey, RuntimeDep
from app.compliance.parsing import parse_e164
from app.storage import reading
from app.storage.tables import Conversation, Message, MessageStatus

router = APIRouter(prefix="/api/v1", tags=["messages"], dependencies=[ApiKey])

STREAM_PATH = "/api/v1/messages/stream"
POLL_SECONDS = 0.3
MAX_STREAM_SECONDS = 30 * 60  # then the client opens a new one (and its key is checked again)
SHOWN = ("sent", "queued", "delivered", "scheduled", "blocked", "failed")
"""Statuses a text is reported at: it went out, or it will not go out now (with why)."""


def _event(name: str, data: dict[str, object]) -> ServerSentEvent:
    return ServerSentEvent(event=name, data=data)


class _Reader:
    """What one stream has reported so far, and the query for what is new."""

    def __init__(self, engine: Engine, phone: str, brands: frozenset[str] | None) -> None:
        self.engine, self.phone, self.brands = reading(engine), phone, brands
        self.reported: set[uuid.UUID] = set()
        self.statuses: dict[uuid.UUID, str] = {}
        self.first: list[ServerSentEvent] = []
        """What the first poll found (read while the request can still fail with a status)."""

    def poll(self) -> list[ServerSentEvent]:
        """Events for what changed since the last poll (read-only: never queues for a write)."""
        events: list[ServerSentEvent] = []
        # After the texts: a hand-off follows the text that caused it.
        changed: list[ServerSentEvent] = []
        with Session(self.engine) as session:
            query = select(Conversation).where(Conversation.phone_e164 == self.phone)
            if self.brands is not None:
                query = query.where(col(Conversation.brand).in_(list(self.brands)))
            conversations = session.exec(query).all()
            for conversation in conversations:
                if self.statuses.get(conversation.id) != conversation.status:
                    self.statuses[conversation.id] = conversation.status
                    changed.append(
                        _event(
                            "conversation",
                            {"id": str(conversation.id), "status": conversation.status},
                        )
                    )
            if not conversations:
                return changed
            texts = session.exec(
                select(Message)
                .where(
                    col(Message.conversation_id).in_([c.id for c in conversations]),
                    Message.direction == "outbound",
                    col(Message.status).in_(SHOWN),
                )
                .order_by(col(Message.created_at), col(Message.id))
            ).all()
            for text in texts:
                if text.id in self.reported:
                    continue
                self.reported.add(text.id)
                detail = None
                if text.status not in ("sent", "queued", "delivered"):
                    detail = session.exec(
                        select(MessageStatus.detail)
                        .where(MessageStatus.message_id == text.id)
                        .order_by(col(MessageStatus.id).desc())
                        .limit(1)
                    ).first()
                events.append(
                    _event(
                        "text",
                        {
                            "id": str(text.id),
                            "body": text.body,
                            "status": text.status,
                            "detail": detail,
                        },
                    )
                )
        return events + changed


def _reader(
    runtime: RuntimeDep, grant: ApiGrantDep, phone: str = Query(examples=["+12125550123"])
) -> _Reader:
    """The stream's reader, with what is there already read: a bad number or an unreachable
    database is answered with its status before the stream starts."""
    reader = _Reader(runtime.engine, parse_e164(phone), grant.brands)
    reader.first = reader.poll()
    return reader


@router.get(
    "/messages/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."}},
)
async def texts_stream(
    request: Request, reader: Annotated[_Reader, Depends(_reader)]
) -> AsyncIterator[ServerSentEvent]:
    """The texts this number receives from the key's brands, live, as server-sent events:
    `text` for each outbound text once it is sent or held (with why), `conversation` when a
    conversation's status changes (e.g. to `human`). The texts already there come first."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    yield ServerSentEvent(retry=2000)
    for event in reader.first:
        yield event
    while loop.time() - started < MAX_STREAM_SECONDS:
        await asyncio.sleep(POLL_SECONDS)
        if await request.is_disconnected():
            return
        for event in await run_in_threadpool(reader.poll):
            yield event

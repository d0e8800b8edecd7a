"""Live updates for the console's pages: a server-sent event stream per open page.

Texts are processed in another process (the embedded worker) or on other machines
(procrastinate), so no in-memory signal could tell this server that something changed.
Each stream instead polls cheap digests of what its page shows (`views.fingerprints`) once a
second and names the region that changed; htmx then fetches that region again (FastAPI's
`EventSourceResponse` frames the events and sends the keep-alives). A page links its stream
with the digests it was rendered at (`stream_url`): what changed before the stream's first
poll, or while it was disconnected, is named at once instead of never. Each poll also
checks the session again: a stream ends (`event: signed_out`) once its agent signs out, is
disabled or the session expires, instead of showing a revoked agent what changes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.api.deps import RuntimeDep
from app.console.auth import SESSION_COOKIE, find_session
from app.console.views import fingerprints, visible_conversation
from app.storage import reading

router = APIRouter(prefix="/console", include_in_schema=False)

POLL_SECONDS = 1.0
MAX_STREAM_SECONDS = 30 * 60  # the browser reconnects (and must show a valid session again)
SIGNED_OUT = ServerSentEvent(event="signed_out", raw_data="")
"""With an empty data line: an event without one is never dispatched to the page."""


def stream_url(session: Session, *, conversation_id: uuid.UUID | None = None) -> str:
    """The event stream of a page about to be rendered, with the digests of what it will show.

    Called before the page reads its data: a change after this is then either on the page and
    refreshed once more, or not on it and named by the stream's first poll (without them, a
    change between the render and that poll was never shown live)."""
    shown = fingerprints(session, conversation_id=conversation_id)
    query: dict[str, str] = {f"shown_{name}": digest for name, digest in shown.items()}
    if conversation_id is not None:
        query["conversation"] = str(conversation_id)
    return f"/console/events?{urlencode(query)}"


def _stream_token(
    request: Request, runtime: RuntimeDep, conversation: uuid.UUID | None = None
) -> str:
    """The session token of a signed-in agent who may see `conversation` (401 or 404 before
    the stream starts, while a status can still be answered)."""
    # A short session of its own: a request-scoped one would be held (and, on SQLite, the
    # write lock with it) for as long as the stream is open.
    token = request.cookies.get(SESSION_COOKIE)
    with Session(reading(runtime.engine)) as session:
        found = find_session(session, token=token) if token else None
        if token is None or found is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="sign in first")
        if conversation is not None and not visible_conversation(
            session, agent=found[1], conversation_id=conversation
        ):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such conversation")
    return token


@router.get("/events", response_class=EventSourceResponse)
async def events(
    request: Request,
    runtime: RuntimeDep,
    token: Annotated[str, Depends(_stream_token)],
    conversation: uuid.UUID | None = None,
    shown_queue: str | None = None,
    shown_conversation: str | None = None,
) -> AsyncIterator[ServerSentEvent]:
    """`event: queue` / `event: conversation` whenever that part of the page is stale:
    at once when it changed since the page showed it (`shown_*`, from `stream_url`)."""
    engine = runtime.engine

    def poll() -> dict[str, str] | None:
        # Read-only: on SQLite a poll never queues for the write lock webhooks need.
        with Session(reading(engine)) as session:
            if find_session(session, token=token) is None:
                return None  # signed out, disabled or expired since the stream opened
            return fingerprints(session, conversation_id=conversation)

    loop = asyncio.get_running_loop()
    started = loop.time()
    seen = await run_in_threadpool(poll)
    yield ServerSentEvent(retry=2000)
    if seen is None:
        yield SIGNED_OUT
        return
    shown = {"queue": shown_queue, "conversation": shown_conversation}
    for name, digest in seen.items():
        if shown.get(name) not in (None, digest):
            yield ServerSentEvent(event=name, raw_data=digest)
    while loop.time() - started < MAX_STREAM_SECONDS:
        await asyncio.sleep(POLL_SECONDS)
        if await request.is_disconnected():
            return
        current = await run_in_threadpool(poll)
        if current is None:
            yield SIGNED_OUT
            return
        for name, digest in current.items():
            if seen.get(name) != digest:
                yield ServerSentEvent(event=name, raw_data=digest)
        seen = current

"""Live updates for the console's pages: a server-sent event stream per open page.

Texts are processed in another process (the embedded worker) or on other machines
(procrastinate), so no in-memory signal could tell this server that something changed.
Each stream instead polls cheap digests of what its page shows (`views.fingerprints`) once a
second and names the region that changed; htmx then fetches that region again. Each poll also
checks the session again: a stream ends (`event: signed_out`) once its agent signs out, is
disabled or the session expires, instead of showing a revoked agent what changes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.api.deps import RuntimeDep
from app.console.auth import SESSION_COOKIE, find_session
from app.console.views import fingerprints, visible_conversation
from app.storage import reading

router = APIRouter(prefix="/console", include_in_schema=False)

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 30 * 60  # the browser reconnects (and must show a valid session again)
SIGNED_OUT = "event: signed_out\ndata: \n\n"


@router.get("/events")
async def events(
    request: Request, runtime: RuntimeDep, conversation: uuid.UUID | None = None
) -> StreamingResponse:
    """`event: queue` / `event: conversation` whenever that part of the page is stale."""
    engine = runtime.engine

    def authorise() -> uuid.UUID:
        # A short session of its own: a request-scoped one would be held (and, on SQLite,
        # the write lock with it) for as long as the stream is open.
        token = request.cookies.get(SESSION_COOKIE)
        with Session(reading(engine)) as session:
            found = find_session(session, token=token) if token else None
            if found is None:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="sign in first")
            agent = found[1]
            if conversation is not None and not visible_conversation(
                session, agent=agent, conversation_id=conversation
            ):
                raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such conversation")
            return agent.id

    await run_in_threadpool(authorise)

    token = request.cookies.get(SESSION_COOKIE) or ""

    def poll() -> dict[str, str] | None:
        # Read-only: on SQLite a poll never queues for the write lock webhooks need.
        with Session(reading(engine)) as session:
            if find_session(session, token=token) is None:
                return None  # signed out, disabled or expired since the stream opened
            return fingerprints(session, conversation_id=conversation)

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        started = last_sent = loop.time()
        seen = await run_in_threadpool(poll)
        yield "retry: 2000\n\n"
        if seen is None:
            yield SIGNED_OUT
            return
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
                    last_sent = loop.time()
                    yield f"event: {name}\ndata: {digest}\n\n"
            seen = current
            if loop.time() - last_sent > HEARTBEAT_SECONDS:
                last_sent = loop.time()
                yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

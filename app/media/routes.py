"""Serving pictures: to signed-in agents of the conversation's brand, and to the provider
through a signed, expiring link (an agent's attachment going out over Twilio)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import FileResponse
from sqlmodel import Session

from app.api.deps import RuntimeDep
from app.console.deps import ConsoleContextDep, DbSession
from app.console.views import visible_conversation
from app.media.links import valid
from app.media.store import path_of
from app.runtime import Runtime
from app.storage.tables import Agent, Message, MessageMedia

console_router = APIRouter(prefix="/console", include_in_schema=False)
public_router = APIRouter(include_in_schema=False)


def _file(runtime: Runtime, media: MessageMedia | None, *, cache: str) -> FileResponse:
    path = path_of(runtime.settings.media_path, media) if media is not None else None
    if media is None or path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such picture")
    # The stored type was read from the bytes (app/media/store.py), and nosniff keeps the
    # browser from guessing another: a picture is only ever shown as a picture.
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, media_type=media.content_type, headers=headers)


@console_router.get("/media/{media_id}")
def console_media(
    media_id: uuid.UUID, runtime: RuntimeDep, console: ConsoleContextDep, db: DbSession
) -> FileResponse:
    """A picture of a conversation of the agent's brands (401 signed out, 404 otherwise)."""
    media = db.get(MessageMedia, media_id)
    if media is not None and not _visible(db, console.agent, media):
        media = None  # another brand's picture is as absent as a missing one
    return _file(runtime, media, cache="private, max-age=3600")


def _visible(db: Session, agent: Agent, media: MessageMedia) -> bool:
    message = db.get(Message, media.message_id)
    if message is None:
        return False
    conversation = visible_conversation(db, agent=agent, conversation_id=message.conversation_id)
    return conversation is not None


@public_router.get("/media/{media_id}")
def public_media(
    media_id: uuid.UUID,
    runtime: RuntimeDep,
    db: DbSession,
    expires: Annotated[int, Query()],
    sig: Annotated[str, Query(max_length=64)],
) -> FileResponse:
    """An attachment for the SMS provider: only with a valid, unexpired signature (404 else)."""
    if not valid(runtime.settings, media_id, expires=expires, sig=sig):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such picture")
    return _file(runtime, db.get(MessageMedia, media_id), cache="private, max-age=600")

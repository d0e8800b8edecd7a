"""Integrator API: texts in from any provider, notifications out, and the read routes.

A key reaches every brand or only the brands its `SMSDESK_API_KEYS` entry names: the routes
that read or write this instance's texts need a key for its brand (403 otherwise), and the
read routes show only the conversations of the key's brands.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app import clock
from app.api.deps import ApiGrantDep, ApiKey, BrandApiKey, RuntimeDep
from app.api.fields import Instant
from app.channels.base import InboundSms
from app.compliance.model import Category, GateRequest
from app.compliance.parsing import parse_e164
from app.compliance.segments import MAX_TEXT_CHARS
from app.media.store import media_of
from app.outbound.send import queue_outbound
from app.pipeline.ingress import accept_inbound
from app.storage import messages as data
from app.storage.paging import conversations_page
from app.storage.tables import Message, MessageMedia, MessageStatus

router = APIRouter(prefix="/api/v1", tags=["messages"], dependencies=[ApiKey])

MAX_PAGE = 200
"""The most conversations one page holds (`limit`); follow the `Link: rel="next"` header."""


class InboundIn(BaseModel):
    """A text a customer sent, reported by any provider."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    provider: str = Field(default="api", min_length=1, max_length=16)
    provider_message_id: str = Field(min_length=1, max_length=64)
    from_: str = Field(alias="from", examples=["+12125550123"])
    to: str = Field(max_length=20, examples=["+18005550199"])
    body: str = Field(default="", max_length=MAX_TEXT_CHARS)
    received_at: Instant | None = None


class Accepted(BaseModel):
    """The text is stored and will be processed (again: a retry of a stored text)."""

    message_id: uuid.UUID
    duplicate: bool


class OutboundIn(BaseModel):
    """A notification or campaign text to send through the compliance gate."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(examples=["+12125550123"])
    body: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    category: Category
    urgent: bool = False
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=100)


class OutboundAccepted(BaseModel):
    """The text is queued for `send_at` (now, or the next time the law allows)."""

    message_id: uuid.UUID
    status: str
    send_at: datetime


@router.post(
    "/messages/inbound",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[BrandApiKey],
)
def inbound(payload: InboundIn, runtime: RuntimeDep) -> Accepted:
    """Store an inbound text for processing; idempotent on (provider, provider_message_id)."""
    sms = InboundSms(
        provider=payload.provider,
        provider_message_id=payload.provider_message_id,
        from_number=payload.from_,
        to_number=payload.to,
        body=payload.body,
        received_at=payload.received_at or clock.now(),
    )
    accepted = accept_inbound(runtime.engine, sms, brand=runtime.settings.brand_id)
    runtime.jobs.notify()
    return Accepted(message_id=accepted.message_id, duplicate=not accepted.created)


@router.post(
    "/messages/outbound",
    response_model=OutboundAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "The compliance gate refuses this text (rule in the body)."}},
    dependencies=[BrandApiKey],
)
def outbound(payload: OutboundIn, runtime: RuntimeDep) -> OutboundAccepted:
    """Queue a text if the gate allows it now or later; 409 with the rule when it never may."""
    phone = parse_e164(payload.to)
    request = GateRequest(phone, clock.now(), payload.category, urgent=payload.urgent)
    decision = runtime.compliance.check_outbound(request, body=payload.body)
    if not decision.allowed and decision.next_allowed_utc is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail={"rule": decision.rule, "reasons": decision.reasons},
        )
    key = payload.idempotency_key or f"api:{uuid.uuid4()}"
    with Session(runtime.engine, expire_on_commit=False) as session:
        conversation = data.get_or_create_conversation(
            session, brand=runtime.settings.brand_id, phone=phone
        )
        message = queue_outbound(
            session,
            conversation=conversation,
            body=payload.body,
            category=payload.category,
            purpose="api",
            idempotency_key=key,
            provider=runtime.sender.name,
            urgent=payload.urgent,
        )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail={"rule": "duplicate_idempotency_key", "reasons": [key]},
            ) from None
    runtime.jobs.notify()
    send_at = clock.now()
    if not decision.allowed and decision.next_allowed_utc is not None:
        send_at = datetime.fromisoformat(decision.next_allowed_utc.replace("Z", "+00:00"))
    return OutboundAccepted(message_id=message.id, status="queued", send_at=send_at)


class StatusStep(BaseModel):
    """One step of a message's life."""

    status: str
    at: datetime
    detail: str | None
    error_code: str | None


class MediaOut(BaseModel):
    """A picture of an MMS (the bytes are shown to agents in the console)."""

    id: uuid.UUID
    position: int
    content_type: str
    state: str
    """pending (being fetched) | fetched | failed (with `failure`)."""
    size: int | None
    sha256: str | None
    failure: str | None


class MessageOut(BaseModel):
    """A message in a conversation."""

    id: uuid.UUID
    direction: str
    body: str
    category: str | None
    purpose: str | None
    status: str
    segments: int | None
    encoding: str | None
    provider: str
    provider_message_id: str | None
    created_at: datetime
    history: list[StatusStep]
    media: list[MediaOut] = []


class ConversationOut(BaseModel):
    """A customer's thread with the brand."""

    id: uuid.UUID
    brand: str
    phone: str
    status: str
    created_at: datetime
    last_inbound_at: datetime | None


@router.get(
    "/conversations",
    response_model=list[ConversationOut],
    responses={200: {"description": 'More pages: a `Link: <...>; rel="next"` header.'}},
)
def conversations(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    grant: ApiGrantDep,
    phone: str | None = Query(default=None, examples=["+12125550123"]),
    limit: int = Query(default=50, ge=1, le=MAX_PAGE, description="Conversations per page."),
    cursor: str | None = Query(
        default=None, max_length=200, description="Where the previous page ended (its link)."
    ),
) -> list[ConversationOut]:
    """Conversations of the key's brands, newest first, optionally of one number, a page at a
    time: the next page's URL is in the `Link` header (`rel="next"`), absent on the last."""
    with Session(runtime.engine) as session:
        found, next_cursor = conversations_page(
            session,
            limit=limit,
            phone=parse_e164(phone) if phone else None,
            brands=grant.brands,
            after=cursor,
        )
        page = [
            ConversationOut(
                id=c.id,
                brand=c.brand,
                phone=c.phone_e164,
                status=c.status,
                created_at=c.created_at,
                last_inbound_at=c.last_inbound_at,
            )
            for c in found
        ]
    if next_cursor is not None:
        query = {"limit": str(limit), "cursor": next_cursor} | ({"phone": phone} if phone else {})
        # A relative link: an absolute one would echo whatever Host the client sent.
        response.headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    return page


@router.get("/conversations/{conversation_id}/messages", response_model=list[MessageOut])
def conversation_messages(
    conversation_id: uuid.UUID, runtime: RuntimeDep, grant: ApiGrantDep
) -> list[MessageOut]:
    """Every message of a conversation, both directions, with status history."""
    with Session(runtime.engine) as session:
        found = data.thread(session, conversation_id=conversation_id)
        if found is None or not grant.allows(found.conversation.brand):
            # Another brand's conversation is reported as absent, not as forbidden.
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such conversation")
        pictures = media_of(session, [m.id for m in found.messages])
        return [
            _message_out(m, found.history[m.id], pictures.get(m.id, [])) for m in found.messages
        ]


def _message_out(
    message: Message, history: list[MessageStatus], media: list[MessageMedia]
) -> MessageOut:
    return MessageOut(
        id=message.id,
        direction=message.direction,
        body=message.body,
        category=message.category,
        purpose=message.purpose,
        status=message.status,
        segments=message.segments,
        encoding=message.encoding,
        provider=message.provider,
        provider_message_id=message.provider_message_id,
        created_at=message.created_at,
        history=[
            StatusStep(status=s.status, at=s.at, detail=s.detail, error_code=s.error_code)
            for s in history
        ],
        media=[
            MediaOut(
                id=m.id,
                position=m.position,
                content_type=m.content_type,
                state=m.state,
                size=m.size,
                sha256=m.sha256,
                failure=m.failure,
            )
            for m in media
        ],
    )


class ConsentEventOut(BaseModel):
    """One consent ledger event."""

    event_type: str
    scope: str | None
    category: str | None
    channel: str
    source: str | None
    rule: str | None
    keyword: str | None
    effective_at: datetime
    ruleset_version: str
    event_id: uuid.UUID
    provider_message_id: str | None
    received_at: datetime | None
    processed_at: datetime
    actor: str
    evidence: dict[str, Any]
    """For a consent capture (REC-1): the disclosure text and version, the "not a condition
    of purchase" text, form URL and checkbox, IP and user agent, request and confirmation
    times."""


class ConsentOut(BaseModel):
    """A number's consent: current state and the ledger behind it."""

    phone: str
    status: str
    scope: str | None
    marketing_consent: bool
    events: list[ConsentEventOut]


@router.get("/contacts/{phone}/consent", response_model=ConsentOut, dependencies=[BrandApiKey])
def consent(phone: str, runtime: RuntimeDep) -> ConsentOut:
    """Consent state and every ledger event of a number."""
    phone = parse_e164(phone)
    ledger = runtime.compliance.ledger
    with ledger.session() as session:
        events = ledger.events(session, brand=runtime.settings.brand_id, phone=phone)
        current = ledger.consent(session, brand=runtime.settings.brand_id, phone=phone)
        return ConsentOut(
            phone=phone,
            status=current.state.status,
            scope=current.state.scope,
            marketing_consent=current.marketing_consent,
            events=[ConsentEventOut.model_validate(e, from_attributes=True) for e in events],
        )

"""Signups from the business's forms and apps: double opt-in by default (issue 14, SPEC §11).

`POST /api/v1/signups` stores what the customer was shown and sends "Reply YES to confirm";
consent is recorded only when the YES arrives (or at once with `SMSDESK_SIGNUP_MODE=single`).
`GET /api/v1/signups/{id}` says where a signup stands.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import ApiGrantDep, ApiKey, BrandApiKey, RuntimeDep
from app.api.fields import Instant
from app.compliance.parsing import parse_e164
from app.errors import InvalidInput
from app.signups import SignupRefused, SignupRequest, Signups, SignupView
from app.signups.texts import SignupCategory

router = APIRouter(prefix="/api/v1", tags=["signups"], dependencies=[ApiKey])


class SourceIn(BaseModel):
    """Where the customer gave consent."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["web", "api", "paper", "voice"]
    form_url: str | None = Field(default=None, max_length=180, examples=["https://acme.com/join"])
    checkbox_id: str | None = Field(default=None, max_length=60, examples=["sms-consent"])
    reference: str | None = Field(default=None, max_length=120)
    """Paper form scan, call recording or script id, app screen."""


class DisclosureIn(BaseModel):
    """Exactly what the customer was shown (REC-1)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000)
    version: str = Field(min_length=1, max_length=64)
    not_a_condition_of_purchase: str | None = Field(default=None, max_length=500)
    """The "consent is not a condition of purchase" wording; required for marketing."""


class SignupIn(BaseModel):
    """A customer's signup for texts."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=32, examples=["+12125550123"])
    brand: str | None = Field(default=None, max_length=64)
    """The brand signed up to (default: this instance's `SMSDESK_BRAND_ID`)."""
    categories: list[SignupCategory] = Field(min_length=1, max_length=2)
    source: SourceIn
    disclosure: DisclosureIn
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=500)
    submitted_at: Instant | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=100)


class SignupOut(BaseModel):
    """A signup and where it stands."""

    id: uuid.UUID
    status: Literal["pending", "confirmed", "cancelled", "expired"]
    mode: Literal["double", "single"]
    brand: str
    phone: str
    categories: list[str]
    channel: str
    source: str
    requested_at: datetime
    expires_at: datetime | None
    request_sent: bool
    """Whether the "Reply YES" text was queued (the gate may still hold it for quiet hours)."""
    request_note: str | None
    """Why it was not sent, e.g. the number has opted out: the customer must text YES."""
    confirmed_at: datetime | None
    consent_event_id: uuid.UUID | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    duplicate: bool


def _out(view: SignupView) -> SignupOut:
    return SignupOut(
        id=view.id,
        status=view.status,
        mode=view.mode,
        brand=view.brand,
        phone=view.phone,
        categories=list(view.categories),
        channel=view.channel,
        source=view.source,
        requested_at=view.requested_at,
        expires_at=view.expires_at,
        request_sent=view.request_sent,
        request_note=view.request_note,
        confirmed_at=view.confirmed_at,
        consent_event_id=view.consent_event_id,
        cancelled_at=view.cancelled_at,
        cancel_reason=view.cancel_reason,
        duplicate=view.duplicate,
    )


def _signups(runtime: RuntimeDep) -> Signups:
    return Signups(
        runtime.engine, runtime.compliance, runtime.settings, provider=runtime.sender.name
    )


@router.post(
    "/signups",
    response_model=SignupOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "The same signup was posted before: nothing new was sent."},
        429: {"description": "This number already got the most signup requests for today."},
    },
    dependencies=[BrandApiKey],
)
def create_signup(payload: SignupIn, runtime: RuntimeDep, response: Response) -> SignupOut:
    """Take a signup: double opt-in sends "Reply YES to confirm" and records consent only on
    the YES; single opt-in records it now and sends the opt-in confirmation."""
    brand = payload.brand or runtime.settings.brand_id
    if brand != runtime.settings.brand_id:
        raise InvalidInput(
            f"brand: {brand!r} is not this instance's brand ({runtime.settings.brand_id!r})"
        )
    request = SignupRequest(
        phone=parse_e164(payload.phone),
        brand=brand,
        categories=tuple(payload.categories),
        channel=payload.source.channel,
        disclosure_text=payload.disclosure.text,
        disclosure_version=payload.disclosure.version,
        not_a_condition_of_purchase=payload.disclosure.not_a_condition_of_purchase,
        form_url=payload.source.form_url,
        checkbox_id=payload.source.checkbox_id,
        reference=payload.source.reference,
        ip=payload.ip,
        user_agent=payload.user_agent,
        submitted_at=payload.submitted_at,
        idempotency_key=payload.idempotency_key,
    )
    try:
        view = _signups(runtime).create(request)
    except SignupRefused as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail=str(exc)) from None
    if view.duplicate:
        response.status_code = status.HTTP_200_OK
    else:
        runtime.jobs.notify()
    return _out(view)


@router.get("/signups/{signup_id}", response_model=SignupOut)
def get_signup(signup_id: uuid.UUID, runtime: RuntimeDep, grant: ApiGrantDep) -> SignupOut:
    """A signup's status: pending, confirmed, cancelled (a STOP, or superseded) or expired."""
    view = _signups(runtime).get(signup_id)
    if view is None or not grant.allows(view.brand):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such signup")
    return _out(view)

"""Compliance routes: ask what an inbound text means, or whether a send is allowed now.

Both are dry runs: they read the consent ledger but change nothing. Messages that really
arrive or leave go through the messaging routes, which record their decisions. They reveal a
number's consent state, so they need an API key like every other integrator route.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app import clock
from app.api.deps import BrandApiKey, ComplianceDep
from app.api.fields import Instant
from app.compliance.model import Category, GateDecision, GateRequest, InboundDecision, Status
from app.compliance.segments import MAX_TEXT_CHARS

# Dry runs still read the consent ledger: a number's state is not for strangers.
router = APIRouter(prefix="/api/v1/compliance", tags=["compliance"], dependencies=[BrandApiKey])


class ClassifyRequest(BaseModel):
    """An inbound text to classify."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    text: str = Field(max_length=MAX_TEXT_CHARS, description="The message body, as received.")
    from_: str = Field(alias="from", description="Sender, E.164.", examples=["+12125550123"])
    state: Status | None = Field(
        default=None, description="Consent state to assume; default: the ledger's."
    )
    received_at: Instant | None = Field(default=None, description="Default: now.")


class GateRequestBody(BaseModel):
    """An outbound message to check."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(description="Recipient, E.164.", examples=["+12125550123"])
    category: Category
    send_at: Instant | None = Field(default=None, description="Default: now.")
    urgent: bool = False
    last_inbound_at: Instant | None = None
    known_state: str | None = Field(default=None, min_length=2, max_length=2)
    verified_time_zone: str | None = None
    body: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    first_message: bool = False
    state: Literal["ledger"] = "ledger"


@router.post("/classify", response_model=InboundDecision)
def classify(request: ClassifyRequest, compliance: ComplianceDep) -> InboundDecision:
    """What this text would mean for consent (SPEC §6), without recording it."""
    return compliance.preview_inbound(
        phone=request.from_,
        body=request.text,
        received_at=request.received_at or clock.now(),
        state=request.state,
    )


@router.post("/gate", response_model=GateDecision)
def gate(request: GateRequestBody, compliance: ComplianceDep) -> GateDecision:
    """Whether this message may be sent at `send_at`, and if not the next allowed time."""
    gate_request = GateRequest(
        to=request.to,
        send_at=request.send_at or clock.now(),
        category=request.category,
        urgent=request.urgent,
        last_inbound_at=request.last_inbound_at,
        known_state=request.known_state,
        verified_time_zone=request.verified_time_zone,
    )
    return compliance.check_outbound(
        gate_request, body=request.body, first_message=request.first_message, record=False
    )

"""Integrator API: start a flow for one customer (`POST /api/v1/flows/{flow}/start`).

400 for what the caller can fix (unknown flow, a missing variable, a bad number), 409 with the
typed refusal when consent forbids the flow (opted out, no marketing consent). The same
`idempotency_key` twice starts one run: the second answer is the first run, `duplicate: true`.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.api.deps import ApiKey, BrandApiKey, RuntimeDep
from app.flows.runs import FlowStart, FlowStarted, start_flow

router = APIRouter(prefix="/api/v1", tags=["flows"], dependencies=[ApiKey])

_BAD_INPUT = {"unknown_flow", "missing_variable", "bad_phone"}


class FlowStartIn(BaseModel):
    """Who gets the flow, and the values of its variables."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(examples=["+12125550123"])
    variables: dict[str, str] = Field(default_factory=dict, examples=[{"name": "Ana"}])
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=100)
    campaign_id: uuid.UUID | None = None


class FlowStartedOut(BaseModel):
    """The run and its first text, queued for the send-time gate."""

    run_id: uuid.UUID
    message_id: uuid.UUID | None
    duplicate: bool


@router.post(
    "/flows/{flow}/start",
    response_model=FlowStartedOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        400: {"description": "Unknown flow, a missing variable or a number that is not E.164."},
        409: {"description": "Consent forbids it: `opted_out` or `no_marketing_consent`."},
    },
    dependencies=[BrandApiKey],
)
def start(flow: str, payload: FlowStartIn, runtime: RuntimeDep) -> FlowStartedOut:
    """Start `flow` for one customer; its first text goes through the send-time gate."""
    assert runtime.flows is not None
    request = FlowStart(
        flow=flow,
        brand=runtime.settings.brand_id,
        phone=payload.to,
        variables=payload.variables,
        source="api",
        idempotency_key=f"api:{payload.idempotency_key or uuid.uuid4()}",
        campaign_id=payload.campaign_id,
    )
    with Session(runtime.engine, expire_on_commit=False) as session:
        started = start_flow(session, request, flows=runtime.flows)
        try:
            session.commit()
        except IntegrityError:
            # The same key from a parallel request won the race: answer with its run.
            session.rollback()
            started = start_flow(session, request, flows=runtime.flows)
    _raise_refusal(started)
    runtime.jobs.notify()
    assert started.run_id is not None
    return FlowStartedOut(
        run_id=started.run_id, message_id=started.message_id, duplicate=started.duplicate
    )


def _raise_refusal(started: FlowStarted) -> None:
    if started.refusal is None:
        return
    code = started.refusal.code
    raise HTTPException(
        status.HTTP_400_BAD_REQUEST if code in _BAD_INPUT else status.HTTP_409_CONFLICT,
        detail={"message": started.refusal.detail, "refusal": code},
    )

"""Bulk sends over the API: start one flow for many recipients (CSV or JSON), follow progress.

`POST /api/v1/flows/{flow}/campaigns` takes `text/csv` (header `phone,<variables...>`) or a JSON
list of objects (`[{"phone": ..., "<variable>": ...}]`); any line with a problem answers 400 with
every problem and its line, and nothing is sent. `?dry_run=true` answers who would be sent now,
later (quiet hours, caps) or skipped, and why, sending nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.api.deps import ApiKey, BrandApiKey, RuntimeDep
from app.campaigns.contract import FlowInfo
from app.campaigns.recipients import RecipientErrors, RecipientList, read_csv, read_json
from app.campaigns.service import (
    CampaignProgress,
    DryRunReport,
    campaign_progress,
    create_campaign,
    dry_run,
)

router = APIRouter(prefix="/api/v1", tags=["campaigns"], dependencies=[ApiKey, BrandApiKey])


class ProblemOut(BaseModel):
    """One line's problem."""

    line: int
    kind: str
    message: str


class DryRunEntryOut(BaseModel):
    """What would happen to one line."""

    line: int
    phone: str
    outcome: str
    reason: str | None
    detail: str
    send_at: str | None


class DryRunOut(BaseModel):
    """A dry run: counts per outcome (`send`, `later`, `skip:<reason>`) and every line."""

    flow: str
    category: str
    checked_at: datetime
    counts: dict[str, int]
    entries: list[DryRunEntryOut]


class CampaignOut(BaseModel):
    """A campaign's progress: recipients per state (pending, started, skipped, failed)."""

    id: uuid.UUID
    name: str
    flow: str
    status: str
    total: int
    states: dict[str, int]
    skipped: dict[str, int]
    failed: dict[str, int]
    texts: dict[str, int]
    """The first texts per message status (queued, scheduled, sending, sent, delivered, ...)."""
    created_at: datetime | None
    finished_at: datetime | None


@router.post(
    "/flows/{flow}/campaigns",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CampaignOut | DryRunOut,
    responses={
        200: {"description": "The dry run's report (`dry_run=true`)."},
        400: {"description": "Problems, each with its line; nothing was sent."},
        404: {"description": "No such flow."},
    },
)
async def start_campaign(
    flow: str,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    name: str | None = Query(default=None, max_length=200),
    dry_run_only: bool = Query(default=False, alias="dry_run"),
) -> CampaignOut | DryRunOut:
    """Send a flow to every recipient of a CSV or JSON list (or only report, with `dry_run`)."""
    info = runtime.campaign_flows.catalog(flow) if runtime.campaign_flows else None
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no flow named {flow!r:.80}")
    recipients = _recipients(await request.body(), request.headers.get("content-type", ""), info)
    if dry_run_only:
        report = await run_in_threadpool(
            dry_run,
            runtime.compliance,
            flow=info,
            recipients=recipients,
            brand=runtime.settings.brand_id,
        )
        response.status_code = status.HTTP_200_OK
        return _dry_run_out(report)
    if recipients.problems:
        raise _bad_lines(RecipientErrors("recipients", recipients.problems))
    campaign = await run_in_threadpool(
        create_campaign,
        runtime.engine,
        flow=info,
        recipients=recipients,
        brand=runtime.settings.brand_id,
        name=name,
        source="api",
    )
    runtime.jobs.notify()
    progress = await run_in_threadpool(campaign_progress, runtime.engine, campaign.id)
    assert progress is not None
    return _progress_out(progress)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: uuid.UUID, runtime: RuntimeDep) -> CampaignOut:
    """A campaign's progress."""
    progress = campaign_progress(runtime.engine, campaign_id)
    if progress is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such campaign")
    return _progress_out(progress)


def _recipients(body: bytes, content_type: str, info: FlowInfo) -> RecipientList:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="the body is not UTF-8") from None
    if "json" not in content_type:
        return read_csv(text, info)
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        detail = f"the body is not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=detail) from None
    if isinstance(items, dict):
        items = items.get("recipients")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        detail = 'expected a JSON list of objects such as [{"phone": "+12125550123", ...}]'
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=detail)
    return read_json(items, info)


def _bad_lines(error: RecipientErrors) -> HTTPException:
    problems = [ProblemOut(line=p.line, kind=p.kind, message=p.message) for p in error.problems]
    detail = {
        "message": str(error),
        "code": error.code,
        "problems": [p.model_dump() for p in problems],
    }
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail=detail)


def _dry_run_out(report: DryRunReport) -> DryRunOut:
    return DryRunOut(
        flow=report.flow,
        category=report.category,
        checked_at=report.checked_at,
        counts=report.counts(),
        entries=[DryRunEntryOut(**vars(entry)) for entry in report.entries],
    )


def _progress_out(progress: CampaignProgress) -> CampaignOut:
    return CampaignOut(
        id=progress.id,
        name=progress.name,
        flow=progress.flow,
        status=progress.status,
        total=progress.total,
        states=progress.states,
        skipped=progress.skipped,
        failed=progress.failed,
        texts=progress.texts,
        created_at=progress.created_at,
        finished_at=progress.finished_at,
    )

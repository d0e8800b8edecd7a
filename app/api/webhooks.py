"""Twilio webhooks: verify, store, then acknowledge; processing happens after the answer.

Never 200 for a text that was not stored: a failed write answers 503 and Twilio retries.
Inbound texts are stored by one group-commit writer (`ingress_batch`): a burst of webhooks
takes the database's write lock once per batch, not once per request.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from fastapi import APIRouter, HTTPException, Request, Response, status
from starlette.datastructures import FormData

from app import clock
from app.api.deps import RuntimeDep
from app.channels.twilio import (
    PROVIDER,
    parse_inbound,
    parse_status,
    verify_signature,
    webhook_url,
)
from app.errors import InvalidInput
from app.outbound.send import apply_delivery_status
from app.pipeline.ingress_batch import InboundWriter
from app.runtime import Runtime

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_SIGNED: dict[int | str, dict[str, Any]] = {
    403: {"description": "Missing or wrong X-Twilio-Signature."},
    400: {"description": "Malformed fields."},
    413: {"description": "Body larger than SMSDESK_MAX_WEBHOOK_BYTES."},
    503: {"description": "The database cannot take the write; Twilio will retry."},
}


_T = TypeVar("_T")
_THREADS: RunVar[CapacityLimiter] = RunVar("smsdesk_webhook_threads")
WEBHOOK_THREADS = 16
"""Threads kept for webhooks alone: a flood of console or API requests can fill the shared
threadpool, and an acknowledgement must never queue behind them (Twilio gives up at 15 s)."""


async def _in_webhook_thread(function: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    try:
        limiter = _THREADS.get()
    except LookupError:  # one limiter per event loop (tests run several)
        limiter = CapacityLimiter(WEBHOOK_THREADS)
        _THREADS.set(limiter)
    return await anyio.to_thread.run_sync(partial(function, *args, **kwargs), limiter=limiter)


async def _signed_form(request: Request, runtime: Runtime) -> FormData:
    limit = runtime.settings.max_webhook_bytes
    declared = request.headers.get("content-length", "")
    if (declared.isdigit() and int(declared) > limit) or len(await request.body()) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="body too large")
    form = await request.form()
    url = webhook_url(runtime.settings.public_base_url, request.url.path, request.url.query)
    if not verify_signature(
        auth_token=runtime.settings.twilio_auth_token.get_secret_value(),
        url=url,
        params=form,  # type: ignore[arg-type]
        signature=request.headers.get("X-Twilio-Signature"),
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="invalid Twilio signature")
    return form


def _bad_request(exc: InvalidInput) -> HTTPException:
    return HTTPException(
        status.HTTP_400_BAD_REQUEST, detail={"message": str(exc), "code": exc.code}
    )


@router.post("/sms", response_class=Response, responses=_SIGNED)
async def inbound_sms(request: Request, runtime: RuntimeDep) -> Response:
    """An inbound SMS/MMS: answered with empty TwiML once it is durably stored."""
    form = await _signed_form(request, runtime)
    account = runtime.settings.twilio_account_sid or None
    try:
        sms = parse_inbound(form, received_at=clock.now(), account_sid=account)  # type: ignore[arg-type]
        await _inbound_writer(request, runtime).accept(sms)
    except InvalidInput as exc:
        raise _bad_request(exc) from None
    return Response(EMPTY_TWIML, media_type="text/xml")


def _inbound_writer(request: Request, runtime: Runtime) -> InboundWriter:
    """The app's group-commit writer of inbound texts (made on first use, on the event loop)."""
    writer: InboundWriter | None = getattr(request.app.state, "inbound_writer", None)
    if writer is None or writer.engine is not runtime.engine:  # an app started again (tests)
        writer = InboundWriter(
            runtime.engine, brand=runtime.settings.brand_id, on_commit=runtime.jobs.notify
        )
        request.app.state.inbound_writer = writer
    return writer


@router.post("/status", response_class=Response, responses=_SIGNED)
async def delivery_status(request: Request, runtime: RuntimeDep) -> Response:
    """A delivery status callback for one of our messages."""
    form = await _signed_form(request, runtime)
    try:
        update = parse_status(form)  # type: ignore[arg-type]
    except InvalidInput as exc:
        raise _bad_request(exc) from None
    await _in_webhook_thread(
        apply_delivery_status,
        runtime.engine,
        runtime.compliance,
        provider=PROVIDER,
        provider_message_id=update.provider_message_id,
        status=update.status,
        error_code=update.error_code,
    )
    return Response(EMPTY_TWIML, media_type="text/xml")

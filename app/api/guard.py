"""The front door: who may send a body, and how big, decided before any route reads a byte.

FastAPI reads and parses a request's whole body before it runs any dependency, the API key
check included: without this guard, a stranger's 300 MB JSON was parsed before its 401, and a
400 MB chunked upload was held in memory before its 413. Pure ASGI, outermost in the app:

- `/api/v1/...` without a valid integrator key is answered 401 at once, body unread.
- A state-changing console request without a valid session reaches its route with the body
  withheld: the route's own session check answers it as always (401, or the sign-in page),
  never a parse error first.
- A declared Content-Length over the route's limit is answered 413 at once; every body is
  also counted as it arrives (chunked ones included) by Starlette's
  `RequestBodyLimitMiddleware`: past the limit the route's read fails and the app answers
  413 without buffering the rest. Twilio webhooks must be read whole to check their
  signature, so the limit is all that guards them. The two routes that take a picture (an
  agent's reply, the simulator's text) allow SMSDESK_MEDIA_MAX_BYTES more.
"""

from __future__ import annotations

import asyncio
import re

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.deps import API_KEY_REQUIRED, known_api_key
from app.config import Settings
from app.console.auth import SESSION_COOKIE
from app.console.deps import signed_in

_API_PREFIX = "/api/v1/"
_WEBHOOK_PREFIX = "/webhooks/"
_CONSOLE_PREFIX = "/console/"
_CONSOLE_OPEN = frozenset({"/console/login"})
"""Console routes that take a body from someone not signed in yet."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BODY_HEADERS = frozenset({b"content-length", b"content-type", b"transfer-encoding"})
_UPLOADS = re.compile(r"/console/conversations/[^/]+/send|/simulator/send")
"""Routes that take a picture: their limit is SMSDESK_MEDIA_MAX_BYTES plus room for the form."""
_FORM_ROOM = 65_536
_UNQUEUED = frozenset({"/healthz", "/console/events", "/api/v1/messages/stream"})
"""Never queued: the health check, and live-update streams (open for minutes)."""


def _bearer_token(headers: Headers) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _unauthorized() -> JSONResponse:
    # The same body as the app's HTTPException handler gives every other 401.
    return JSONResponse(
        {"error": {"code": "unauthorized", "message": API_KEY_REQUIRED}},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _too_large(limit: int) -> JSONResponse:
    message = f"the request body is larger than {limit} bytes"
    return JSONResponse({"error": {"code": "too_large", "message": message}}, status_code=413)


def _declared_length(headers: Headers) -> int | None:
    declared = headers.get("content-length", "")
    return int(declared) if declared.isdigit() else None


def _without_body(scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
    """The request as if it had no body; the client's bytes are never read."""
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _BODY_HEADERS]
    sent = False

    async def empty() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()  # only ever http.disconnect from here on

    return {**scope, "headers": headers}, empty


class RequestGuard:
    """Authentication before parsing and per-route body limits enforced while streaming."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.webhook_limited = RequestBodyLimitMiddleware(app, settings.max_webhook_bytes)
        self.limited = RequestBodyLimitMiddleware(app, settings.max_body_bytes)
        self.upload_limited = RequestBodyLimitMiddleware(
            app, max(settings.max_body_bytes, settings.media_max_bytes + _FORM_ROOM)
        )
        # Webhooks never wait for a turn; everything else (console, API) takes one of a few
        # turns first. A flood of page views or classify calls then queues here, idle, instead
        # of running 40 threads that share one GIL with the webhook being acknowledged.
        self._turns: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def turns(self) -> asyncio.Semaphore:
        """The turns of the running event loop (an app may be served by several in tests)."""
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:
            self._turns = (loop, asyncio.Semaphore(self.settings.max_concurrent_requests))
        return self._turns[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = Headers(scope=scope)
        if path.startswith(_API_PREFIX) and not known_api_key(
            self.settings, _bearer_token(headers)
        ):
            await _unauthorized()(scope, receive, send)
            return
        webhook = path.startswith(_WEBHOOK_PREFIX)
        if webhook or path in _UNQUEUED:
            await self._limited(scope, receive, send)
            return
        async with self.turns():
            if (
                path.startswith(_CONSOLE_PREFIX)
                and scope["method"] not in _SAFE_METHODS
                and path not in _CONSOLE_OPEN
                and not await _signed_in(scope, headers)
            ):
                scope, receive = _without_body(scope, receive)
            await self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        path: str = scope["path"]
        limited = (
            self.webhook_limited
            if path.startswith(_WEBHOOK_PREFIX)
            else self.upload_limited
            if _UPLOADS.fullmatch(path)
            else self.limited
        )
        declared = _declared_length(headers)
        if declared is not None and declared > limited.max_body_size:
            # Refused before a byte is read (Starlette's own answer here would be plain text).
            await _too_large(limited.max_body_size)(scope, receive, send)
            return
        await limited(scope, receive, send)


async def _signed_in(scope: Scope, headers: Headers) -> bool:
    token = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
    if not token:
        return False
    found = await run_in_threadpool(signed_in, scope["app"].state.runtime, token)
    return found is not None

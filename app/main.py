"""create_app(): the FastAPI application, its lifespan and its routers."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__, log
from app.api import (
    campaigns,
    compliance,
    flows,
    health,
    messages,
    signups,
    texts_stream,
    webhooks,
)
from app.api.docs import install_docs
from app.api.guard import RequestGuard
from app.api.inflight import InFlight, InFlightMiddleware
from app.config import Settings, get_settings
from app.console import install_console
from app.demo import retire_demo_accounts
from app.errors import InvalidInput, SmsdeskError
from app.jobs.inprocess import InProcessEngine
from app.runtime import build_runtime


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database is opened (and migrated) when the app starts."""
    settings = settings or get_settings()
    log.configure(settings.log_level)

    requests = InFlight()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Job threads and the event loop share one GIL: a short switch interval lets a request
        # take it back from a busy job within a millisecond instead of five.
        sys.setswitchinterval(0.001)
        runtime = build_runtime(settings, foreground_busy=requests.busy)
        app.state.runtime = runtime
        if settings.env == "prod":  # a database first used by `make run` keeps the demo agents
            retire_demo_accounts(runtime.engine)
        if isinstance(runtime.jobs, InProcessEngine):
            runtime.start_warm_up()  # the workers run on this loop: load the AI beside them
        stop = asyncio.Event()
        # Embedded mode runs the workers in this process; in scale-out mode this is only the
        # relay that hands committed work to procrastinate (`smsdesk worker` runs the jobs).
        workers = asyncio.create_task(runtime.jobs.run(stop))
        log.get_logger("app").info(
            "app.started",
            database=runtime.engine.url.get_backend_name(),
            provider=runtime.sender.name,
            execution_mode=settings.execution_mode,
        )
        # What start-up built lives as long as the process: frozen, full collections stop
        # rescanning it (measured: the conversation page's p95 went from ~100 ms to ~25 ms).
        gc.freeze()
        try:
            yield
        finally:
            stop.set()
            await workers
            runtime.close()
            gc.unfreeze()  # an app built again in this process (tests) starts from a clean slate

    # The interactive API docs and the schema describe every route to whoever asks: only
    # outside production (an integrator reads them on a development instance).
    public_docs = settings.env != "prod"
    app = FastAPI(
        title="smsdesk",
        version=__version__,
        summary="Two-way business texting that never breaks texting law.",
        lifespan=lifespan,
        docs_url=None,  # served from the package's files instead (app/api/docs.py)
        redoc_url=None,
        openapi_url="/openapi.json" if public_docs else None,
    )
    # Starlette's trailing-slash redirect builds an absolute URL from the Host header (an
    # attacker's host echoed back); routes are declared with their one spelling instead.
    app.router.redirect_slashes = False
    app.add_middleware(InFlightMiddleware, meter=requests)
    app.include_router(health.router)
    app.include_router(compliance.router)
    app.include_router(messages.router)
    app.include_router(texts_stream.router)
    app.include_router(webhooks.router)
    app.include_router(flows.router)
    app.include_router(signups.router)
    app.include_router(campaigns.router)
    install_console(app, settings)
    install_docs(app, public=public_docs)
    # Added last, so outermost: nothing reads a body before it has decided who may send one.
    app.add_middleware(RequestGuard, settings=settings)
    _install_error_handlers(app)
    return app


def _error(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    # Bad input is 400 everywhere (not FastAPI's 422): providers and integrators treat 400 as
    # "do not retry", and one code for every malformed request keeps clients simple.
    @app.exception_handler(InvalidInput)
    async def invalid_input(_request: Request, exc: InvalidInput) -> JSONResponse:
        return _error(400, exc.code, str(exc))

    @app.exception_handler(SQLAlchemyError)
    async def database_unavailable(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # 503 tells a provider to retry: nothing is acknowledged that was not stored.
        log.get_logger("app").error("app.database_error", error=repr(exc))
        return _error(503, "database_unavailable", "the database cannot take this request now")

    @app.exception_handler(SmsdeskError)
    async def smsdesk_error(_request: Request, exc: SmsdeskError) -> JSONResponse:
        return _error(500, exc.code, str(exc))

    # Starlette's own (404, 405, the body limit's 413) as well as the routes' FastAPI ones.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else {"message": str(exc.detail)}
        code = {
            400: "invalid_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            409: "blocked",
            413: "too_large",
        }.get(exc.status_code, "http_error")
        body = {"error": {"code": code, "message": detail.get("message", code)} | detail}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in err["loc"][1:]), "problem": err["msg"]}
            for err in exc.errors()
        ]
        return _error(400, "invalid_request", "the request is not valid", details=details)

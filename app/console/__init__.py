"""The agent console: pages, their live updates and the JSON queue API, all under /console/."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.config import Settings
from app.console.deps import LoginRequired
from app.console.security import BrowserSecurityHeaders
from app.console.templating import STATIC_DIR


def install_console(app: FastAPI, settings: Settings) -> None:
    """Mount the console's routes, static files and browser hardening on the app."""
    from app.console import (
        account,
        actions,
        admin,
        contacts,
        dashboard,
        events,
        flows,
        knowledge,
        pages,
        reports,
        routes,
        routing,
        simulator,
    )

    app.state.simulator_limits = simulator.SendLimits(settings.simulator_rate_limit)

    app.add_middleware(BrowserSecurityHeaders)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console_static")
    for module in (
        routes, pages, actions, events, simulator, dashboard, admin, account, flows, reports,
        contacts, knowledge, routing,
    ):  # fmt: skip
        app.include_router(module.router)
    app.include_router(contacts.api)
    from app.media import routes as media_routes

    app.include_router(media_routes.console_router)
    app.include_router(media_routes.public_router)

    @app.get("/console", include_in_schema=False)
    def console_root() -> Response:
        # A relative Location: an absolute one would be built from the (attacker's) Host.
        return RedirectResponse("/console/", status_code=308)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("HX-Request"):
            # htmx follows HX-Redirect with a full page load; a plain 303 would be swapped in.
            return Response(status_code=401, headers={"HX-Redirect": "/console/login"})
        # After signing in, only a page can be returned to (not the action that was posted).
        target = exc.next_path if request.method == "GET" else "/console/"
        return RedirectResponse(f"/console/login?{urlencode({'next': target})}", 303)

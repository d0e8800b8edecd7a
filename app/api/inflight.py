"""Counts the HTTP requests being answered, so background work can give way to them."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

LONG_LIVED_SUFFIX = "/events"


class InFlight:
    """How many requests are being answered right now (read from any thread)."""

    def __init__(self) -> None:
        self.count = 0

    def busy(self) -> bool:
        """True while at least one request is being answered."""
        return self.count > 0


class InFlightMiddleware:
    """Keeps an `InFlight` up to date (pure ASGI: cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, meter: InFlight) -> None:
        self.app = app
        self.meter = meter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A long-lived stream (the console's live updates) is not a request being answered.
        if scope["type"] != "http" or scope.get("path", "").endswith(LONG_LIVED_SUFFIX):
            await self.app(scope, receive, send)
            return
        # Only the event loop thread changes the count, so no lock is needed.
        self.meter.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.meter.count -= 1

"""Counts the HTTP requests being answered, so background work can give way to them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class InFlight:
    """How many requests are being answered right now (read from any thread)."""

    def __init__(self) -> None:
        self.count = 0

    def busy(self) -> bool:
        """True while at least one request is being answered."""
        return self.count > 0


def _is_event_stream(message: Message) -> bool:
    return any(
        name == b"content-type" and value.startswith(b"text/event-stream")
        for name, value in message.get("headers", ())
    )


class InFlightMiddleware:
    """Keeps an `InFlight` up to date (pure ASGI: cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, meter: InFlight) -> None:
        self.app = app
        self.meter = meter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only the event loop thread changes the count, so no lock is needed.
        self.meter.count += 1
        counted = True

        async def send_watching(message: Message) -> None:
            nonlocal counted
            # An event stream stays open for minutes: once it has started it is not a
            # request being answered, and background work must not wait for it to end.
            if counted and message["type"] == "http.response.start" and _is_event_stream(message):
                self.meter.count -= 1
                counted = False
            await send(message)

        try:
            await self.app(scope, receive, send_watching)
        finally:
            if counted:
                self.meter.count -= 1

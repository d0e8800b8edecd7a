"""Live-update streams: they end when their session does (signed out, or the agent disabled),
and name at once what changed since their page was rendered."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session
from starlette.types import Message

from app.config import Settings
from app.console import events
from app.handoff.agents import create_agent, disable_agent
from app.handoff.routing import set_availability
from app.main import create_app
from app.storage.tables import Agent
from tests.console.conftest import PASSWORD

AGENT = "ana@example.com"
MAX_CHUNKS = 50
"""Chunks read after the session ends before calling the stream endless."""
ENDLESS_AFTER = 30.0
"""Seconds without a chunk before calling the stream endless: a stream that polls without
pause and never ends sends nothing until FastAPI's keep-alive (15 s), so the test fails
instead of hanging; a stream that ends does so on its next poll."""
SIGNED_OUT = "event: signed_out\ndata: \n\n"


def _sign_out(http: httpx.AsyncClient, csrf: str) -> Callable[[], object]:
    async def sign_out() -> object:
        response = await http.post("/console/logout", headers={"X-CSRF-Token": csrf})
        assert response.status_code == 204
        return None

    return sign_out


@contextlib.asynccontextmanager
async def _stream(
    app: FastAPI, cookie: str, path: str = "/console/events", query: str = ""
) -> AsyncIterator[asyncio.Queue[Message]]:
    """The console's event stream at `path?query`, run on the app as a browser holds it open:
    the ASGI messages it sends, until the block ends (then the browser goes away)."""
    chunks: asyncio.Queue[Message] = asyncio.Queue()
    gone = asyncio.Event()

    async def receive() -> Message:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        await chunks.put(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 40000), "server": ("testserver", 80), "app": app,
    }  # fmt: skip
    stream = asyncio.create_task(app(scope, receive, send))
    try:
        yield chunks
    finally:
        gone.set()
        stream.cancel()
        await asyncio.gather(stream, return_exceptions=True)


async def _stream_after(settings: Settings, revoke: str) -> list[str]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        engine = app.state.runtime.engine
        with Session(engine) as session:
            create_agent(session, email=AGENT, password=PASSWORD, brands=["acme"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            signed_in = await http.post(
                "/console/login", data={"email": AGENT, "password": PASSWORD}
            )
            assert signed_in.status_code == 200
            csrf = signed_in.json()["csrf_token"]
            cookie = f"smsdesk_console={http.cookies['smsdesk_console']}"
            async with _stream(app, cookie) as chunks:
                start = await chunks.get()
                assert start["status"] == 200
                first = await chunks.get()
                assert first["body"].startswith(b"retry:")
                if revoke == "sign_out":
                    await _sign_out(http, csrf)()
                else:
                    with Session(engine) as session:
                        disable_agent(session, email=AGENT)
                seen: list[str] = []
                for _ in range(MAX_CHUNKS):
                    message = await asyncio.wait_for(chunks.get(), ENDLESS_AFTER)
                    seen.append(message.get("body", b"").decode())
                    if not message.get("more_body", False):
                        break
                return seen


@pytest.mark.parametrize("revoke", ["sign_out", "disable"])
def test_a_stream_ends_when_its_session_does(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, revoke: str
) -> None:
    monkeypatch.setattr(events, "POLL_SECONDS", 0)
    seen = asyncio.run(_stream_after(settings, revoke))
    assert len(seen) < MAX_CHUNKS, "the stream kept flowing after the session ended"
    assert SIGNED_OUT in seen


async def _first_event_after_a_change(settings: Settings, page: str) -> str:
    """Render `page`, change what its stream watches, then open the stream the page links:
    the first event it sends (polling only once an hour, so only the page's digests can
    make it send one at once)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        engine = app.state.runtime.engine
        with Session(engine) as session:
            agent_id = create_agent(
                session, email=AGENT, password=PASSWORD, role="supervisor", brands=["acme"]
            ).id
            session.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            signed_in = await http.post(
                "/console/login", data={"email": AGENT, "password": PASSWORD}
            )
            assert signed_in.status_code == 200
            rendered = await http.get(page)
            assert rendered.status_code == 200
            found = re.search(r'sse-connect="([^"]+)"', rendered.text)
            assert found is not None and "shown_queue=" in found[1]
            url = urlsplit(html.unescape(found[1]))
            with Session(engine) as session:  # the page is shown; the agent goes online
                stored = session.get(Agent, agent_id)
                assert stored is not None
                set_availability(session, agent=stored, availability="online")
                session.commit()
            cookie = f"smsdesk_console={http.cookies['smsdesk_console']}"
            async with _stream(app, cookie, url.path, url.query) as chunks:
                assert (await chunks.get())["status"] == 200
                assert (await chunks.get())["body"].startswith(b"retry:")
                event = await asyncio.wait_for(chunks.get(), ENDLESS_AFTER)
                return str(event["body"].decode())


@pytest.mark.parametrize("page", ["/console/", "/console/dashboard"])
def test_a_change_between_the_page_and_its_stream_is_sent_at_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    """A page's stream starts after the page was rendered (and again after a dropped
    connection): a change in between must not wait for a next change to be shown (the
    dashboard's 'who is on what' once stayed stale that way)."""
    monkeypatch.setattr(events, "POLL_SECONDS", 3600)
    assert asyncio.run(_first_event_after_a_change(settings, page)).startswith("event: queue\n")

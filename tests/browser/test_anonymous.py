"""Every console URL refuses a request without a valid session, found from the app's own routes
(a route added later is covered without touching this test)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.browser.conftest import Desk, new_phone
from tests.reliability.conftest import SmsdeskServer

pytestmark = pytest.mark.xdist_group("browser")

PUBLIC = ("/console/login", "/console/static")
"""The sign-in form (GET and POST) and the stylesheet and scripts."""
KNOWN = {
    ("GET", "/console/"),
    ("GET", "/console/events"),
    ("POST", "/console/logout"),
    ("POST", "/console/items/{item_id}/claim"),
    ("POST", "/console/conversations/{conversation_id}/send"),
    ("GET", "/console/api/queue"),
    ("GET", "/console/dashboard"),
    ("POST", "/console/agents"),
    ("GET", "/console/contacts/{brand}/{phone}"),
    ("GET", "/console/reports/agents.csv"),
    ("GET", "/console/media/{media_id}"),
    ("POST", "/console/knowledge/{entry_id}"),
    ("POST", "/console/availability/{state}"),
}
"""Routes that must be found (else the discovery below is broken and proves nothing)."""


def console_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every console route except the public ones."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # a FastAPI without lazily included routers: app.routes is flat
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    found = set()
    for route in routes:
        path = getattr(route, "path", None)
        if not path or not path.startswith("/console") or path.startswith(PUBLIC):
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, path))
    return sorted(found)


def payload(method: str, path: str, agent_id: str) -> dict[str, Any]:
    """A request body that would be accepted with a session: only the session is missing."""
    if method != "POST":
        return {}
    if path.startswith("/console/api/"):
        return {"json": {"outcome": "resolved", "agent_id": agent_id, "minutes": 30}}
    return {
        "data": {
            "body": "Acme: on it. Reply STOP to opt out.",
            "send_key": "0123456789abcdef",
            "outcome": "resolved",
            "minutes": "30",
            "target": f"agent:{agent_id}",
            "agent_id": agent_id,
            "email": "new-agent@example.com",
            "password": "a long enough password",
            "role": "agent",
        }
    }


@pytest.fixture
def real_ids(console_server: SmsdeskServer) -> Iterator[dict[str, str]]:
    """Path parameters naming things that exist, so only the missing session can refuse."""
    desk = Desk(console_server)
    try:
        agent = desk.agent()
        conversation, item = desk.escalated(new_phone(), "Hello? Anyone there?")
        yield {
            "conversation_id": str(conversation.id),
            "item_id": str(item.id),
            "agent_id": str(agent.id),
            "part": "thread",
            "brand": conversation.brand,
            "phone": conversation.phone_e164,
            "media_id": str(uuid.uuid4()),  # refused before any lookup
            "entry_id": "bike-fit",
            "state": "online",
        }
    finally:
        desk.close()


def refused(response: httpx.Response) -> bool:
    """401, 403, or a redirect to the sign-in form."""
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("location", "")
    if response.status_code == 308 and location == "/console/":
        return True  # `/console` only gains its slash (relative: no Host echoed, nothing shown)
    return response.status_code == 303 and location.startswith("/console/login")


def test_every_console_route_refuses_an_anonymous_request(
    console_server: SmsdeskServer, real_ids: dict[str, str], tmp_path: Path
) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", env="test", bot="off"))
    routes = console_routes(app)
    assert set(routes) >= KNOWN, f"route discovery missed {KNOWN - set(routes)}"

    attempts = {
        "no cookie": {},
        "forged cookie": {"Cookie": "smsdesk_console=forged-session-token"},
        "htmx, no cookie": {"HX-Request": "true"},
    }
    failures: list[str] = []
    checked = 0
    with httpx.Client(base_url=console_server.base_url, timeout=10.0) as client:
        for method, template in routes:
            url = re.sub(
                r"\{(\w+)\}",
                lambda m: {**real_ids, "name": "appointment_reminder"}[m.group(1)],
                template,
            )
            if template == "/console/events":
                url += f"?conversation={real_ids['conversation_id']}"
            for name, headers in attempts.items():
                client.cookies.clear()
                request = client.build_request(
                    method,
                    url,
                    headers=headers,
                    **payload(method, template, real_ids["agent_id"]),
                )
                # Streamed: an event stream that wrongly opened must not hang the test.
                response = client.send(request, stream=True)
                response.close()
                checked += 1
                if not refused(response):
                    failures.append(f"{method} {url} ({name}): {response.status_code}")
                elif name.startswith("htmx") and response.status_code == 401:
                    # htmx is told to load the sign-in page rather than swap an error in.
                    assert response.headers.get("HX-Redirect") in (None, "/console/login")
    assert failures == [], "answered without a session:\n" + "\n".join(failures)
    assert checked == len(routes) * len(attempts) >= 3 * 20

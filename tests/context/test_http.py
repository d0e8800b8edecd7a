"""The HTTP adapter against a real HTTP server on 127.0.0.1: up, slow (timeout), failing then
up (retry), down (ContextUnavailable), a 404, nonsense JSON, another number's answer, and the
cache held to the injectable clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from app import clock
from app.config import Settings
from app.context import ContextUnavailable, build_context
from app.context.http import HttpContext

PHONE = "+12125550100"
CUSTOMER = {
    "phone": PHONE,
    "name": "Maya Chen",
    "language": "en",
    "orders": [
        {
            "id": "AC10100",
            "status": "shipped",
            "items": "trail runners",
            "placed_at": "2026-03-08T14:00:00Z",
            "tracking_url": "https://track.example.com/AC10100",
            "carrier": "UPS",
            "eta": "2026-03-12",
        }
    ],
    "appointments": [
        {
            "id": "AP1",
            "service": "bike fit",
            "starts_at": "2026-03-11T10:00:00-04:00",
            "location": "Acme Downtown",
        }
    ],
    "subscription": {"plan": "Acme Club Yearly", "status": "active", "renews_on": "2026-04-01"},
}


@dataclass
class Script:
    """What the fake system does: a list of responses, one per request (the last repeats)."""

    responses: list[tuple[int, Any]] = field(default_factory=lambda: [(200, CUSTOMER)])
    requests: list[tuple[str, dict[str, list[str]], str | None]] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    slow: bool = False


@pytest.fixture
def system() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            script.requests.append(
                (unquote(url.path), parse_qs(url.query), self.headers.get("Authorization"))
            )
            if script.slow:
                script.hold.wait(5)  # longer than the adapter's timeout: released at teardown
            index = min(len(script.requests), len(script.responses)) - 1
            status, body = script.responses[index]
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", script
    finally:
        script.hold.set()
        server.shutdown()
        server.server_close()


def adapter(url: str, **options: Any) -> Iterator[HttpContext]:
    # A generous timeout: on a loaded machine a local answer can stall past a short one, and the
    # retry it sets off would change the request counts the tests assert.
    context = HttpContext(url, **{"timeout": 10.0, "retries": 2, "cache_seconds": 60, **options})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(datetime(2026, 3, 10, 15, 0, tzinfo=UTC)) as stopped:
        yield stopped


def test_up_the_customer_comes_back_typed_with_the_token(
    system: tuple[str, Script], frozen: clock.FrozenClock
) -> None:
    url, script = system
    for context in adapter(url, token="s3cret"):
        customer = context.customer("acme", PHONE)
    assert customer is not None and customer.name == "Maya Chen"
    assert customer.latest_order() is not None
    assert customer.orders[0].tracking_url == "https://track.example.com/AC10100"
    assert (
        customer.subscription is not None and str(customer.subscription.renews_on) == "2026-04-01"
    )
    assert customer.appointments[0].starts_at == datetime(2026, 3, 11, 14, 0, tzinfo=UTC)
    ((path, query, auth),) = script.requests
    assert path == f"/customers/{PHONE}" and query == {"brand": ["acme"]}
    assert auth == "Bearer s3cret"


def test_a_404_is_no_customer_and_is_cached_too(
    system: tuple[str, Script], frozen: clock.FrozenClock
) -> None:
    url, script = system
    script.responses = [(404, {"error": "not found"})]
    for context in adapter(url):
        assert context.customer("acme", PHONE) is None
        assert context.customer("acme", PHONE) is None
    assert len(script.requests) == 1


def test_slow_times_out_and_is_unavailable_after_its_retries(
    system: tuple[str, Script], frozen: clock.FrozenClock
) -> None:
    url, script = system
    script.slow = True
    for context in adapter(url, retries=1, timeout=0.3):  # the server holds its answer 5 s
        with pytest.raises(ContextUnavailable, match="did not answer"):
            context.customer("acme", PHONE)
    assert len(script.requests) == 2  # the first try and one retry


def test_a_500_then_ok_is_retried(system: tuple[str, Script], frozen: clock.FrozenClock) -> None:
    url, script = system
    script.responses = [(500, "oops"), (502, "bad gateway"), (200, CUSTOMER)]
    for context in adapter(url, retries=2):
        customer = context.customer("acme", PHONE)
    assert customer is not None and customer.name == "Maya Chen"
    assert len(script.requests) == 3


def test_down_is_unavailable(frozen: clock.FrozenClock) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for context in adapter(f"http://127.0.0.1:{port}", retries=1):
        with pytest.raises(ContextUnavailable):
            context.customer("acme", PHONE)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, "not json"),
        (200, {"orders": [{"id": "AC1"}]}),  # no status, no placed_at
        (200, {**CUSTOMER, "phone": "+12125550199"}),  # someone else's record
        (200, {**CUSTOMER, "orders": [{**CUSTOMER["orders"][0], "placed_at": "2026-03-08"}]}),
        (401, {"error": "bad token"}),
    ],
)
def test_an_answer_that_is_not_the_documented_json_is_unavailable(
    system: tuple[str, Script], frozen: clock.FrozenClock, status: int, body: Any
) -> None:
    url, script = system
    script.responses = [(status, body)]
    for context in adapter(url, retries=0):
        with pytest.raises(ContextUnavailable):
            context.customer("acme", PHONE)


def test_the_cache_is_reused_until_its_time_runs_out(
    system: tuple[str, Script], frozen: clock.FrozenClock
) -> None:
    url, script = system
    for context in adapter(url, cache_seconds=60):
        context.customer("acme", PHONE)
        frozen.advance(timedelta(seconds=59))
        context.customer("acme", PHONE)
        assert len(script.requests) == 1
        frozen.advance(timedelta(seconds=2))
        context.customer("acme", PHONE)
        assert len(script.requests) == 2
        context.customer("other-brand", PHONE)  # another brand is another key
        assert len(script.requests) == 3


def test_free_slots_come_from_the_system(
    system: tuple[str, Script], frozen: clock.FrozenClock
) -> None:
    url, script = system
    slots = {
        "slots": [
            {"starts_at": "2026-03-11T13:00:00Z", "service": "bike fit", "location": "Downtown"},
            {"starts_at": "2026-03-11T15:00:00Z", "service": "bike fit"},
        ]
    }
    script.responses = [(200, slots)]
    after = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    settings = Settings(env="test", context_url=url, context_timeout_seconds=10)
    context = build_context(settings, engine=None)  # type: ignore[arg-type]
    assert isinstance(context, HttpContext)
    try:
        found = context.free_slots("acme", service="bike fit", after=after, limit=1)
    finally:
        context.close()
    assert [(s.starts_at.hour, s.location) for s in found] == [(13, "Downtown")]
    ((path, query, _),) = script.requests
    assert path == "/slots"
    assert query["service"] == ["bike fit"] and query["limit"] == ["1"]
    assert query["after"] == ["2026-03-10T15:00:00+00:00"]

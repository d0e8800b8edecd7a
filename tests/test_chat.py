"""`smsdesk chat` against a real server on loopback: signed webhooks in, replies shown."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from app.ai.models import AiModels
from app.chat import Phone, run
from app.config import Settings
from app.main import create_app
from tests.conftest import REPO
from tests.helpers import eventually

REQUESTS: Counter[str] = Counter()
"""What the server was asked, by method and path (each is an access-log line)."""


@pytest.fixture
def server(settings: Settings, ai_models: AiModels, ai_data_dir: Path) -> Iterator[Settings]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # env dev: the development token and API key, as `make run` has them; the models trained
    # and the knowledge indexed once per session (a fresh data dir would redo it per test).
    configured = Settings(
        data_dir=ai_data_dir,
        database_url=f"sqlite:///{settings.data_dir / 'smsdesk.db'}",
        knowledge_dir=REPO / "knowledge",
        port=port,  # the public URL (what the webhooks are signed over) follows it
    )
    app = create_app(configured)

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            REQUESTS[f"{scope['method']} {scope['path']}"] += 1
        await app(scope, receive, send)

    # As `smsdesk serve` does: open reply streams get a moment, then the server stops anyway
    # (and stops its worker child) rather than outliving the test.
    uv = uvicorn.Server(
        uvicorn.Config(
            counted, port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
        )
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started
    # `make run` runs the jobs in a child process: wait until it takes them.
    eventually(
        lambda: _ready(httpx2.get(f"{configured.public_base_url}/healthz").json()),
        seconds=300,
    )
    yield configured
    uv.should_exit = True
    thread.join(timeout=60)
    assert not thread.is_alive(), "the server did not stop"


def _replies(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("Acme>")]


def _ready(health: dict[str, str]) -> bool:
    # Texts for the AI wait while its models load (compliance does not): wait for both.
    return health["workers"] == "ready" and health["ai"] == "ready"


def test_chat_texts_the_server_and_shows_its_replies(server: Settings) -> None:
    assert server.public_base_url == f"http://127.0.0.1:{server.port}"
    first: list[str] = []
    REQUESTS.clear()
    run(Phone(server, "+12125550123", server.public_base_url, out=first.append), ["HELP"],
        wait_seconds=30, until=lambda: len(first) >= 1)  # fmt: skip
    assert len(first) == 1 and "Reply STOP to cancel" in first[0], first
    # One stream of replies and one webhook: however long it waits, nothing polls (the
    # README has people watch this server's log; 35 texts used to be 1,452 lines).
    assert REQUESTS == {"GET /api/v1/messages/stream": 1, "POST /webhooks/twilio/sms": 1}

    lines: list[str] = []
    phone = Phone(server, "+12125550123", server.public_base_url, out=lines.append)
    handed_off = "(the conversation is now with a person: an agent will answer)"
    run(phone, ["what time do you open on sunday?", "can I talk to a person?"], wait_seconds=30,
        until=lambda: len(_replies(lines)) >= 3 and handed_off in lines)  # fmt: skip
    # A new phone shows the whole thread: the HELP answer, the AI's answer from the demo
    # knowledge base, and the hand-off of a customer who asks for a person, with the bot's
    # acknowledgement (its "when" depends on the server's clock, the rest does not).
    replies = _replies(lines)
    assert len(replies) == 3 and "Sun 10am-6pm" in replies[1], lines
    assert replies[2].startswith("Acme> Sure. A member of our team will text you back here "), lines
    assert handed_off in lines


def test_a_stop_cancels_a_help_answer_still_in_the_queue(server: Settings) -> None:
    # FCC-3: after a revocation the confirmation is the only message; an answer to an earlier
    # HELP that has not gone out yet is cancelled, not sent after it.
    lines: list[str] = []
    phone = Phone(server, "+13125550123", server.public_base_url, out=lines.append)
    confirmed_at: list[float] = []

    def a_second_after_the_confirmation() -> bool:
        # Watch one second past the confirmation for a HELP answer wrongly sent after it.
        if not confirmed_at and any("unsubscribed" in reply for reply in _replies(lines)):
            confirmed_at.append(time.monotonic())
        return bool(confirmed_at) and time.monotonic() - confirmed_at[0] >= 1.0

    run(phone, ["HELP", "STOP"], wait_seconds=30, until=a_second_after_the_confirmation)
    replies = _replies(lines)
    assert replies[-1].endswith("1-800-555-0199") and "unsubscribed" in replies[-1], lines


def test_the_reply_stream_needs_a_key_and_a_number(server: Settings) -> None:
    url = f"{server.public_base_url}/api/v1/messages/stream"
    assert httpx2.get(url, params={"phone": "+12125550123"}).status_code == 401
    key = {"Authorization": "Bearer smsdesk-dev-key"}
    refused = httpx2.get(url, params={"phone": "not a number"}, headers=key)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_phone_number"

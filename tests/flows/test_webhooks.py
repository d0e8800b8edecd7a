"""Flow webhooks against a real HTTP server on 127.0.0.1: signed, retried, outcome recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, select
from tenacity import wait_none

from app.config import Settings
from app.flows.webhooks import FLOW_WEBHOOK, WebhookFailed, WebhookSender
from app.runtime import Runtime, build_runtime
from app.storage.tables import Job
from tests.flows.conftest import Customer, EchoResponder

SECRET = "s3cret-for-tests"


@dataclass
class Receiver:
    """The business's system: answers the statuses it is given, in order, then 200."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((dict(self.headers), body))
            code = state.statuses.pop(0) if state.statuses else 200
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/smsdesk"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked(engine: Engine, flow_settings: Settings, receiver: Receiver) -> Iterator[Runtime]:
    settings = flow_settings.model_copy(
        update={"flow_webhook_url": receiver.url, "flow_webhook_secret": SecretStr(SECRET)}
    )
    yield build_runtime(settings, engine=engine, responder=EchoResponder())


def test_an_answer_posts_a_signed_event(hooked: Runtime, receiver: Receiver) -> None:
    customer = Customer(hooked)
    customer.start("appointment_reminder", name="Ana", date="Tue", time="3pm")
    customer.text("1")
    ((headers, body),) = receiver.received
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Smsdesk-Signature"], expected)
    event = json.loads(body)
    assert (event["event"], event["flow"], event["outcome"]) == (
        "appointment_confirmed",
        "appointment_reminder",
        "confirmed",
    )
    assert event["variables"] == {"name": "Ana", "date": "Tue", "time": "3pm"}
    assert headers["X-Smsdesk-Delivery"] == event["id"]
    with Session(hooked.engine) as session:
        (job,) = session.exec(select(Job).where(Job.kind == FLOW_WEBHOOK)).all()
        assert job.state == "done"


def test_server_errors_are_retried_with_the_same_delivery_id(receiver: Receiver) -> None:
    receiver.statuses = [503, 500]
    sender = WebhookSender(SECRET, retry_wait=wait_none())
    status = sender.deliver(receiver.url, json.dumps({"id": "d-1", "event": "x"}))
    assert status == 200
    assert [h["X-Smsdesk-Delivery"] for h, _ in receiver.received] == ["d-1"] * 3


def test_a_refusal_or_exhausted_retries_fail_the_job(receiver: Receiver) -> None:
    receiver.statuses = [400]
    sender = WebhookSender(SECRET, retry_wait=wait_none(), max_attempts=2)
    with pytest.raises(WebhookFailed, match="HTTP 400"):
        sender.deliver(receiver.url, json.dumps({"id": "d-2"}))
    assert len(receiver.received) == 1  # a 4xx is not retried: the event would not change
    receiver.statuses = [502, 502]
    with pytest.raises(WebhookFailed, match="502"):
        sender.deliver(receiver.url, json.dumps({"id": "d-3"}))
    assert len(receiver.received) == 3

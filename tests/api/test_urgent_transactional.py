"""An urgent transactional text (QH-5) is judged as urgent when it is sent, not only when it is
accepted: at 23:30 it leaves at once, while a non-urgent one waits for 08:00 (issue 13)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session

from app import clock
from app.config import Settings
from app.main import create_app
from app.storage.tables import Message
from tests.helpers import eventually

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
PHONE = "+12125550123"  # New York
TUESDAY_1130PM = datetime(2026, 3, 11, 3, 30, tzinfo=UTC)  # New York: 23:30, quiet hours
WEDNESDAY_8AM = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)  # New York: 08:00 (EDT)
CODE = "Acme: your one-time code is 483920. Reply STOP to opt out."


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"api_keys": [SecretStr(KEY)], "workers": 2})
    with clock.frozen(TUESDAY_1130PM), TestClient(create_app(configured)) as test_client:
        yield test_client


def _outbound(client: TestClient, *, urgent: bool) -> dict[str, str]:
    response = client.post(
        "/api/v1/messages/outbound",
        json={"to": PHONE, "body": CODE, "category": "transactional", "urgent": urgent},
        headers=AUTH,
    )
    assert response.status_code == 202, response.text
    accepted: dict[str, str] = response.json()
    return accepted


def _message(client: TestClient, message_id: str) -> Message:
    engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    with Session(engine, expire_on_commit=False) as session:
        message = session.get(Message, uuid.UUID(message_id))
        assert message is not None
        return message


def test_urgent_transactional_text_is_sent_at_night(client: TestClient) -> None:
    accepted = _outbound(client, urgent=True)
    assert datetime.fromisoformat(accepted["send_at"]) == TUESDAY_1130PM
    eventually(lambda: _message(client, accepted["message_id"]).status in ("sent", "scheduled"))
    message = _message(client, accepted["message_id"])
    assert (message.status, message.send_after) == ("sent", None)
    assert message.urgent  # kept on the message for every later check (a retry, a release)


def test_non_urgent_transactional_text_waits_for_the_morning(client: TestClient) -> None:
    accepted = _outbound(client, urgent=False)
    assert datetime.fromisoformat(accepted["send_at"]) == WEDNESDAY_8AM
    eventually(lambda: _message(client, accepted["message_id"]).status != "queued")
    message = _message(client, accepted["message_id"])
    assert (message.status, message.send_after) == ("scheduled", WEDNESDAY_8AM)

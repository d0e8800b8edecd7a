"""The integrator API through the real app: the lifespan runs the in-process workers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.config import Settings
from app.main import create_app
from tests.helpers import eventually

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
PHONE = "+12125550123"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"api_keys": [SecretStr(KEY)], "workers": 2})
    with TestClient(create_app(configured)) as test_client:
        yield test_client


def inbound(client: TestClient, body: str, sid: str) -> dict[str, object]:
    response = client.post(
        "/api/v1/messages/inbound",
        json={"provider_message_id": sid, "from": PHONE, "to": "+18005550199", "body": body},
        headers=AUTH,
    )
    assert response.status_code == 202, response.text
    result: dict[str, object] = response.json()
    return result


def test_every_integrator_route_needs_a_key(client: TestClient) -> None:
    for method, path in [
        ("post", "/api/v1/messages/inbound"),
        ("post", "/api/v1/messages/outbound"),
        ("get", "/api/v1/conversations"),
        ("get", f"/api/v1/contacts/{PHONE}/consent"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = getattr(client, method)(path, headers=headers)
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "unauthorized"


def test_stop_through_the_api_is_confirmed_and_visible(client: TestClient) -> None:
    first = inbound(client, "STOP", "api-1")
    again = inbound(client, "STOP", "api-1")
    assert first["message_id"] == again["message_id"] and again["duplicate"] is True

    def confirmed() -> bool:
        conversations = client.get("/api/v1/conversations", params={"phone": PHONE}, headers=AUTH)
        if not conversations.json():
            return False
        conversation_id = conversations.json()[0]["id"]
        thread = client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=AUTH)
        return any(m["status"] == "sent" for m in thread.json() if m["direction"] == "outbound")

    eventually(confirmed)
    consent = client.get(f"/api/v1/contacts/{PHONE}/consent", headers=AUTH).json()
    assert consent["status"] == "opted_out"
    kinds = [e["event_type"] for e in consent["events"]]
    assert kinds[0] == "opt_out" and "confirmation_sent" in kinds


def test_outbound_to_an_opted_out_number_is_refused(client: TestClient) -> None:
    inbound(client, "STOP", "api-2")
    eventually(
        lambda: (
            client.get(f"/api/v1/contacts/{PHONE}/consent", headers=AUTH).json()["status"]
            == "opted_out"
        )
    )
    response = client.post(
        "/api/v1/messages/outbound",
        json={"to": PHONE, "body": "Acme: your order shipped", "category": "transactional"},
        headers=AUTH,
    )
    assert response.status_code == 409
    assert response.json()["error"]["rule"] == "opted_out"


def test_outbound_without_marketing_consent_is_refused(client: TestClient) -> None:
    response = client.post(
        "/api/v1/messages/outbound",
        json={"to": PHONE, "body": "Acme: 20% off. Reply STOP to opt out", "category": "marketing"},
        headers=AUTH,
    )
    assert response.status_code == 409
    assert response.json()["error"]["rule"] == "no_marketing_consent"


def test_bad_inbound_payloads_get_coded_errors(client: TestClient) -> None:
    response = client.post(
        "/api/v1/messages/inbound",
        json={"provider_message_id": "x", "from": "555-0123", "to": "+18005550199"},
        headers=AUTH,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_phone_number"
    response = client.get("/api/v1/conversations/not-a-uuid/messages", headers=AUTH)
    assert response.status_code == 400

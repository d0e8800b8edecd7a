"""The front door through the real app: a key before any body is read, 401 before 400, texts
capped at 1,600 characters on every route, bodies over the limit 413, instants that overflow
once moved to UTC refused as bad input instead of a 503 a provider retries for ever."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.compliance.segments import MAX_TEXT_CHARS
from app.config import Settings
from app.main import create_app
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, SMS_WEBHOOK, sign

KEY = "guard-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
BASE = "https://sms.example.com"
PHONE = "+12125550123"
TOO_LONG = "x" * (MAX_TEXT_CHARS + 1)
OVERFLOWING = "9999-12-31T23:59:59-23:59"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={
            "api_keys": [SecretStr(KEY)],
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_account_sid": ACCOUNT_SID,
            "public_base_url": BASE,
        }
    )
    with TestClient(create_app(configured)) as test_client:
        yield test_client


API_ROUTES = [
    "/api/v1/compliance/classify",
    "/api/v1/compliance/gate",
    "/api/v1/messages/inbound",
    "/api/v1/messages/outbound",
]


@pytest.mark.parametrize("path", API_ROUTES)
@pytest.mark.parametrize("body", [b"{not json", b'{"text": 1}'], ids=["malformed", "invalid"])
def test_without_a_key_every_api_route_is_401_whatever_the_body(
    client: TestClient, path: str, body: bytes
) -> None:
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_wrong_key_with_a_huge_declared_body_is_401_before_the_body(
    client: TestClient,
) -> None:
    response = client.post(
        "/api/v1/compliance/classify",
        content=b"{}",
        headers={"Authorization": "Bearer wrong", "Content-Length": "300000000"},
    )
    assert response.status_code == 401


def test_compliance_dry_runs_need_the_key(client: TestClient) -> None:
    classify = {"text": "STOP", "from": PHONE}
    assert client.post("/api/v1/compliance/classify", json=classify).status_code == 401
    gate = {"to": PHONE, "category": "transactional"}
    assert client.post("/api/v1/compliance/gate", json=gate).status_code == 401
    assert client.post("/api/v1/compliance/classify", json=classify, headers=AUTH).is_success
    assert client.post("/api/v1/compliance/gate", json=gate, headers=AUTH).is_success


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/api/v1/compliance/classify", {"text": TOO_LONG, "from": PHONE}, "text"),
        (
            "/api/v1/compliance/gate",
            {"to": PHONE, "category": "transactional", "body": TOO_LONG},
            "body",
        ),
        (
            "/api/v1/messages/inbound",
            {"provider_message_id": "m1", "from": PHONE, "to": "+18005550199", "body": TOO_LONG},
            "body",
        ),
        (
            "/api/v1/messages/outbound",
            {"to": PHONE, "category": "transactional", "body": TOO_LONG},
            "body",
        ),
    ],
)
def test_a_text_longer_than_an_sms_can_be_is_400_on_every_api_route(
    client: TestClient, path: str, payload: dict[str, object], field: str
) -> None:
    response = client.post(path, json=payload, headers=AUTH)
    assert response.status_code == 400
    assert [d["field"] for d in response.json()["error"]["details"]] == [field]


def test_a_text_of_exactly_the_limit_is_classified(client: TestClient) -> None:
    text = "where is my order " * (MAX_TEXT_CHARS // 18)
    response = client.post(
        "/api/v1/compliance/classify", json={"text": text, "from": PHONE}, headers=AUTH
    )
    assert response.status_code == 200


def test_a_twilio_body_longer_than_an_sms_can_be_is_400(client: TestClient) -> None:
    form = SMS_WEBHOOK | {"Body": TOO_LONG}
    url = f"{BASE}/webhooks/twilio/sms"
    response = client.post(
        "/webhooks/twilio/sms",
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(url, form),
        },
    )
    assert response.status_code == 400
    assert "Body" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "path", ["/api/v1/messages/inbound", "/webhooks/twilio/sms", "/console/login"]
)
def test_a_body_over_the_limit_is_413_with_a_json_error(client: TestClient, path: str) -> None:
    response = client.post(
        path, content=b"a" * 70_000, headers=AUTH | {"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"text": "'
        for _ in range(100):
            yield b"a" * 1_000
        yield b'", "from": "+12125550123"}'

    response = client.post(
        "/api/v1/compliance/classify",
        content=chunks(),
        headers=AUTH | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize("cookie", [None, "expired-or-forged"])
def test_a_console_post_without_a_valid_session_is_401_not_a_parse_error(
    client: TestClient, cookie: str | None
) -> None:
    if cookie is not None:
        client.cookies.set("smsdesk_console", cookie)
    response = client.post(
        "/console/api/queue/00000000-0000-0000-0000-000000000000/resolve",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("instant", [OVERFLOWING, "0001-01-01T00:00:00+23:59", "2150-01-01T00:00Z"])
def test_an_instant_out_of_range_is_bad_input_not_a_503(client: TestClient, instant: str) -> None:
    inbound = {
        "provider_message_id": "m1",
        "from": PHONE,
        "to": "+18005550199",
        "body": "hi",
        "received_at": instant,
    }
    classify = {"text": "hi", "from": PHONE, "received_at": instant}
    gate = {"to": PHONE, "category": "transactional", "send_at": instant}
    last_inbound = {"to": PHONE, "category": "transactional", "last_inbound_at": instant}
    for path, payload in [
        ("/api/v1/messages/inbound", inbound),
        ("/api/v1/compliance/classify", classify),
        ("/api/v1/compliance/gate", gate),
        ("/api/v1/compliance/gate", last_inbound),
    ]:
        response = client.post(path, json=payload, headers=AUTH)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_request"


def test_an_instant_with_an_offset_is_stored_as_the_same_moment(client: TestClient) -> None:
    inbound = {
        "provider_message_id": "m2",
        "from": PHONE,
        "to": "+18005550199",
        "body": "hi",
        "received_at": "2026-06-10T08:00:00-04:00",
    }
    assert client.post("/api/v1/messages/inbound", json=inbound, headers=AUTH).status_code == 202
    found = client.get("/api/v1/conversations", params={"phone": PHONE}, headers=AUTH).json()
    assert found[0]["last_inbound_at"].startswith("2026-06-10T12:00:00")

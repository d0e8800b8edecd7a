"""The compliance endpoints through the real app (lifespan, migrations, SQLite file)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.config import Settings
from app.main import create_app

KEY = "test-key-123"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"api_keys": [SecretStr(KEY)]})
    with TestClient(create_app(configured), headers={"Authorization": f"Bearer {KEY}"}) as c:
        yield c


def test_health_reports_database_and_ruleset(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["ruleset_version"].startswith("spec-2026-11-23+")


def test_classify_an_opt_out_with_a_question(client: TestClient) -> None:
    response = client.post(
        "/api/v1/compliance/classify",
        json={"text": "STOP and also where is my order", "from": "+12125550123"},
    )
    assert response.status_code == 200
    decision = response.json()
    assert decision["action"] == "opt_out"
    assert (decision["match"], decision["keyword"], decision["handoff"]) == ("clause", "STOP", True)


def test_classify_is_a_dry_run(client: TestClient) -> None:
    for _ in range(2):
        decision = client.post(
            "/api/v1/compliance/classify", json={"text": "STOP", "from": "+12125550123"}
        ).json()
        assert decision["state_changed"] is True  # nothing was recorded by the first call


def test_gate_blocks_marketing_at_night_with_next_time(client: TestClient) -> None:
    response = client.post(
        "/api/v1/compliance/gate",
        json={"to": "+12125550101", "category": "transactional", "send_at": "2026-06-11T02:30:00Z"},
    )
    assert response.status_code == 200
    decision = response.json()
    assert decision["allowed"] is False
    assert decision["next_allowed_utc"] == "2026-06-11T12:00:00Z"
    assert decision["next_allowed_local"] == "2026-06-11T08:00:00-04:00"


def test_gate_blocks_content_that_misuses_a_keyword(client: TestClient) -> None:
    response = client.post(
        "/api/v1/compliance/gate",
        json={
            "to": "+12125550101",
            "category": "reply",
            "send_at": "2026-06-10T18:00:00Z",
            "last_inbound_at": "2026-06-10T17:59:00Z",
            "body": "Acme: reply CANCEL to cancel your appointment",
        },
    )
    decision = response.json()
    assert (decision["allowed"], decision["rule"]) == (False, "content_blocked")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"text": "STOP", "from": "12125550123"}, "invalid_phone_number"),
        ({"text": "STOP", "from": "+1"}, "invalid_phone_number"),
        ({"text": "STOP"}, "invalid_request"),
        (
            {"text": "STOP", "from": "+12125550123", "received_at": "2026-06-10T12:00"},
            "invalid_request",
        ),
        ({"text": "x" * 1_601, "from": "+12125550123"}, "invalid_request"),
    ],
)
def test_bad_input_gets_a_json_error_with_a_code(
    client: TestClient, payload: dict[str, object], code: str
) -> None:
    response = client.post("/api/v1/compliance/classify", json=payload)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_openapi_documents_the_compliance_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/compliance/classify", "/api/v1/compliance/gate", "/healthz"} <= set(paths)

"""The bulk-send API through the real app (its lifespan runs the in-process workers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app import clock
from app.config import Settings
from app.main import create_app
from tests.bulk.conftest import StandInFlows, connect, csv_of
from tests.helpers import eventually

KEY = "bulk-test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
CSV = {**AUTH, "Content-Type": "text/csv"}
NOON_ET = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
PHONES = ["+12125550101", "+12125550102", "+12125550103"]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"api_keys": [SecretStr(KEY)], "workers": 2})
    with clock.frozen(NOON_ET), TestClient(create_app(configured)) as test_client:
        runtime = test_client.app.state.runtime  # type: ignore[attr-defined]
        connect(runtime, StandInFlows(runtime.engine).flows())
        yield test_client


def test_a_csv_campaign_is_accepted_and_followed_to_the_end(client: TestClient) -> None:
    body = csv_of([(phone, "Ana", "Main St") for phone in PHONES])
    response = client.post(
        "/api/v1/flows/order_pickup/campaigns", content=body, headers=CSV, params={"name": "June"}
    )
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["name"] == "June" and created["total"] == 3

    def finished() -> bool:
        progress = client.get(f"/api/v1/campaigns/{created['id']}", headers=AUTH).json()
        return bool(progress["status"] == "done" and progress["texts"].get("sent") == 3)

    eventually(finished)
    progress = client.get(f"/api/v1/campaigns/{created['id']}", headers=AUTH).json()
    assert progress["states"] == {"pending": 0, "started": 3, "skipped": 0, "failed": 0}


def test_bad_lines_answer_400_with_every_line_and_send_nothing(client: TestClient) -> None:
    body = csv_of([(PHONES[0], "Ana", "Main St"), ("555", "Bo", "Pier"), (PHONES[0], "A", "B")])
    response = client.post("/api/v1/flows/order_pickup/campaigns", content=body, headers=CSV)
    assert response.status_code == 400
    error = response.json()["error"]
    assert [(p["line"], p["kind"]) for p in error["problems"]] == [
        (3, "bad_phone"),
        (4, "duplicate"),
    ]
    assert "line 3" in error["message"] and "nothing sent" in error["message"]
    conversations = client.get("/api/v1/conversations", headers=AUTH).json()
    assert conversations == []


def test_a_json_list_and_its_dry_run(client: TestClient) -> None:
    items = [{"phone": PHONES[0], "name": "Ana"}, {"phone": "+447911123456", "name": "Bo"}]
    response = client.post(
        "/api/v1/flows/lead_qualification/campaigns",
        json=items,
        headers=AUTH,
        params={"dry_run": "true"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["counts"] == {"skip:no_marketing_consent": 1, "skip:non_us_number": 1}
    assert [e["line"] for e in report["entries"]] == [1, 2]
    assert client.get("/api/v1/conversations", headers=AUTH).json() == []


def test_unknown_flows_campaigns_and_bodies(client: TestClient) -> None:
    assert client.post("/api/v1/flows/nope/campaigns", content="x", headers=CSV).status_code == 404
    missing = "/api/v1/campaigns/00000000-0000-0000-0000-000000000000"
    assert client.get(missing, headers=AUTH).status_code == 404
    bad_json = client.post(
        "/api/v1/flows/order_pickup/campaigns",
        content="[{",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert bad_json.status_code == 400 and "not JSON" in bad_json.json()["error"]["message"]
    no_key = client.post("/api/v1/flows/order_pickup/campaigns", content="x")
    assert no_key.status_code == 401

"""`POST /api/v1/flows/{flow}/start` through the real app (its lifespan runs the workers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session, select

from app.config import Settings
from app.main import create_app
from app.storage.tables import FlowRun
from tests.flows.conftest import FLOWS
from tests.helpers import eventually

KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
PHONE = "+12125550123"
ORDER = {"name": "Ana", "order": "A-17"}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={"api_keys": [SecretStr(KEY)], "workers": 2, "flows_dir": FLOWS}
    )
    with TestClient(create_app(configured)) as test_client:
        yield test_client


def start(client: TestClient, flow: str, **body: object) -> tuple[int, dict[str, object]]:
    response = client.post(f"/api/v1/flows/{flow}/start", json=body, headers=AUTH)
    data: dict[str, object] = response.json()
    return response.status_code, data


def test_a_started_flow_sends_its_first_text(client: TestClient) -> None:
    code, body = start(client, "order_pickup", to=PHONE, variables=ORDER, idempotency_key="o-1")
    assert code == 202 and body["duplicate"] is False
    again_code, again = start(
        client, "order_pickup", to=PHONE, variables=ORDER, idempotency_key="o-1"
    )
    assert again_code == 202 and again["run_id"] == body["run_id"] and again["duplicate"] is True

    def sent() -> bool:
        messages = client.get("/api/v1/conversations", params={"phone": PHONE}, headers=AUTH)
        if not messages.json():
            return False
        conversation = messages.json()[0]["id"]
        thread = client.get(f"/api/v1/conversations/{conversation}/messages", headers=AUTH).json()
        return [m["status"] for m in thread] == ["sent"] and thread[0]["purpose"] == "flow"

    eventually(sent)


@pytest.mark.parametrize(
    ("flow", "body", "refusal"),
    [
        ("no_such_flow", {"to": PHONE}, "unknown_flow"),
        ("order_pickup", {"to": PHONE, "variables": {"name": "Ana"}}, "missing_variable"),
        ("order_pickup", {"to": "12345", "variables": ORDER}, "bad_phone"),
    ],
)
def test_bad_requests_are_400(
    client: TestClient, flow: str, body: dict[str, object], refusal: str
) -> None:
    code, answer = start(client, flow, **body)
    assert code == 400
    assert answer["error"]["refusal"] == refusal  # type: ignore[index]


def test_consent_refusals_are_409_and_send_nothing(client: TestClient) -> None:
    code, answer = start(client, "lead_qualification", to=PHONE, variables={"name": "Ana"})
    assert code == 409 and answer["error"]["refusal"] == "no_marketing_consent"  # type: ignore[index]
    engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert session.exec(select(FlowRun)).all() == []


def test_a_key_is_needed(client: TestClient) -> None:
    response = client.post("/api/v1/flows/order_pickup/start", json={"to": PHONE})
    assert response.status_code == 401

"""Twilio's webhooks as Twilio sends them: real form fields, real signatures, real database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlmodel import Session, func, select

from app.config import Settings
from app.main import create_app
from app.storage.tables import Message, OutboxEntry
from tests.channels.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MMS_WEBHOOK,
    SMS_SID,
    SMS_WEBHOOK,
    sign,
)
from tests.helpers import eventually

BASE = "https://sms.example.com"
SMS_URL = f"{BASE}/webhooks/twilio/sms"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_account_sid": ACCOUNT_SID,
            "public_base_url": BASE,
            "workers": 2,
        }
    )
    with TestClient(create_app(configured)) as test_client:
        yield test_client


def post(client: TestClient, form: dict[str, str], *, signature: str | None = None) -> object:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers["X-Twilio-Signature"] = signature if signature is not None else sign(SMS_URL, form)
    return client.post("/webhooks/twilio/sms", content=urlencode(form), headers=headers)


def count(client: TestClient, model: type) -> int:
    with Session(client.app.state.runtime.engine) as session:  # type: ignore[attr-defined]
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_signed_sms_is_stored_and_acknowledged_with_empty_twiml(client: TestClient) -> None:
    response = post(client, SMS_WEBHOOK)
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("text/xml")  # type: ignore[attr-defined]
    assert response.text.endswith("<Response/>")  # type: ignore[attr-defined]
    assert count(client, Message) >= 1


def test_picture_only_mms_is_accepted(client: TestClient) -> None:
    assert post(client, MMS_WEBHOOK).status_code == 200  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "signature", ["", "bm90LXRoZS1zaWduYXR1cmU=", sign(f"{BASE}/other", SMS_WEBHOOK)]
)
def test_bad_or_missing_signature_is_403_and_stores_nothing(
    client: TestClient, signature: str
) -> None:
    response = post(client, SMS_WEBHOOK, signature=signature)
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert count(client, Message) == 0


def test_tampered_body_is_403(client: TestClient) -> None:
    signature = sign(SMS_URL, SMS_WEBHOOK)
    response = post(client, {**SMS_WEBHOOK, "Body": "STOP"}, signature=signature)
    assert response.status_code == 403  # type: ignore[attr-defined]


def test_malformed_fields_are_400_with_a_json_error(client: TestClient) -> None:
    form = {k: v for k, v in SMS_WEBHOOK.items() if k not in ("From",)}
    response = post(client, form)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.json()["error"]["code"]  # type: ignore[attr-defined]


def test_oversized_body_is_413(client: TestClient) -> None:
    response = post(client, {**SMS_WEBHOOK, "Body": "x" * 70_000})
    assert response.status_code == 413  # type: ignore[attr-defined]


def test_five_concurrent_deliveries_store_and_answer_once(client: TestClient) -> None:
    form = {**SMS_WEBHOOK, "Body": "STOP"}
    codes: list[int] = []
    threads = [
        threading.Thread(target=lambda: codes.append(post(client, form).status_code))  # type: ignore[attr-defined]
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert codes == [200] * 5
    eventually(lambda: count(client, OutboxEntry) == 1)
    time.sleep(0.5)  # any duplicate processing would have sent a second confirmation by now
    assert count(client, Message) == 2  # the STOP and one confirmation
    assert count(client, OutboxEntry) == 1


def test_database_outage_answers_503_and_the_retry_is_stored(client: TestClient) -> None:
    engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        connection.exec_driver_sql("ALTER TABLE messages RENAME TO messages_away")
        connection.commit()
    try:
        response = post(client, {**SMS_WEBHOOK, "MessageSid": SMS_SID})
        assert response.status_code == 503  # type: ignore[attr-defined]
        assert response.json()["error"]["code"] == "database_unavailable"  # type: ignore[attr-defined]
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql("ALTER TABLE messages_away RENAME TO messages")
            connection.commit()
    assert post(client, SMS_WEBHOOK).status_code == 200  # type: ignore[attr-defined]
    assert count(client, Message) >= 1

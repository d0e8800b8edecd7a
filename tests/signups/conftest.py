"""A running smsdesk (real app, real database, console provider) and the customer's phone:
signups through the API, replies through genuinely signed Twilio webhooks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app import clock
from app.config import Settings
from app.main import create_app
from app.storage.tables import ConsentEvent, Conversation, Message, OutboxEntry
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, SMS_WEBHOOK, sign

KEY = "signup-test-key"
BASE = "https://sms.example.com"
SMS_URL = f"{BASE}/webhooks/twilio/sms"
PHONE = "+14155550123"
"""San Francisco: 11:00 local at the frozen instant, inside every sending window."""
WEDNESDAY_11AM_PT = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)
_sids = itertools.count(1)


@pytest.fixture(autouse=True)
def frozen() -> Iterator[clock.FrozenClock]:
    """The whole app (its workers too) runs at one instant the test moves by hand."""
    with clock.frozen(WEDNESDAY_11AM_PT) as stopped:
        yield stopped


def configured(settings: Settings, engine: Engine, **extra: Any) -> Settings:
    """Settings for an app on `engine` with a known API key and Twilio token."""
    return settings.model_copy(
        update={
            "api_keys": [SecretStr(KEY)],
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_account_sid": ACCOUNT_SID,
            "public_base_url": BASE,
            "database_url": engine.url.render_as_string(hide_password=False),
            "workers": 2,
            **extra,
        }
    )


@pytest.fixture
def app_settings(settings: Settings, engine: Engine) -> Settings:
    return configured(settings, engine)


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(
        create_app(app_settings), headers={"Authorization": f"Bearer {KEY}"}
    ) as test_client:
        yield test_client


def signup_payload(**overrides: Any) -> dict[str, Any]:
    """A web form signup for marketing and account texts, as a business would post it."""
    payload: dict[str, Any] = {
        "phone": PHONE,
        "categories": ["marketing", "transactional"],
        "source": {
            "channel": "web",
            "form_url": "https://acme.com/join",
            "checkbox_id": "sms-consent",
        },
        "disclosure": {
            "text": "By checking this box you agree to receive recurring automated marketing "
            "and account texts from Acme at this number. Msg & data rates may apply. Reply "
            "STOP to cancel, HELP for help.",
            "version": "2026-11-v3",
            "not_a_condition_of_purchase": "Consent is not a condition of purchase.",
        },
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X)",
        "submitted_at": "2026-06-10T17:59:30Z",
    }
    payload.update(overrides)
    return payload


def text_in(client: TestClient, body: str, *, phone: str = PHONE) -> str:
    """The customer texts `body`: Twilio's webhook, signed; returns its MessageSid."""
    sid = f"SM{next(_sids):032x}"
    form = {**SMS_WEBHOOK, "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid,
            "From": phone, "Body": body}  # fmt: skip
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers["X-Twilio-Signature"] = sign(SMS_URL, form)
    response = client.post("/webhooks/twilio/sms", content=urlencode(form), headers=headers)
    assert response.status_code == 200, response.text
    return sid


def engine_of(client: TestClient) -> Engine:
    engine: Engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    return engine


def delivered(client: TestClient, phone: str = PHONE) -> list[str]:
    """What the console provider handed to the customer's phone, in order."""
    with Session(engine_of(client)) as session:
        rows = session.exec(
            select(OutboxEntry).where(OutboxEntry.to_number == phone).order_by(col(OutboxEntry.id))
        ).all()
        return [row.body for row in rows]


def outbound_purposes(client: TestClient, phone: str = PHONE) -> list[str | None]:
    """Purpose of every text queued for the customer (sent, held or blocked), in order."""
    with Session(engine_of(client)) as session:
        rows = session.exec(
            select(Message)
            .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
            .where(Conversation.phone_e164 == phone, Message.direction == "outbound")
            .order_by(col(Message.created_at), col(Message.id))
        ).all()
        return [row.purpose for row in rows]


def inbound_processed(client: TestClient, phone: str = PHONE) -> int:
    with Session(engine_of(client)) as session:
        rows = session.exec(
            select(Message.status)
            .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
            .where(Conversation.phone_e164 == phone, Message.direction == "inbound")
        ).all()
        return sum(1 for status in rows if status == "processed")


def ledger(client: TestClient, phone: str = PHONE) -> list[ConsentEvent]:
    with Session(engine_of(client)) as session:
        return list(
            session.exec(
                select(ConsentEvent)
                .where(ConsentEvent.phone_e164 == phone)
                .order_by(col(ConsentEvent.seq))
            ).all()
        )


def kinds(client: TestClient, phone: str = PHONE) -> list[str]:
    """The number's consent changes, as event types (sends and their confirmations left out)."""
    sends = ("message_sent", "confirmation_sent")
    return [e.event_type for e in ledger(client, phone) if e.event_type not in sends]

"""Console fixtures: the real app on a fresh SQLite database, agents and queue items."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.config import Settings
from app.handoff.agents import create_agent
from app.handoff.queue import hand_off
from app.main import create_app
from app.storage.messages import now
from app.storage.tables import Agent, Conversation, HandoffItem

PASSWORD = "correct horse battery"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The whole app, lifespan included, on the test's own SQLite file."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def app_engine(client: TestClient) -> Engine:
    """The database engine of the running app."""
    engine: Engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    return engine


MakeAgent = Callable[..., Agent]


@pytest.fixture
def make_agent(client: TestClient) -> MakeAgent:
    """Create an agent (password PASSWORD) in the app's database."""

    def make(email: str, role: str = "agent", brands: tuple[str, ...] = ("acme",)) -> Agent:
        with Session(app_engine(client), expire_on_commit=False) as session:
            return create_agent(
                session, email=email, password=PASSWORD, role=role, brands=list(brands)
            )

    return make


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in (the cookie lands in the client's jar); returns the CSRF token."""
    response = client.post("/console/login", data={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


def queue_item(
    engine: Engine,
    *,
    brand: str = "acme",
    phone: str = "+12125550123",
    reasons: tuple[str, ...] = ("low_confidence",),
    age_minutes: int = 0,
) -> uuid.UUID:
    """A conversation handed to the human queue, `age_minutes` ago."""
    with Session(engine) as session:
        conversation = Conversation(brand=brand, phone_e164=phone, created_at=now())
        session.add(conversation)
        item: HandoffItem = hand_off(session, conversation=conversation, reasons=reasons)
        item.created_at = now() - timedelta(minutes=age_minutes)
        session.commit()
        return item.id

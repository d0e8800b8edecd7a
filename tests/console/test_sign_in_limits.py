"""Sign-in limits: atomic under parallel guessing (SQLite and PostgreSQL), no lock-out by a
stranger, and a bounded audit log for anonymous noise."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.config import Settings
from app.console import sign_in_limits
from app.console.auth import LOGIN_FAILED
from app.handoff.agents import create_agent
from app.main import create_app
from app.storage.messages import now
from app.storage.tables import AuditEntry
from tests.console.conftest import PASSWORD

AGENT = "ana@example.com"
WRONG = {"email": AGENT, "password": "guess-guess-guess"}
RIGHT = {"email": AGENT, "password": PASSWORD}


@pytest.fixture(params=["sqlite", "postgresql"])
def app_client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TestClient]:
    """The app on SQLite or on a fresh PostgreSQL database, with one agent."""
    configured = settings
    if request.param == "postgresql":
        pg: Engine = request.getfixturevalue("pg_engine")
        url = pg.url.render_as_string(hide_password=False)
        configured = settings.model_copy(update={"database_url": url})
    with TestClient(create_app(configured)) as client:
        with Session(_engine(client)) as session:
            create_agent(session, email=AGENT, password=PASSWORD, brands=["acme"])
        yield client
    gc.collect()  # a connection left open would warn here, in the test that left it


def _engine(client: TestClient) -> Engine:
    engine: Engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
    return engine


def _from(client: TestClient, ip: str) -> TestClient:
    """Another browser, at another client address, on the same running app (and event loop:
    a portal of its own per request could end before the request's database session does)."""
    other = TestClient(client.app, client=(ip, 40000))
    other.portal = client.portal
    return other


def _actions(client: TestClient) -> list[str]:
    with Session(_engine(client)) as session:
        return list(session.exec(select(AuditEntry.action).order_by(col(AuditEntry.id))).all())


def test_parallel_wrong_passwords_check_at_most_the_limit(app_client: TestClient) -> None:
    with ThreadPoolExecutor(max_workers=60) as pool:
        statuses = list(
            pool.map(lambda _: app_client.post("/console/login", data=WRONG), range(60))
        )
    codes = Counter(response.status_code for response in statuses)
    checked = _actions(app_client).count(LOGIN_FAILED)
    assert checked == sign_in_limits.PER_CLIENT_AND_ADDRESS, codes
    assert codes == {401: checked, 429: 60 - checked}


def test_a_stranger_elsewhere_cannot_lock_the_agent_out(app_client: TestClient) -> None:
    office = _from(app_client, "198.51.100.7")
    assert office.post("/console/login", data=RIGHT).status_code == 200  # a known client
    # Strangers from many addresses use up every limit that concerns them.
    for n in range(sign_in_limits.PER_ADDRESS + 5):
        stranger = _from(app_client, f"203.0.113.{n % 250}")
        assert stranger.post("/console/login", data=WRONG).status_code in (401, 429)
    assert _from(app_client, "203.0.113.1").post("/console/login", data=RIGHT).status_code == 429
    # The agent's own client is untouched, and so is a first sign-in from a quiet address...
    assert _from(app_client, "198.51.100.7").post("/console/login", data=RIGHT).status_code == 200
    # ... until the address itself has been guessed at from everywhere (new clients only).
    assert _from(app_client, "192.0.2.44").post("/console/login", data=RIGHT).status_code == 429


def test_a_correct_password_gives_its_attempt_back(app_client: TestClient) -> None:
    for _ in range(sign_in_limits.PER_CLIENT_AND_ADDRESS - 1):
        assert app_client.post("/console/login", data=WRONG).status_code == 401
    for _ in range(3):  # an agent signing in again and again is never limited by it
        assert app_client.post("/console/login", data=RIGHT).status_code == 200
    assert app_client.post("/console/login", data=WRONG).status_code == 401
    assert app_client.post("/console/login", data=WRONG).status_code == 429


def test_anonymous_noise_leaves_a_bounded_audit_log_with_its_count(app_client: TestClient) -> None:
    noise = {"email": "nobody@example.com", "password": "guess-guess-guess"}
    for _ in range(200):
        assert app_client.post("/console/login", data=noise).status_code in (401, 429)
    seen = Counter(_actions(app_client))
    # The first failures of the window, then one row as each limit starts refusing (this
    # client and address, this client, this address): not 200 rows.
    assert seen[LOGIN_FAILED] == sign_in_limits.PER_CLIENT_AND_ADDRESS
    assert seen[sign_in_limits.RATE_LIMITED] == 3
    assert sum(seen.values()) == sign_in_limits.PER_CLIENT_AND_ADDRESS + 3
    # The window's total is written once, when the next window starts.
    later = now() + sign_in_limits.WINDOW + timedelta(seconds=1)
    with Session(_engine(app_client)) as session:
        sign_in_limits.reserve(session, email="nobody@example.com", ip="testclient", at=later)
        totals = session.exec(
            select(AuditEntry).where(AuditEntry.action == sign_in_limits.RATE_LIMITED_TOTAL)
        ).all()
    refused = {entry.target: entry.detail["refused"] for entry in totals}
    assert refused == {
        "client+address:testclient:nobody@example.com": 200 - sign_in_limits.PER_CLIENT_AND_ADDRESS,
        "client:testclient": 200 - sign_in_limits.PER_CLIENT,
        "address:nobody@example.com": 200 - sign_in_limits.PER_ADDRESS,
    }

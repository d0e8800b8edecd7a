"""Console sign-in, sessions, CSRF and the sign-in rate limit, through the real app."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from app.config import Settings
from app.console.auth import SESSION_COOKIE
from app.handoff.agents import disable_agent, enable_agent
from app.main import create_app
from app.storage.tables import AgentSession, AuditEntry
from tests.console.conftest import PASSWORD, MakeAgent, app_engine, login, queue_item


def actions(client: TestClient) -> list[str]:
    with Session(app_engine(client)) as session:
        return list(session.exec(select(AuditEntry.action).order_by(col(AuditEntry.id))).all())


def test_login_sets_a_hardened_cookie_and_logout_ends_the_session(
    client: TestClient, make_agent: MakeAgent
) -> None:
    make_agent("Ana@Example.com")
    response = client.post(
        "/console/login", data={"email": "ANA@example.com ", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
    assert "secure" not in cookie  # SMSDESK_ENV=test over plain http
    csrf = response.json()["csrf_token"]
    assert response.json()["agent"]["email"] == "ana@example.com"
    token = client.cookies[SESSION_COOKIE]
    with Session(app_engine(client)) as session:
        stored = session.exec(select(AgentSession.token_hash)).all()
    assert token not in stored and len(stored) == 1  # only a hash is kept

    assert client.get("/console/api/me").json()["csrf_token"] == csrf
    assert client.post("/console/logout").status_code == 403
    assert client.post("/console/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/console/api/me").status_code == 401
    client.cookies.set(SESSION_COOKIE, token, path="/console")  # a copied cookie is dead too
    assert client.get("/console/api/me").status_code == 401
    assert actions(client) == ["login", "logout"]


def test_cookie_is_secure_outside_dev(settings: Settings, make_agent: MakeAgent) -> None:
    make_agent("ana@example.com")  # in the same database file the prod-like app opens
    prod = settings.model_copy(update={"env": "prod", "worker_process": False})
    with TestClient(create_app(prod)) as client:
        response = client.post(
            "/console/login", data={"email": "ana@example.com", "password": PASSWORD}
        )
    assert response.status_code == 200
    assert "secure" in response.headers["set-cookie"].lower()


def test_wrong_password_and_unknown_email_are_refused_and_audited(
    client: TestClient, make_agent: MakeAgent
) -> None:
    make_agent("ana@example.com")
    for email, password in [("ana@example.com", "not the password"), ("bob@x.org", PASSWORD)]:
        response = client.post("/console/login", data={"email": email, "password": password})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert actions(client) == ["login.failed", "login.failed"]


def test_repeated_failures_are_rate_limited(client: TestClient, make_agent: MakeAgent) -> None:
    make_agent("ana@example.com")
    for _ in range(5):
        bad = {"email": "ana@example.com", "password": "guess-guess-guess"}
        assert client.post("/console/login", data=bad).status_code == 401
    # Even the right password is not checked while the address is blocked.
    good = {"email": "Ana@example.com", "password": PASSWORD}
    response = client.post("/console/login", data=good)
    assert response.status_code == 429
    assert 0 < int(response.headers["retry-after"]) <= 15 * 60
    assert response.json()["error"]["code"] == "rate_limited"
    assert actions(client)[-1] == "login.rate_limited"


def test_one_client_spraying_many_addresses_is_rate_limited(client: TestClient) -> None:
    for n in range(20):
        bad = {"email": f"user{n}@example.com", "password": "guess-guess-guess"}
        assert client.post("/console/login", data=bad).status_code == 401
    response = client.post("/console/login", data={"email": "new@example.com", "password": "x"})
    assert response.status_code == 429 and "retry-after" in response.headers


def test_a_disabled_agent_is_signed_out_at_once(client: TestClient, make_agent: MakeAgent) -> None:
    make_agent("ana@example.com")
    login(client, "ana@example.com")
    with Session(app_engine(client)) as session:
        disable_agent(session, email="ana@example.com")
    assert client.get("/console/api/queue").status_code == 401
    response = client.post(
        "/console/login", data={"email": "ana@example.com", "password": PASSWORD}
    )
    assert response.status_code == 401


def test_enabling_an_agent_again_does_not_revive_their_old_sessions(
    client: TestClient, make_agent: MakeAgent
) -> None:
    make_agent("ana@example.com")
    login(client, "ana@example.com")
    with Session(app_engine(client)) as session:
        disable_agent(session, email="ana@example.com")
        enable_agent(session, email="ana@example.com")
    assert client.get("/console/api/queue").status_code == 401
    login(client, "ana@example.com")  # a fresh sign-in works
    assert client.get("/console/api/queue").status_code == 200


def _console_requests(client: TestClient) -> list[tuple[str, str]]:
    # FastAPI 0.165 nests included routers in private wrappers inside app.routes; the OpenAPI
    # document is the public, flattened view of the same routes.
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    found = []
    for path, operations in paths.items():
        if path.startswith("/console/") and path != "/console/login":
            concrete = path.replace("{item_id}", str(uuid.uuid4()))
            found += [(method.upper(), concrete) for method in sorted(operations)]
    return found


def test_every_console_route_refuses_an_anonymous_request(client: TestClient) -> None:
    requests = _console_requests(client)
    assert ("GET", "/console/api/queue") in requests and len(requests) >= 6
    for method, path in requests:
        for cookies in ({}, {SESSION_COOKIE: "forged-token"}):
            client.cookies.clear()
            for name, value in cookies.items():
                client.cookies.set(name, value, path="/console")
            response = client.request(method, path, json={"outcome": "resolved"})
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["code"] == "unauthorized"


def test_state_changing_requests_need_the_csrf_token(
    client: TestClient, make_agent: MakeAgent
) -> None:
    make_agent("ana@example.com")
    csrf = login(client, "ana@example.com")
    item = queue_item(app_engine(client))
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        response = client.post(f"/console/api/queue/{item}/claim", headers=headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    response = client.post(f"/console/api/queue/{item}/claim", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200


def test_the_audit_log_is_append_only(client: TestClient, make_agent: MakeAgent) -> None:
    make_agent("ana@example.com")
    login(client, "ana@example.com")
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), app_engine(client).begin() as conn:
            conn.execute(text(statement))
    assert actions(client) == ["login"]

"""An agent changes their own password on /console/account."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.storage.tables import AuditEntry
from tests.console.conftest import PASSWORD, MakeAgent, app_engine, login

NEW = "a brand new passphrase"


def _said(html: str, kind: str) -> str | None:
    found = re.search(rf'id="account-{kind}"[^>]*>([^<]*)<', html)
    return found[1] if found else None


def _change(client: TestClient, current: str, new: str = NEW, confirm: str | None = None) -> str:
    form = {"current": current, "new": new, "confirm": new if confirm is None else confirm}
    response = client.post("/console/account/password", data=form)
    assert response.status_code == 200
    return response.text


def _actions(client: TestClient) -> list[str]:
    with Session(app_engine(client)) as session:
        return list(session.exec(select(AuditEntry.action).order_by(col(AuditEntry.id))).all())


def test_an_agent_changes_their_password_and_stays_signed_in(
    client: TestClient, make_agent: MakeAgent
) -> None:
    make_agent("ana@example.com")
    client.headers["X-CSRF-Token"] = login(client, "ana@example.com")
    other_device = TestClient(client.app)
    login(other_device, "ana@example.com")
    page = client.get("/console/account")
    assert page.status_code == 200 and 'id="change-password"' in page.text
    assert 'href="/console/account"' in page.text  # the name in the top bar leads here

    assert _said(_change(client, "wrong password!"), "error") == (
        "Your current password is not right."
    )
    assert _said(_change(client, PASSWORD, confirm="something else"), "error") == (
        "The new password and its repetition differ."
    )
    assert _said(_change(client, PASSWORD, new="short"), "error") == (
        "The password must be at least 12 characters long."
    )
    assert other_device.get("/console/api/me").status_code == 200  # nothing changed yet

    assert _said(_change(client, PASSWORD), "notice") == (
        "Password changed: your other sessions have ended."
    )
    assert client.get("/console/api/me").status_code == 200
    assert other_device.get("/console/api/me").status_code == 401
    assert _actions(client)[-1] == "agent.password_changed"
    assert "login.failed" in _actions(client)  # the wrong current password
    signed_in = TestClient(client.app).post(
        "/console/login", data={"email": "ana@example.com", "password": NEW}
    )
    assert signed_in.status_code == 200


def test_guessing_the_current_password_meets_the_sign_in_rate_limit(
    client: TestClient, make_agent: MakeAgent
) -> None:
    make_agent("ana@example.com")
    client.headers["X-CSRF-Token"] = login(client, "ana@example.com")
    for n in range(5):
        assert _said(_change(client, f"guess number {n}"), "error") == (
            "Your current password is not right."
        )
    limited = _change(client, PASSWORD)  # even the right one, until the window passes
    assert _said(limited, "error") == "Too many wrong passwords: wait a while."
    assert _actions(client)[-1] == "agent.password_change_refused"


def test_changing_the_password_needs_a_session_and_the_csrf_token(
    client: TestClient, make_agent: MakeAgent
) -> None:
    form = {"current": PASSWORD, "new": NEW, "confirm": NEW}
    anonymous = client.post("/console/account/password", data=form, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/console/login")
    htmx = client.post("/console/account/password", data=form, headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/console/login"
    make_agent("ana@example.com")
    login(client, "ana@example.com")
    assert client.post("/console/account/password", data=form).status_code == 403

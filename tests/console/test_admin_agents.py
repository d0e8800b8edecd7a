"""The admin's agents page: list, add and disable accounts, with CSRF, errors and the audit log."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.handoff.agents import disable_agent, find_agent
from app.storage.messages import now
from app.storage.tables import Agent, AuditEntry, Conversation
from tests.console.conftest import PASSWORD, MakeAgent, app_engine, login

NEW_PASSWORD = "a long enough secret"


def admin_client(client: TestClient, make_agent: MakeAgent) -> tuple[TestClient, Agent]:
    """The client signed in as an admin, sending its CSRF token the way htmx does."""
    admin = make_agent("root@example.com", role="admin", brands=())
    client.headers["X-CSRF-Token"] = login(client, "root@example.com")
    with Session(app_engine(client)) as session:  # brands the page accepts besides `default`
        for brand in ("acme", "globex"):
            session.add(Conversation(brand=brand, phone_e164="+12125550100", created_at=now()))
        session.commit()
    return client, admin


def stored(client: TestClient, email: str) -> Agent | None:
    with Session(app_engine(client)) as session:
        return find_agent(session, email=email)


def active(client: TestClient, email: str) -> bool:
    agent = stored(client, email)
    assert agent is not None, email
    return agent.active


def audit_log(client: TestClient) -> list[tuple[str, str | None, str | None]]:
    with Session(app_engine(client)) as session:
        rows = session.exec(
            select(AuditEntry.action, AuditEntry.target, AuditEntry.agent_id).order_by(
                col(AuditEntry.id)
            )
        ).all()
    return [(a, t, str(by) if by else None) for a, t, by in rows if a.startswith("agent.")]


def message(html: str, kind: str) -> str | None:
    found = re.search(rf'id="agents-{kind}"[^>]*>([^<]*)<', html)
    return found.group(1) if found else None


def form(**fields: str) -> dict[str, str]:
    return {
        "email": "Bea@Example.com ",
        "display_name": "Bea",
        "role": "supervisor",
        "brands": " acme, globex,,acme ",
        "team": "billing",
        "password": NEW_PASSWORD,
        **fields,
    }


def test_agents_page_lists_every_account(client: TestClient, make_agent: MakeAgent) -> None:
    client, admin = admin_client(client, make_agent)
    make_agent("ana@example.com", brands=("acme", "globex"))
    make_agent("old@example.com")
    with Session(app_engine(client)) as session:
        disable_agent(session, email="old@example.com")

    page = client.get("/console/agents")
    assert page.status_code == 200
    html = page.text
    assert 'href="/console/agents" class="current"' in html
    rows = re.findall(
        r'<tbody class="([^"]*)" id="agent-[0-9a-f-]+">\s*<tr>\s*<td>([^<]+)(.*?)</tr>', html, re.S
    )
    by_email = {email.strip(): (css, email + rest) for css, email, rest in rows}
    assert set(by_email) == {"root@example.com", "ana@example.com", "old@example.com"}
    assert "acme, globex" in by_email["ana@example.com"][1]
    assert "never" in by_email["ana@example.com"][1]  # last sign-in
    assert by_email["old@example.com"][0] == "agent inactive"
    assert "disabled" in by_email["old@example.com"][1]
    assert "UTC" in by_email["root@example.com"][1]  # signed in just now
    # A disable button for active others only: not for oneself, not for the disabled.
    assert "/disable" in by_email["ana@example.com"][1]
    assert "/disable" not in by_email["root@example.com"][1]
    assert "/disable" not in by_email["old@example.com"][1]
    assert 'hx-post="/console/agents"' in html and "style=" not in html
    assert admin.id  # the admin row is theirs
    assert f'id="agent-{admin.id}"' in html


def test_admin_adds_an_agent_who_can_then_sign_in(
    client: TestClient, make_agent: MakeAgent
) -> None:
    client, admin = admin_client(client, make_agent)
    response = client.post("/console/agents", data=form())
    assert response.status_code == 200, response.text
    assert message(response.text, "notice") == "Added supervisor bea@example.com."
    assert message(response.text, "error") is None
    assert 'id="agents-admin"' in response.text and "bea@example.com" in response.text
    assert 'value="bea@example.com"' not in response.text  # the form is empty again

    bea = stored(client, "bea@example.com")
    assert bea is not None and bea.active
    assert (bea.display_name, bea.role, bea.team) == ("Bea", "supervisor", "billing")
    assert bea.brands == ["acme", "globex"]
    assert audit_log(client) == [("agent.created", "bea@example.com", str(admin.id))]

    other = TestClient(client.app)
    login(other, "bea@example.com", NEW_PASSWORD)
    assert other.get("/console/dashboard").status_code == 200  # a supervisor now
    assert other.get("/console/agents").status_code == 403  # but not an admin


def test_brands_default_to_the_deployments_brand(client: TestClient, make_agent: MakeAgent) -> None:
    client, _ = admin_client(client, make_agent)
    response = client.post(
        "/console/agents",
        data=form(email="cy@example.com", role="agent", brands=" , ", team="", display_name=""),
    )
    assert message(response.text, "notice") == "Added agent cy@example.com."
    cy = stored(client, "cy@example.com")
    assert cy is not None
    assert (cy.brands, cy.team, cy.display_name) == (["default"], None, "cy")


def test_refused_additions_say_why_and_are_audited(
    client: TestClient, make_agent: MakeAgent
) -> None:
    client, admin = admin_client(client, make_agent)
    make_agent("ana@example.com")
    cases = [
        (form(email="ANA@example.com"), "an agent with email ana@example.com already exists"),
        (form(password="short pass"), "the password must be at least 12 characters long"),
        (form(role="root"), "role must be one of agent, supervisor, admin, not 'root'"),
        (form(email="not-an-email"), "not an email address: 'not-an-email'"),
        (
            form(team="biling"),
            "unknown team 'biling'; the teams are: accounts, appointments, billing, care, "
            "membership, orders, stores",
        ),
        (
            form(brands="acme, initech"),
            "unknown brand 'initech'; the brands are: default (Acme), acme, globex",
        ),
    ]
    for data, error in cases:
        response = client.post("/console/agents", data=data)
        assert response.status_code == 200
        shown = error[0].upper() + error[1:] + "."
        assert message(response.text, "error") == shown.replace("'", "&#39;"), data
        assert message(response.text, "notice") is None
        # What was typed comes back (the password never does).
        assert f'value="{data["email"]}"' in response.text
        assert data["password"] not in response.text
    assert stored(client, "bea@example.com") is None
    with Session(app_engine(client)) as session:
        assert len(session.exec(select(Agent)).all()) == 2
    refused = audit_log(client)
    assert [a for a, _, _ in refused] == ["agent.create_refused"] * len(cases)
    assert {by for _, _, by in refused} == {str(admin.id)}
    assert refused[0][1] == "ana@example.com"


def test_adding_needs_the_csrf_header_and_an_admin(
    client: TestClient, make_agent: MakeAgent
) -> None:
    client, _ = admin_client(client, make_agent)
    token = client.headers.pop("X-CSRF-Token")
    assert client.post("/console/agents", data=form()).status_code == 403
    wrong = client.post("/console/agents", data=form(), headers={"X-CSRF-Token": "x" + token})
    assert wrong.status_code == 403
    assert stored(client, "bea@example.com") is None

    make_agent("sue@example.com", role="supervisor")
    sue = TestClient(client.app)
    sue_token = login(sue, "sue@example.com")
    assert sue.get("/console/agents").status_code == 403
    refused = sue.post("/console/agents", data=form(), headers={"X-CSRF-Token": sue_token})
    assert refused.status_code == 403
    assert stored(client, "bea@example.com") is None
    assert 'href="/console/agents"' not in sue.get("/console/dashboard").text  # not in the nav

    anonymous = TestClient(client.app)
    page = anonymous.get("/console/agents", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2Fagents"
    assert audit_log(client) == []


def test_disabling_signs_the_agent_out(client: TestClient, make_agent: MakeAgent) -> None:
    client, admin = admin_client(client, make_agent)
    ana = make_agent("ana@example.com")
    ana_client = TestClient(client.app)
    login(ana_client, "ana@example.com")
    assert ana_client.get("/console/api/me").status_code == 200
    url = f"/console/agents/{ana.id}/disable"

    assert client.post(url, headers={"X-CSRF-Token": ""}).status_code == 403
    assert active(client, "ana@example.com")

    response = client.post(url)
    assert response.status_code == 200
    assert message(response.text, "notice") == "Disabled ana@example.com: signed out at once."
    assert not active(client, "ana@example.com")
    assert ana_client.get("/console/api/me").status_code == 401
    assert (
        ana_client.post(
            "/console/login", data={"email": "ana@example.com", "password": PASSWORD}
        ).status_code
        == 401
    )
    again = client.post(url)
    assert message(again.text, "notice") == "ana@example.com is already disabled."
    assert audit_log(client) == [("agent.disabled", "ana@example.com", str(admin.id))]


def test_an_admin_cannot_disable_themselves(client: TestClient, make_agent: MakeAgent) -> None:
    client, admin = admin_client(client, make_agent)
    response = client.post(f"/console/agents/{admin.id}/disable")
    assert message(response.text, "error") == "You cannot disable your own account."
    assert active(client, "root@example.com")
    assert client.get("/console/agents").status_code == 200  # still signed in
    missing = client.post("/console/agents/00000000-0000-0000-0000-000000000000/disable")
    assert message(missing.text, "error") == "There is no such agent."
    assert [a for a, _, _ in audit_log(client)] == ["agent.disable_refused"] * 2

    make_agent("ana@example.com")
    ana = TestClient(client.app)
    token = login(ana, "ana@example.com")
    forbidden = ana.post(f"/console/agents/{admin.id}/disable", headers={"X-CSRF-Token": token})
    assert forbidden.status_code == 403
    assert active(client, "root@example.com")


def test_a_disabled_agent_is_enabled_again(client: TestClient, make_agent: MakeAgent) -> None:
    client, admin = admin_client(client, make_agent)
    ana = make_agent("ana@example.com")
    with Session(app_engine(client)) as session:
        disable_agent(session, email="ana@example.com")
    page = client.get("/console/agents").text
    assert f'hx-post="/console/agents/{ana.id}/enable"' in page
    response = client.post(f"/console/agents/{ana.id}/enable")
    assert message(response.text, "notice") == "Enabled ana@example.com: they can sign in again."
    assert active(client, "ana@example.com")
    assert f'hx-post="/console/agents/{ana.id}/enable"' not in response.text
    signed_in = TestClient(client.app).post(
        "/console/login", data={"email": "ana@example.com", "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    again = client.post(f"/console/agents/{ana.id}/enable")
    assert message(again.text, "notice") == "ana@example.com is already active."
    assert audit_log(client) == [("agent.enabled", "ana@example.com", str(admin.id))]


def test_setting_a_password_ends_the_agents_sessions(
    client: TestClient, make_agent: MakeAgent
) -> None:
    client, _ = admin_client(client, make_agent)
    ana = make_agent("ana@example.com")
    ana_client = TestClient(client.app)
    login(ana_client, "ana@example.com")
    assert ana_client.get("/console/api/me").status_code == 200

    weak = client.post(f"/console/agents/{ana.id}/password", data={"password": "short"})
    assert message(weak.text, "error") == "The password must be at least 12 characters long."
    assert ana_client.get("/console/api/me").status_code == 200  # nothing changed

    done = client.post(f"/console/agents/{ana.id}/password", data={"password": NEW_PASSWORD})
    assert message(done.text, "notice") == (
        "New password set for ana@example.com: their sessions have ended."
    )
    assert ana_client.get("/console/api/me").status_code == 401
    old = {"email": "ana@example.com", "password": PASSWORD}
    assert TestClient(client.app).post("/console/login", data=old).status_code == 401
    new = {"email": "ana@example.com", "password": NEW_PASSWORD}
    assert TestClient(client.app).post("/console/login", data=new).status_code == 200
    assert [a for a, _, _ in audit_log(client)] == ["agent.password_refused", "agent.password_set"]


def test_an_admin_setting_their_own_password_stays_signed_in(
    client: TestClient, make_agent: MakeAgent
) -> None:
    client, admin = admin_client(client, make_agent)
    elsewhere = TestClient(client.app)
    login(elsewhere, "root@example.com")
    done = client.post(f"/console/agents/{admin.id}/password", data={"password": NEW_PASSWORD})
    assert "your other sessions have ended" in (message(done.text, "notice") or "")
    assert client.get("/console/agents").status_code == 200
    assert elsewhere.get("/console/api/me").status_code == 401


def test_an_admin_edits_an_agents_role_brands_and_team(
    client: TestClient, make_agent: MakeAgent
) -> None:
    client, admin = admin_client(client, make_agent)
    ana = make_agent("ana@example.com")
    ana_client = TestClient(client.app)
    login(ana_client, "ana@example.com")
    assert ana_client.get("/console/dashboard").status_code == 403

    edit = {
        "display_name": "Ana B",
        "role": "supervisor",
        "brands": "acme, globex",
        "team": "billing",
    }
    done = client.post(f"/console/agents/{ana.id}/edit", data=edit)
    assert message(done.text, "notice") == "Saved ana@example.com."
    saved = stored(client, "ana@example.com")
    assert saved is not None
    assert (saved.display_name, saved.role, saved.brands, saved.team) == (
        "Ana B", "supervisor", ["acme", "globex"], "billing",
    )  # fmt: skip
    assert ana_client.get("/console/dashboard").status_code == 200  # on her next request
    assert 'value="acme, globex"' in done.text  # the form shows what is stored

    cleared = client.post(
        f"/console/agents/{ana.id}/edit", data={**edit, "brands": " ", "team": ""}
    )
    assert message(cleared.text, "notice") == "Saved ana@example.com."
    saved = stored(client, "ana@example.com")
    assert saved is not None and saved.brands == ["default"] and saved.team is None

    bad = client.post(f"/console/agents/{ana.id}/edit", data={**edit, "role": "root"})
    assert "Role must be one of agent, supervisor, admin" in (message(bad.text, "error") or "")
    own = client.post(f"/console/agents/{admin.id}/edit", data={**edit, "role": "agent"})
    assert message(own.text, "error") == "You cannot change your own role."
    stored_admin = stored(client, "root@example.com")
    assert stored_admin is not None and stored_admin.role == "admin"
    assert [a for a, _, _ in audit_log(client)] == [
        "agent.edited", "agent.edited", "agent.edit_refused", "agent.edit_refused",
    ]  # fmt: skip


def test_the_page_names_the_brands_and_offers_the_teams(
    client: TestClient, make_agent: MakeAgent
) -> None:
    client, _ = admin_client(client, make_agent)
    make_agent("ana@example.com", brands=("default", "acme"))
    html = client.get("/console/agents").text
    assert "default (Acme), acme" in html  # ana's row: the brand id with its display name
    hint = re.search(r'<p class="small muted" id="brand-choices">(.*?)</p>', html, re.S)
    assert hint is not None
    assert re.sub(r"<[^>]+>", "", hint.group(1)) == "Brand ids: default (Acme), acme, globex"
    new_team = html.split('id="new-team"')[-1].split("</select>")[0]
    options = re.findall(r'<option value="([a-z]+)" title="[^"]+">', new_team)
    assert options == [
        "accounts",
        "appointments",
        "billing",
        "care",
        "membership",
        "orders",
        "stores",
    ]

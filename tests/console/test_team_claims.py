"""An item routed to a team is taken only by that team (or a supervisor), even by its id."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.storage.tables import Agent, AuditEntry, HandoffItem
from tests.console.conftest import MakeAgent, app_engine, login, queue_item


def _routed(engine: Engine, team: str, phone: str = "+12125550123") -> uuid.UUID:
    item_id = queue_item(engine, phone=phone)
    with Session(engine) as session:
        item = session.get(HandoffItem, item_id)
        assert item is not None
        item.team = team
        session.add(item)
        session.commit()
    return item_id


def _on_team(
    client: TestClient, make_agent: MakeAgent, email: str, team: str, role: str = "agent"
) -> TestClient:
    agent = make_agent(email, role=role)
    with Session(app_engine(client)) as session:
        stored = session.get(Agent, agent.id)
        assert stored is not None
        stored.team = team
        session.add(stored)
        session.commit()
    browser = TestClient(client.app)
    browser.headers["X-CSRF-Token"] = login(browser, email)
    return browser


def test_another_teams_item_cannot_be_claimed_by_its_id(
    client: TestClient, make_agent: MakeAgent
) -> None:
    engine = app_engine(client)
    item_id = _routed(engine, "billing")
    stu = _on_team(client, make_agent, "stu@example.com", "stores")
    response = stu.post(f"/console/api/queue/{item_id}/claim")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    # The console's own button is refused the same way.
    page = stu.post(f"/console/items/{item_id}/claim", headers={"HX-Request": "true"})
    assert "another team" in page.text
    snooze = stu.post(f"/console/api/queue/{item_id}/snooze", json={"minutes": 30})
    assert snooze.status_code == 403
    with Session(engine) as session:
        item = session.get(HandoffItem, item_id)
        assert item is not None and item.status == "open" and item.assigned_to is None
        refused = session.exec(
            select(AuditEntry)
            .where(AuditEntry.action == "queue.claim_refused")
            .order_by(col(AuditEntry.id))
        ).all()
    assert [entry.detail["result"] for entry in refused] == ["forbidden", "forbidden"]


def test_the_team_and_a_supervisor_still_claim_it(
    client: TestClient, make_agent: MakeAgent
) -> None:
    engine = app_engine(client)
    first = _routed(engine, "billing", "+12125550101")
    second = _routed(engine, "billing", "+12125550102")
    bill = _on_team(client, make_agent, "bill@example.com", "billing")
    assert bill.post(f"/console/api/queue/{first}/claim").status_code == 200
    sue = _on_team(client, make_agent, "sue@example.com", "stores", role="supervisor")
    assert sue.post(f"/console/api/queue/{second}/claim").status_code == 200

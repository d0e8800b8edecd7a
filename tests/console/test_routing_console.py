"""Routing through the real app: the availability toggle, capacity (page and CLI), who is on
what on the dashboard, and a re-queued item in the queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app import clock
from app.cli import app
from app.config import Settings, get_settings
from app.handoff.requeue import requeue
from app.handoff.routing import Routing, auto_assign
from app.storage import open_database
from app.storage.tables import Agent, AuditEntry, HandoffItem
from tests.console.conftest import MakeAgent, app_engine, login, queue_item


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Routing on: least busy, capacity 2, re-queue after 10 business minutes, every day."""
    return Settings(
        data_dir=tmp_path / "data",
        env="test",
        bot="off",
        auto_assign="least_busy",
        agent_capacity=2,
        requeue_after_minutes=10,
        business_hours="mon-sun 00:00-23:59",
        business_holidays=None,
    )


T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


def signed_in(
    client: TestClient, make_agent: MakeAgent, email: str, role: str = "agent"
) -> TestClient:
    make_agent(email, role=role)
    browser = TestClient(client.app)
    browser.headers["X-CSRF-Token"] = login(browser, email)
    return browser


def audits(client: TestClient, action: str) -> list[AuditEntry]:
    with Session(app_engine(client)) as session:
        return list(
            session.exec(
                select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
            ).all()
        )


def test_going_online_takes_waiting_items_and_is_audited(
    client: TestClient, make_agent: MakeAgent
) -> None:
    engine = app_engine(client)
    waiting = [queue_item(engine, phone=f"+1212555010{n}", age_minutes=10 - n) for n in range(3)]
    ann = signed_in(client, make_agent, "ann@example.com")
    page = ann.get("/console/")
    assert 'id="availability"' in page.text and ">Away</button>" in page.text

    no_csrf = TestClient(client.app, cookies=ann.cookies)
    assert no_csrf.post("/console/availability/online").status_code == 403

    answer = ann.post("/console/availability/online", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert ">Online</button>" in answer.text and "/console/availability/away" in answer.text
    with Session(engine) as session:
        items = [session.get(HandoffItem, i) for i in waiting]
    # Capacity 2: the two that waited longest are hers now; the third still waits.
    assert [(i.status if i else None) for i in items] == ["claimed", "claimed", "open"]
    assert [a.detail for a in audits(client, "agent.availability")] == [
        {"availability": "online", "given": 2}
    ]
    assert {a.detail["by"] for a in audits(client, "queue.assign")} == {"auto"}

    refused = ann.post("/console/availability/busy", headers={"HX-Request": "true"})
    assert "either online or away" in refused.text
    assert len(audits(client, "agent.availability_refused")) == 1
    ann.post("/console/availability/away")
    with Session(engine) as session:
        me = session.exec(select(Agent).where(Agent.email == "ann@example.com")).one()
        assert me.availability == "away"


def test_admin_sets_capacity_and_bad_values_are_refused(
    client: TestClient, make_agent: MakeAgent
) -> None:
    admin = signed_in(client, make_agent, "root@example.com", role="admin")
    bob = make_agent("bob@example.com")
    ok = admin.post(f"/console/agents/{bob.id}/capacity", data={"capacity": "4"})
    assert "Capacity of bob@example.com: 4." in ok.text
    bad = admin.post(f"/console/agents/{bob.id}/capacity", data={"capacity": "lots"})
    assert "capacity must be a whole number from 1 to 100" in bad.text.lower()
    zero = admin.post(f"/console/agents/{bob.id}/capacity", data={"capacity": "0"})
    assert "from 1 to 100" in zero.text
    back = admin.post(f"/console/agents/{bob.id}/capacity", data={"capacity": ""})
    assert "the default, 2" in back.text
    assert [a.detail["capacity"] for a in audits(client, "agent.capacity")] == [4, None]
    assert len(audits(client, "agent.capacity_refused")) == 2
    agent = signed_in(client, make_agent, "eve@example.com")
    assert (
        agent.post(f"/console/agents/{bob.id}/capacity", data={"capacity": "3"}).status_code == 403
    )


def test_dashboard_shows_who_is_on_what_and_the_queue_who_an_item_was_taken_from(
    client: TestClient, make_agent: MakeAgent
) -> None:
    with clock.frozen(T0):
        _who_is_on_what(client, make_agent)


def _who_is_on_what(client: TestClient, make_agent: MakeAgent) -> None:
    engine = app_engine(client)
    ann = signed_in(client, make_agent, "ann@example.com")
    ann.post("/console/availability/online")
    item_id = queue_item(engine)
    boss = signed_in(client, make_agent, "boss@example.com", role="supervisor")
    with Session(engine) as session:
        item = session.get(HandoffItem, item_id)
        assert item is not None and item.status == "open"  # queue_item does not route
        routing = Routing.from_settings(client.app.state.runtime.settings)  # type: ignore[attr-defined]
        assert auto_assign(session, routing=routing, item=item) is not None
        session.commit()
    table = boss.get("/console/dashboard").text
    assert 'id="who-is-on-what"' in table and "auto-assign: least busy" in table
    row = table.split('<tr id="workload-')[1]  # agents by email: ann first
    assert "ann" in row and "online" in row and "1 / 2" in row

    with Session(engine) as session:
        done = requeue(session, routing=routing, at=T0 + timedelta(minutes=10))
        session.commit()
    assert len(done) == 1 and done[0].to_agent is None  # nobody else online
    queue = boss.get("/console/").text
    assert f'id="requeued-{item_id}"' in queue and "re-queued from ann" in queue


def test_cli_sets_and_lists_capacity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SMSDESK_ENV", "test")
    get_settings.cache_clear()
    runner = CliRunner()
    added = runner.invoke(
        app, ["agents", "add", "ann@example.com", "--password-stdin"], input="a long password!\n"
    )
    assert added.exit_code == 0, added.output
    done = runner.invoke(app, ["agents", "capacity", "ann@example.com", "3"])
    assert done.exit_code == 0 and "capacity of ann@example.com: 3" in done.output
    listed = runner.invoke(app, ["agents", "list"]).output
    assert "\taway\tcapacity 3" in listed
    bad = runner.invoke(app, ["agents", "capacity", "ann@example.com", "none"])
    assert bad.exit_code == 2 and "capacity must be a whole number" in bad.output
    back = runner.invoke(app, ["agents", "capacity", "ann@example.com", "default"])
    assert "capacity of ann@example.com: 5 (default)" in back.output
    engine = open_database(get_settings().db_url)
    with Session(engine) as session:
        actions = session.exec(
            select(AuditEntry.action).where(AuditEntry.target == "ann@example.com")
        ).all()
    engine.dispose()
    assert actions.count("agent.capacity") == 2
    get_settings.cache_clear()


def test_a_bulk_resolve_frees_places_that_waiting_items_fill(
    client: TestClient, make_agent: MakeAgent
) -> None:
    engine = app_engine(client)
    waiting = [queue_item(engine, phone=f"+1212555020{n}", age_minutes=10 - n) for n in range(3)]
    ann = signed_in(client, make_agent, "ann@example.com")
    ann.post("/console/availability/online")  # capacity 2: the two oldest are hers
    spam = ann.post(
        "/console/api/queue/bulk",
        json={"action": "spam", "item_ids": [str(i) for i in waiting[:2]]},
    )
    assert spam.status_code == 200, spam.text
    assert [r["result"] for r in spam.json()["results"]] == ["ok", "ok"]
    with Session(engine) as session:
        third = session.get(HandoffItem, waiting[2])
        ann_id = session.exec(select(Agent.id).where(Agent.email == "ann@example.com")).one()
    assert third is not None and (third.status, third.assigned_to) == ("claimed", ann_id)

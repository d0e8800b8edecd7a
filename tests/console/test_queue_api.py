"""The console queue API: brand visibility, order, claim/release/resolve, and the claim race."""

from __future__ import annotations

import threading
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.handoff import claims
from app.storage.messages import now
from app.storage.tables import Agent, AuditEntry, Conversation, HandoffItem
from tests.console.conftest import MakeAgent, app_engine, login, queue_item


def signed_in(
    client: TestClient, make_agent: MakeAgent, email: str, **kwargs: object
) -> TestClient:
    """A second client on the same running app, signed in as a new agent."""
    make_agent(email, **kwargs)
    other = TestClient(client.app)
    other.headers["X-CSRF-Token"] = login(other, email)
    return other


def test_queue_shows_the_agents_brands_by_priority_then_age(
    client: TestClient, make_agent: MakeAgent
) -> None:
    engine = app_engine(client)
    old = queue_item(engine, phone="+12125550101", reasons=("no_knowledge",), age_minutes=30)
    safety = queue_item(engine, phone="+12125550102", reasons=("safety_language",))
    older_safety = queue_item(
        engine, phone="+12125550103", reasons=("safety_language",), age_minutes=5
    )
    other_brand = queue_item(engine, brand="globex", phone="+12125550104")
    ana = signed_in(client, make_agent, "ana@example.com", brands=("acme",))
    items = ana.get("/console/api/queue").json()
    assert [i["id"] for i in items] == [str(older_safety), str(safety), str(old)]
    assert items[0]["phone"] == "+12125550103" and items[0]["reasons"] == ["safety_language"]
    assert items[2]["wait_seconds"] >= 30 * 60
    admin = signed_in(client, make_agent, "root@example.com", role="admin", brands=())
    assert str(other_brand) in {i["id"] for i in admin.get("/console/api/queue").json()}
    # Another brand's item does not exist as far as this agent can tell.
    assert ana.post(f"/console/api/queue/{other_brand}/claim").status_code == 404
    assert ana.post(f"/console/api/queue/{uuid.uuid4()}/claim").status_code == 404


def test_claim_release_resolve_and_return_to_bot(client: TestClient, make_agent: MakeAgent) -> None:
    engine = app_engine(client)
    item = queue_item(engine)
    ana = signed_in(client, make_agent, "ana@example.com")
    bob = signed_in(client, make_agent, "bob@example.com")
    url = f"/console/api/queue/{item}"

    claimed = ana.post(f"{url}/claim")
    assert claimed.status_code == 200 and claimed.json()["status"] == "claimed"
    taken = bob.post(f"{url}/claim")
    assert taken.status_code == 409 and taken.json()["error"]["status"] == "claimed"
    assert bob.post(f"{url}/release").status_code == 409  # not his to release
    assert bob.post(f"{url}/resolve", json={"outcome": "resolved"}).status_code == 409
    assert [i["id"] for i in ana.get("/console/api/queue", params={"view": "mine"}).json()] == [
        str(item)
    ]
    assert ana.get("/console/api/queue").json() == []  # no longer open

    assert ana.post(f"{url}/release").json()["status"] == "open"
    assert bob.post(f"{url}/claim").status_code == 200
    assert bob.post(f"{url}/resolve", json={"outcome": "bogus"}).status_code == 400
    done = bob.post(f"{url}/resolve", json={"outcome": "return_to_bot", "note": "answered"})
    assert done.status_code == 200 and done.json()["outcome"] == "return_to_bot"
    assert bob.post(f"{url}/claim").status_code == 409

    with Session(engine) as session:
        row = session.get(HandoffItem, item)
        assert row is not None and row.status == "resolved" and row.resolved_at is not None
        conversation = session.get(Conversation, row.conversation_id)
        assert conversation is not None and conversation.status == "bot"
        audited = session.exec(
            select(AuditEntry.action)
            .where(AuditEntry.target == str(item))
            .order_by(col(AuditEntry.id))
        ).all()
    assert audited == [
        "queue.claim",
        "queue.claim_refused",
        "queue.release_refused",
        "queue.resolve_refused",
        "queue.release",
        "queue.claim",
        "queue.resolve",
        "queue.claim_refused",
    ]


def test_two_agents_claiming_at_once_over_http_one_wins(
    client: TestClient, make_agent: MakeAgent
) -> None:
    item = queue_item(app_engine(client))
    clients = [signed_in(client, make_agent, f"a{n}@example.com") for n in range(2)]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def click(agent_client: TestClient) -> None:
        barrier.wait()
        codes.append(agent_client.post(f"/console/api/queue/{item}/claim").status_code)

    threads = [threading.Thread(target=click, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200, 409]


def _race(engine: Engine, agents: list[Agent], item_id: uuid.UUID) -> dict[uuid.UUID, str]:
    barrier = threading.Barrier(len(agents))
    results: dict[uuid.UUID, str] = {}

    def claim(agent: Agent) -> None:
        with Session(engine) as session:
            barrier.wait()
            results[agent.id] = claims.claim(session, agent=agent, item_id=item_id)
            session.commit()

    threads = [threading.Thread(target=claim, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_claims_have_exactly_one_winner(engine: Engine) -> None:
    """Many racers on a real SQLite file and a real PostgreSQL: the UPDATE decides."""
    with Session(engine, expire_on_commit=False) as session:
        agents = [
            Agent(
                email=f"racer{n}@example.com",
                display_name=f"racer {n}",
                role="agent",
                password_hash="not-a-real-hash",
                brands=["acme"],
                created_at=now(),
            )
            for n in range(4)
        ]
        session.add_all(agents)
        session.commit()
    items = [queue_item(engine, phone=f"+1212555020{n}") for n in range(3)]
    for item in items:
        results = _race(engine, agents, item)
        assert sorted(results.values()) == ["conflict"] * 3 + ["ok"]
        winner = next(agent_id for agent_id, r in results.items() if r == "ok")
        with Session(engine) as session:
            row = session.get(HandoffItem, item)
            assert row is not None and row.assigned_to == winner and row.status == "claimed"


def test_transfer_snooze_and_assign_through_the_api(
    client: TestClient, make_agent: MakeAgent
) -> None:
    ana = make_agent("ana@example.com")
    bo = make_agent("bo@example.com")
    make_agent("sue@example.com", role="supervisor")
    item_id = queue_item(app_engine(client))
    csrf = login(client, "ana@example.com")
    headers = {"X-CSRF-Token": csrf}
    assert client.post(f"/console/api/queue/{item_id}/claim", headers=headers).status_code == 200
    both = client.post(
        f"/console/api/queue/{item_id}/transfer",
        json={"agent_id": str(bo.id), "team": "billing"},
        headers=headers,
    )
    assert both.status_code == 400
    moved = client.post(
        f"/console/api/queue/{item_id}/transfer", json={"agent_id": str(bo.id)}, headers=headers
    )
    assert moved.status_code == 200 and moved.json()["assigned_to"] == str(bo.id)
    # No longer Ana's: she can neither transfer nor snooze it.
    again = client.post(
        f"/console/api/queue/{item_id}/transfer", json={"team": "billing"}, headers=headers
    )
    assert again.status_code == 409
    assert (
        client.post(
            f"/console/api/queue/{item_id}/assign", json={"agent_id": str(ana.id)}, headers=headers
        ).status_code
        == 403
    )

    csrf = login(client, "sue@example.com")
    headers = {"X-CSRF-Token": csrf}
    assigned = client.post(
        f"/console/api/queue/{item_id}/assign", json={"agent_id": str(ana.id)}, headers=headers
    )
    assert assigned.status_code == 200 and assigned.json()["assigned_to"] == str(ana.id)
    snoozed = client.post(
        f"/console/api/queue/{item_id}/snooze", json={"minutes": 60}, headers=headers
    )
    assert snoozed.status_code == 200
    views = {
        view: [row["id"] for row in client.get(f"/console/api/queue?view={view}").json()]
        for view in ("claimed", "snoozed")
    }
    assert views == {"claimed": [], "snoozed": [str(item_id)]}


def test_an_item_routed_to_a_team_waits_for_that_team(
    client: TestClient, make_agent: MakeAgent
) -> None:
    engine = app_engine(client)
    routed = queue_item(engine, phone="+12125550101")
    unrouted = queue_item(engine, phone="+12125550102")
    with Session(engine) as session:
        item = session.get(HandoffItem, routed)
        assert item is not None
        item.team = "billing"
        session.add(item)
        session.commit()
    seen: dict[str, set[str]] = {}
    for email, role, team in (
        ("bill@example.com", "agent", "billing"),
        ("stu@example.com", "agent", "stores"),
        ("any@example.com", "agent", None),
        ("sue@example.com", "supervisor", "stores"),
    ):
        agent = make_agent(email, role=role)
        with Session(engine) as session:
            stored = session.get(Agent, agent.id)
            assert stored is not None
            stored.team = team
            session.add(stored)
            session.commit()
        login(client, email)
        seen[email] = {row["id"] for row in client.get("/console/api/queue").json()}
    both, only_unrouted = {str(routed), str(unrouted)}, {str(unrouted)}
    assert seen == {
        "bill@example.com": both,
        "stu@example.com": only_unrouted,
        "any@example.com": both,
        "sue@example.com": both,
    }

"""Routing on SQLite and PostgreSQL: who is given a new item, in what order, up to what
capacity, and the re-queue of an item whose owner did not reply in N business minutes.

Every instant is given (the clock is frozen at a Tuesday morning in New York): nothing here
reads the wall clock.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app import clock
from app.console.auth import start_session
from app.handoff.agents import create_agent
from app.handoff.queue import hand_off
from app.handoff.requeue import Watched, overdue, requeue
from app.handoff.routing import Routing, Strategy, auto_assign, fill, set_availability
from app.handoff.sla import BusinessClock
from app.storage.tables import Agent, AgentSession, AuditEntry, Conversation, HandoffItem, Message

TUESDAY_10AM = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)  # 10:00 in New York
BUSINESS = BusinessClock("mon-fri 09:00-18:00", "America/New_York", "US")
PASSWORD = "correct horse battery"
_NUMBERS = itertools.count(1000)  # distinct customer numbers: +12125551000, +12125551001, ...


@pytest.fixture(autouse=True)
def stopped() -> Iterator[clock.FrozenClock]:
    with clock.frozen(TUESDAY_10AM) as frozen:
        yield frozen


def routing(
    strategy: Strategy = "least_busy", *, capacity: int = 5, requeue_minutes: int = 0
) -> Routing:
    return Routing(strategy, capacity, requeue_minutes, BUSINESS)


def agent(
    engine: Engine,
    name: str,
    *,
    online: bool = True,
    signed_in: bool = True,
    team: str | None = None,
    brands: tuple[str, ...] = ("acme",),
    capacity: int | None = None,
) -> uuid.UUID:
    with Session(engine, expire_on_commit=False) as session:
        made = create_agent(
            session,
            email=f"{name}@example.com",
            password=PASSWORD,
            brands=list(brands),
            team=team,
        )
        made.capacity = capacity
        set_availability(session, agent=made, availability="online" if online else "away")
        if signed_in:
            start_session(session, agent=made, ip=None)
        session.commit()
        return made.id


def new_item(
    engine: Engine,
    policy: Routing,
    *,
    brand: str = "acme",
    team: str | None = None,
    phone: str | None = None,
) -> tuple[uuid.UUID, uuid.UUID | None]:
    """A text escalates: (item id, who auto-assignment gave it to)."""
    phone = phone or f"+1212555{next(_NUMBERS):04d}"
    with Session(engine) as session:
        conversation = Conversation(brand=brand, phone_e164=phone, created_at=clock.now())
        session.add(conversation)
        item = hand_off(session, conversation=conversation, reasons=["low_confidence"], team=team)
        given = auto_assign(session, routing=policy, item=item)
        session.commit()
        return item.id, given.id if given else None


def email(engine: Engine, agent_id: uuid.UUID | None) -> str | None:
    if agent_id is None:
        return None
    with Session(engine) as session:
        found = session.get(Agent, agent_id)
        assert found is not None
        return found.email.split("@")[0]


def owners(engine: Engine, policy: Routing, count: int) -> list[str | None]:
    return [email(engine, new_item(engine, policy)[1]) for _ in range(count)]


def test_round_robin_takes_turns_in_order(engine: Engine) -> None:
    for name in ("ann", "bob", "cat"):
        agent(engine, name)
    assert owners(engine, routing("round_robin"), 6) == ["ann", "bob", "cat"] * 2


def test_least_busy_gives_to_the_agent_with_fewest_items(engine: Engine) -> None:
    ann, bob = agent(engine, "ann"), agent(engine, "bob")
    policy = routing("least_busy")
    first, _ = new_item(engine, policy)
    # Bob resolves nothing; ann resolves hers: she has 0 claimed, bob then gets one, ...
    with Session(engine) as session:
        item = session.get(HandoffItem, first)
        assert item is not None and item.assigned_to == ann
        item.status = "resolved"
        session.add(item)
        session.commit()
    assert owners(engine, policy, 3) == ["bob", "ann", "bob"]
    with Session(engine) as session:
        counts = {
            a: len(
                session.exec(
                    select(HandoffItem).where(
                        HandoffItem.assigned_to == a, HandoffItem.status == "claimed"
                    )
                ).all()
            )
            for a in (ann, bob)
        }
    assert counts == {ann: 1, bob: 2}


def test_only_online_signed_in_agents_of_the_brand_and_team_are_given_items(
    engine: Engine,
) -> None:
    agent(engine, "away", online=False)
    agent(engine, "gone", signed_in=False)
    agent(engine, "other", brands=("beta",))
    agent(engine, "stores", team="stores")
    billing = agent(engine, "billing", team="billing")
    policy = routing("round_robin")
    assert email(engine, new_item(engine, policy, team="billing")[1]) == "billing"
    # An unrouted item goes to anyone on the brand with a team or not; `stores` is next.
    assert email(engine, new_item(engine, policy)[1]) == "stores"
    # Nobody of brand beta is online and under capacity except `other`.
    assert email(engine, new_item(engine, policy, brand="beta")[1]) == "other"
    # A session that expired counts as signed out: billing's turn is gone.
    with Session(engine) as session:
        for row in session.exec(select(AgentSession).where(AgentSession.agent_id == billing)):
            row.expires_at = TUESDAY_10AM - timedelta(seconds=1)
            session.add(row)
        session.commit()
    assert new_item(engine, policy, team="billing")[1] is None


def test_capacity_and_the_off_switch(engine: Engine) -> None:
    agent(engine, "ann", capacity=1)
    agent(engine, "bob")  # the default capacity: 2
    policy = routing("least_busy", capacity=2)
    assert owners(engine, policy, 4) == ["ann", "bob", "bob", None]
    item, given = new_item(engine, routing("off"))
    assert given is None
    with Session(engine) as session:
        waiting = session.get(HandoffItem, item)
        assert waiting is not None and waiting.status == "open"
        audited = session.exec(select(AuditEntry).where(AuditEntry.action == "queue.assign")).all()
    assert len(audited) == 3 and {a.detail["by"] for a in audited} == {"auto"}


def test_an_agent_coming_online_is_given_the_waiting_items_up_to_capacity(
    engine: Engine, stopped: clock.FrozenClock
) -> None:
    policy = routing("least_busy", capacity=2)
    ann = agent(engine, "ann", online=False)
    waiting = []
    for _ in range(3):
        waiting.append(new_item(engine, policy)[0])
        stopped.advance(timedelta(seconds=1))  # the oldest waits longest: it goes first
    with Session(engine) as session:
        found = session.get(Agent, ann)
        assert found is not None
        set_availability(session, agent=found, availability="online")
        given = fill(session, routing=policy, agent=found)
        session.commit()
    assert given == waiting[:2]


def test_concurrent_workers_never_exceed_capacity(engine: Engine) -> None:
    """Eight workers route at once to two agents of capacity 2: exactly 4 are given out."""
    for name in ("ann", "bob"):
        agent(engine, name)
    policy = routing("round_robin", capacity=2)
    results: list[uuid.UUID | None] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for attempt in range(5):
            try:
                results.append(new_item(engine, policy)[1])
                return
            except Exception:  # SQLite: database is locked under contention; try again
                if attempt == 4:
                    raise

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    given = [r for r in results if r is not None]
    assert len(results) == 8 and len(given) == 4
    assert sorted(given.count(a) for a in set(given)) == [2, 2]


# --- re-queue ----------------------------------------------------------------------------


def test_overdue_counts_business_minutes_only() -> None:
    policy = routing(requeue_minutes=10)
    friday_5_55pm = datetime(2026, 6, 5, 21, 55, tzinfo=UTC)
    monday_9_04am = datetime(2026, 6, 8, 13, 4, tzinfo=UTC)
    monday_9_05am = datetime(2026, 6, 8, 13, 5, tzinfo=UTC)
    late = Watched(uuid.uuid4(), uuid.uuid4(), friday_5_55pm, None)
    answered = Watched(uuid.uuid4(), uuid.uuid4(), friday_5_55pm, monday_9_04am)
    assert overdue([late, answered], at=monday_9_04am, routing=policy) == []
    assert overdue([late, answered], at=monday_9_05am, routing=policy) == [late]
    assert overdue([late], at=monday_9_05am, routing=routing(requeue_minutes=0)) == []


def test_an_unanswered_item_goes_back_to_the_queue_and_then_to_the_next_agent(
    engine: Engine,
) -> None:
    policy = routing("round_robin", requeue_minutes=10)
    ann = agent(engine, "ann")
    item_id, given = new_item(engine, policy)
    assert given == ann
    with Session(engine) as session:
        assert requeue(session, routing=policy, at=TUESDAY_10AM + timedelta(minutes=9)) == []
        done = requeue(session, routing=policy, at=TUESDAY_10AM + timedelta(minutes=10))
        session.commit()
    # Nobody else is online: it waits in the open queue, marked as taken back from ann.
    assert [(d.from_agent, d.to_agent) for d in done] == [(ann, None)]
    with Session(engine) as session:
        item = session.get(HandoffItem, item_id)
        assert item is not None
        assert (item.status, item.assigned_to, item.requeued_from) == ("open", None, ann)
        actions = session.exec(
            select(AuditEntry.action)
            .where(AuditEntry.target == str(item_id))
            .order_by(col(AuditEntry.id))
        ).all()
    assert actions == ["queue.assign", "queue.requeued"]
    # Ann coming back online is not given it again; bob, signing in, is.
    bob = agent(engine, "bob")
    with Session(engine) as session:
        for who in (ann, bob):
            found = session.get(Agent, who)
            assert found is not None
            fill(session, routing=policy, agent=found)
        session.commit()
        item = session.get(HandoffItem, item_id)
        assert item is not None and item.assigned_to == bob


def test_a_reply_keeps_the_item_and_auto_assign_passes_it_on(engine: Engine) -> None:
    policy = routing("round_robin", requeue_minutes=10)
    ann, bob = agent(engine, "ann"), agent(engine, "bob")
    answered, _ = new_item(engine, policy)
    silent, _ = new_item(engine, policy)
    with Session(engine) as session:
        item = session.get(HandoffItem, answered)
        assert item is not None and item.assigned_to == ann
        at = TUESDAY_10AM + timedelta(minutes=3)
        session.add(
            Message(
                conversation_id=item.conversation_id,
                direction="outbound",
                provider="console",
                body="Looking into it now.",
                purpose="agent",
                status="sent",
                created_at=at,
                updated_at=at,
            )
        )
        session.commit()
    with Session(engine) as session:
        done = requeue(session, routing=policy, at=TUESDAY_10AM + timedelta(minutes=30))
        session.commit()
    # Bob's silent item goes to ann (the only other online agent); ann's answered one stays.
    assert [(d.item_id, d.from_agent, d.to_agent) for d in done] == [(silent, bob, ann)]

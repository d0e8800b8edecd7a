"""Searching and filtering the human queue, on a real SQLite file and a real PostgreSQL.

The search reads a number in any form, a customer's name and the words of the texts; the
filters narrow by reason (a JSON list), team, state, owner and date; brand isolation and team
scopes hold whatever is searched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app import clock
from app.handoff import claims
from app.handoff.search import QueueFilter, Search
from app.pipeline.decision import Reason
from app.storage.tables import Agent, Conversation, CustomerRecord, HandoffItem, Message

AT = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    """Snoozes and date filters read the clock: it stands still at AT."""
    with clock.frozen(AT):
        yield


def _agent(session: Session, name: str, *, role: str = "agent", **fields: object) -> Agent:
    agent = Agent(
        email=f"{name.lower()}@example.com",
        display_name=name,
        role=role,
        password_hash="not-a-real-hash",
        brands=["acme"],
        created_at=AT,
        **fields,
    )
    session.add(agent)
    return agent


def _item(
    session: Session,
    phone: str,
    *texts: str,
    brand: str = "acme",
    reasons: Sequence[str] = ("bot_disabled",),
    days_ago: int = 0,
    **fields: object,
) -> HandoffItem:
    created = AT - timedelta(days=days_ago, minutes=len(phone))
    conversation = Conversation(brand=brand, phone_e164=phone, created_at=created)
    session.add(conversation)
    for n, body in enumerate(texts):
        at = created + timedelta(seconds=n)
        session.add(
            Message(
                conversation_id=conversation.id,
                direction="inbound" if n % 2 == 0 else "outbound",
                provider="twilio",
                body=body,
                status="processed",
                created_at=at,
                updated_at=at,
            )
        )
    item = HandoffItem(
        conversation_id=conversation.id,
        reasons=list(reasons),
        created_at=created,
        **fields,
    )
    session.add(item)
    return item


class Desk:
    """Agents and queue items of two brands, committed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with Session(engine, expire_on_commit=False) as s:
            self.ann = _agent(s, "Ann")
            self.bill = _agent(s, "Bill", team="billing")
            self.stu = _agent(s, "Stu", team="stores")
            self.sue = _agent(s, "Sue", role="supervisor", team="stores")
            s.flush()
            self.refund = _item(s, "+12125550101", "Where is my REFUND for order AC10442?", "On it")
            self.discount = _item(
                s, "+12125550102", "Is 50% off real?", reasons=("bot_disabled", "complaint")
            )
            self.underscore = _item(s, "+12125550103", "my code is a_b", team="billing")
            self.uk = _item(s, "+442079460958", "hello from London", days_ago=3)
            self.claimed = _item(
                s, "+12125550104", "refund please", status="claimed", assigned_to=self.ann.id
            )
            self.snoozed = _item(s, "+12125550105", "later", snoozed_until=AT + timedelta(hours=2))
            self.resolved = _item(
                s, "+12125550106", "refund thanks", status="resolved", assigned_to=self.ann.id
            )
            self.other_brand = _item(s, "+12125550107", "refund for globex", brand="globex")
            self.billing_claimed = _item(
                s,
                "+12125550108",
                "refund of billing",
                team="billing",
                status="claimed",
                assigned_to=self.bill.id,
                reasons=("opted_out",),
            )
            s.add(
                CustomerRecord(
                    brand="acme", phone_e164="+12125550102", name="Zoë Okafor", updated_at=AT
                )
            )
            s.add(
                CustomerRecord(
                    brand="globex", phone_e164="+12125550101", name="Okafor Sr", updated_at=AT
                )
            )
            s.commit()

    def ids(self, agent: Agent, view: claims.QueueView = "all", **where: object) -> set[uuid.UUID]:
        with Session(self.engine) as s:
            found = claims.visible_items(s, agent=agent, view=view, where=QueueFilter(**where))  # type: ignore[arg-type]
            return {item.id for item, _ in found}


@pytest.fixture
def desk(engine: Engine) -> Desk:
    return Desk(engine)


def search(text: str) -> Search:
    return Search.of(text, region="US")


@pytest.mark.parametrize(
    "typed", ["(212) 555-0101", "212.555.0101", "+1 212 555 0101", "1-212-555-0101", "555 0101"]
)
def test_a_number_is_found_however_it_is_typed(desk: Desk, typed: str) -> None:
    assert desk.ids(desk.ann, search=search(typed)) == {desk.refund.id}


def test_a_national_number_with_its_trunk_zero_is_read_in_the_configured_region(
    desk: Desk,
) -> None:
    # The digits 02079460958 are not in +442079460958: only phonenumbers' reading finds it.
    assert desk.ids(desk.ann, search=Search.of("020 7946 0958", region="GB")) == {desk.uk.id}
    assert desk.ids(desk.ann, search=Search.of("020 7946 0958", region="US")) == set()


def test_a_name_is_found_in_any_case_and_only_in_the_brand(desk: Desk) -> None:
    assert desk.ids(desk.ann, search=search("okafor")) == {desk.discount.id}
    assert desk.ids(desk.ann, search=search("Zoë")) == {desk.discount.id}
    # Globex's Okafor Sr shares a number with an Acme conversation, not its name.
    assert desk.refund.id not in desk.ids(desk.ann, search=search("Okafor Sr"))


def test_words_of_either_side_of_the_thread_are_found(desk: Desk) -> None:
    found = desk.ids(desk.ann, search=search("refund"))
    assert found == {desk.refund.id, desk.claimed.id, desk.resolved.id, desk.billing_claimed.id}
    assert desk.ids(desk.ann, search=search("on it")) == {desk.refund.id}  # the agent's reply
    assert desk.ids(desk.ann, search=search("AC10442")) == {desk.refund.id}


def test_percent_and_underscore_are_taken_literally(desk: Desk) -> None:
    assert desk.ids(desk.ann, search=search("50%")) == {desk.discount.id}
    assert desk.ids(desk.ann, search=search("5%")) == set()
    assert desk.ids(desk.ann, search=search("a_b")) == {desk.underscore.id}
    assert desk.ids(desk.ann, search=search("a_")) == {desk.underscore.id}
    assert desk.ids(desk.ann, search=search("my_code")) == set()


def test_reason_filter_reads_the_json_list(desk: Desk) -> None:
    assert desk.ids(desk.ann, reason=Reason.complaint) == {desk.discount.id}
    assert desk.ids(desk.ann, reason=Reason.opted_out) == {desk.billing_claimed.id}
    assert desk.billing_claimed.id not in desk.ids(desk.ann, reason=Reason.bot_disabled)


def test_state_team_owner_and_dates(desk: Desk) -> None:
    waiting = {desk.refund.id, desk.discount.id, desk.underscore.id, desk.uk.id}
    assert desk.ids(desk.ann, state="open") == waiting
    assert desk.ids(desk.ann, state="claimed") == {desk.claimed.id, desk.billing_claimed.id}
    assert desk.ids(desk.ann, state="snoozed") == {desk.snoozed.id}
    assert desk.ids(desk.ann, state="resolved") == {desk.resolved.id}
    assert desk.ids(desk.ann, team="billing") == {desk.underscore.id, desk.billing_claimed.id}
    assert desk.ids(desk.ann, agent_id=desk.ann.id) == {desk.claimed.id, desk.resolved.id}
    day = datetime(2026, 12, 1, tzinfo=UTC)
    assert desk.ids(desk.ann, created_from=day, created_before=day + timedelta(days=1)) == {
        desk.uk.id
    }
    assert desk.uk.id not in desk.ids(desk.ann, created_from=day + timedelta(days=1))
    # Filters combine with each other and with the view.
    assert desk.ids(desk.ann, "mine", search=search("refund")) == {desk.claimed.id}
    assert desk.ids(desk.ann, "open", search=search("refund"), reason=Reason.complaint) == set()


def test_brand_and_team_scopes_hold_whatever_is_searched(desk: Desk) -> None:
    # Another brand's conversation is never found, by text or by number.
    assert desk.other_brand.id not in desk.ids(desk.ann, search=search("globex"))
    assert desk.ids(desk.ann, search=search("+1 212 555 0107")) == set()
    # Stu (stores) does not see billing's waiting item in his open queue nor in `all`, but
    # sees what billing has claimed, as the claimed tab shows him.
    assert desk.ids(desk.stu, "open", search=search("a_b")) == set()
    assert desk.ids(desk.stu, search=search("a_b")) == set()
    assert desk.billing_claimed.id in desk.ids(desk.stu, search=search("refund"))
    # Supervisors are not scoped to their team.
    assert desk.ids(desk.sue, "open", search=search("a_b")) == {desk.underscore.id}
    assert desk.ids(desk.bill, "open", search=search("a_b")) == {desk.underscore.id}


def test_counts_follow_the_filter(desk: Desk) -> None:
    with Session(desk.engine) as s:
        counts = claims.count_views(s, agent=desk.ann, where=QueueFilter(search=search("refund")))
        assert counts == {"open": 1, "mine": 1, "claimed": 2, "snoozed": 0}
        total = claims.count_items(
            s, agent=desk.ann, view="all", where=QueueFilter(search=search("refund"))
        )
        assert total == 4


def test_the_next_item_is_the_top_of_the_open_queue_searched_as_it_was(desk: Desk) -> None:
    with Session(desk.engine) as s:
        found = claims.next_open_item(s, agent=desk.ann)
        # Same priority: the longest waiting (London, three days) comes first.
        assert found is not None and found[0].id == desk.uk.id
        # The state and owner filters are dropped (the next item is an open one).
        narrowed = QueueFilter(search=search("refund"), state="resolved", agent_id=desk.ann.id)
        found = claims.next_open_item(s, agent=desk.ann, where=narrowed)
        assert found is not None and found[0].id == desk.refund.id
        assert (
            claims.next_open_item(s, agent=desk.ann, where=QueueFilter(search=search("zzz")))
            is None
        )
        # Stu may not take billing's item: it is never his next one.
        assert claims.next_open_item(s, agent=desk.stu, where=QueueFilter(team="billing")) is None

"""Contacts on a real database (SQLite and PostgreSQL): validation, search by number, name and
tag within the agent's brands, edits that say what changed, and refused stale edits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.context.store import upsert_customer
from app.handoff.agents import create_agent
from app.handoff.contacts import (
    ContactConflict,
    ContactError,
    ContactQuery,
    audit_detail,
    contact_names,
    find_contact,
    normalise_language,
    normalise_tags,
    read_query,
    search_contacts,
    split_tags,
    update_contact,
)
from app.storage.messages import now
from app.storage.tables import Agent, Contact, Conversation

MARIA = "+12125550123"
OMAR = "+12125550177"
PASSWORD = "correct horse battery"


def _agent(
    session: Session, email: str, role: str = "agent", brands: tuple[str, ...] = ("acme",)
) -> Agent:
    return create_agent(session, email=email, password=PASSWORD, role=role, brands=list(brands))


def _conversation(session: Session, brand: str, phone: str, minutes_ago: int = 0) -> Conversation:
    at = now() - timedelta(minutes=minutes_ago)
    conversation = Conversation(brand=brand, phone_e164=phone, created_at=at, last_inbound_at=at)
    session.add(conversation)
    session.commit()
    return conversation


def _edit(session: Session, agent: Agent, brand: str, phone: str, **fields: object) -> Contact:
    contact = find_contact(session, agent=agent, brand=brand, phone=phone)
    assert contact is not None
    change = update_contact(session, agent=agent, contact=contact, **fields)  # type: ignore[arg-type]
    session.commit()
    return change.contact


@pytest.fixture
def db(engine: Engine) -> Session:
    with Session(engine, expire_on_commit=False) as session:
        yield session  # type: ignore[misc]


def test_tags_are_normalised_and_bad_ones_refused() -> None:
    assert normalise_tags(["VIP", " #Late payer ", "vip", ""]) == ["vip", "late-payer"]
    assert split_tags("wholesale, VIP,,vip") == ["wholesale", "vip"]
    with pytest.raises(ContactError, match="longer than 24"):
        normalise_tags(["x" * 25])
    with pytest.raises(ContactError, match="only letters, digits"):
        normalise_tags(['say"hi'])
    with pytest.raises(ContactError, match="at most 10 tags"):
        normalise_tags([f"t{i}" for i in range(11)])


def test_language_is_a_short_code() -> None:
    assert normalise_language(" ES ") == "es"
    assert normalise_language("pt_BR") == "pt-br"
    assert normalise_language("") is None
    with pytest.raises(ContactError, match="not a language code"):
        normalise_language("Spanish please")


def test_the_search_box_reads_numbers_in_any_format_tags_and_names() -> None:
    assert read_query("(212) 555-0123", region="US") == ContactQuery("number", MARIA)
    assert read_query("+1 212.555.0123", region="GB") == ContactQuery("number", MARIA)
    assert read_query("020 7946 0018", region="GB") == ContactQuery("number", "+442079460018")
    assert read_query("5550", region="US") == ContactQuery("digits", "5550")
    assert read_query("#VIP", region="US") == ContactQuery("tag", "vip")
    assert read_query("tag: Late payer", region="US") == ContactQuery("tag", "late-payer")
    assert read_query("  Maria   LOPEZ ", region="US") == ContactQuery("name", "maria lopez")
    assert read_query("", region="US") == ContactQuery("all")
    with pytest.raises(ContactError, match="name the tag"):
        read_query("#", region="US")


def test_an_edit_creates_the_profile_and_says_what_changed(db: Session) -> None:
    agent = _agent(db, "ana@example.com")
    _conversation(db, "acme", MARIA)
    contact = find_contact(db, agent=agent, brand="acme", phone=MARIA)
    assert contact is not None and contact.profile is None and contact.name == ""

    change = update_contact(
        db, agent=agent, contact=contact, name="  Maria   Lopez ", tags=["VIP"],
        notes="Prefers texts.", language="ES",
    )  # fmt: skip
    db.commit()
    assert change.changed["name"] == {"from": "", "to": "Maria Lopez"}
    assert audit_detail(change) == {
        "changed": ["language", "name", "notes", "tags"],
        "name": {"from": "", "to": "Maria Lopez"},
        "tags": {"from": [], "to": ["vip"]},
        "language": {"from": None, "to": "es"},
        "notes_chars": {"from": 0, "to": 14},
    }
    stored = db.exec(select(Contact)).one()
    assert (stored.name, stored.tags, stored.language, stored.updated_by) == (
        "Maria Lopez", ["vip"], "es", agent.id,
    )  # fmt: skip

    again = find_contact(db, agent=agent, brand="acme", phone=MARIA)
    assert again is not None
    same = update_contact(db, agent=agent, contact=again, name="Maria Lopez", tags=["vip"])
    assert same.changed == {}


def test_a_stale_edit_is_refused_not_overwritten(db: Session) -> None:
    ana, ben = _agent(db, "ana@example.com"), _agent(db, "ben@example.com")
    _conversation(db, "acme", MARIA)
    first = _edit(db, ana, "acme", MARIA, notes="Allergic to latex.", version=0)
    seen = first.version
    assert seen == 1
    _edit(db, ben, "acme", MARIA, notes="Allergic to latex. Call after 5pm.", version=seen)

    contact = find_contact(db, agent=ana, brand="acme", phone=MARIA)
    assert contact is not None
    with pytest.raises(ContactConflict, match="someone else changed"):
        update_contact(db, agent=ana, contact=contact, notes="Overwritten", version=seen)
    db.rollback()
    assert db.exec(select(Contact.notes)).one() == "Allergic to latex. Call after 5pm."


def test_limits_are_enforced(db: Session) -> None:
    agent = _agent(db, "ana@example.com")
    _conversation(db, "acme", MARIA)
    contact = find_contact(db, agent=agent, brand="acme", phone=MARIA)
    assert contact is not None
    with pytest.raises(ContactError, match="name is longer than 100"):
        update_contact(db, agent=agent, contact=contact, name="x" * 101)
    with pytest.raises(ContactError, match="notes are longer than 2000"):
        update_contact(db, agent=agent, contact=contact, notes="x" * 2001)
    assert db.exec(select(Contact)).all() == []


def test_search_by_name_tag_and_number_within_the_agents_brands(db: Session) -> None:
    ana = _agent(db, "ana@example.com")
    admin = _agent(db, "root@example.com", role="admin", brands=())
    _conversation(db, "acme", MARIA, minutes_ago=5)
    _conversation(db, "acme", OMAR, minutes_ago=1)
    _conversation(db, "globex", MARIA)  # the same person texting another brand
    _edit(db, ana, "acme", MARIA, name="María López", tags=["vip", "wholesale"])
    _edit(db, admin, "globex", MARIA, name="Maria at Globex", tags=["vip"])
    upsert_customer(db, brand="acme", phone=OMAR, name="Omar Haddad")  # imported, never edited
    db.commit()

    def found(agent: Agent, text: str) -> list[tuple[str, str, str]]:
        query = read_query(text, region="US")
        return [(c.brand, c.phone, c.name) for c in search_contacts(db, agent=agent, query=query)]

    assert found(ana, "") == [("acme", OMAR, "Omar Haddad"), ("acme", MARIA, "María López")]
    assert found(ana, "lópez") == [("acme", MARIA, "María López")]
    assert found(ana, "omar") == [("acme", OMAR, "Omar Haddad")]  # the record's name
    assert found(ana, "#wholesale") == [("acme", MARIA, "María López")]
    assert found(ana, "VIP") == [("acme", MARIA, "María López")]  # a plain word finds the tag
    assert found(ana, "(212) 555-0123") == [("acme", MARIA, "María López")]
    assert found(ana, "0177") == [("acme", OMAR, "Omar Haddad")]
    assert found(ana, "globex") == []  # another brand's name is not the agent's to see
    assert found(ana, "%") == []  # no wildcard
    assert found(ana, "#whole") == []  # a tag matches whole, not in part
    assert sorted(found(admin, "#vip")) == [
        ("acme", MARIA, "María López"), ("globex", MARIA, "Maria at Globex"),
    ]  # fmt: skip
    assert find_contact(db, agent=ana, brand="globex", phone=MARIA) is None

    # Any letter's case, not only ASCII's (SQLite's own lower() leaves Ó as it is).
    _conversation(db, "acme", "+12125550188")
    _edit(db, ana, "acme", "+12125550188", name="ÓSCAR ÑÚÑEZ")
    assert found(ana, "óscar ñúñez") == [("acme", "+12125550188", "ÓSCAR ÑÚÑEZ")]


def test_the_agents_name_wins_over_the_records(db: Session) -> None:
    ana = _agent(db, "ana@example.com")
    _conversation(db, "acme", OMAR)
    _conversation(db, "acme", MARIA)
    upsert_customer(db, brand="acme", phone=OMAR, name="O. Haddad")
    db.commit()
    assert contact_names(db, [("acme", OMAR), ("acme", MARIA)]) == {("acme", OMAR): "O. Haddad"}
    _edit(db, ana, "acme", OMAR, name="Omar Haddad")
    assert contact_names(db, [("acme", OMAR), ("globex", OMAR)]) == {("acme", OMAR): "Omar Haddad"}
    contact = find_contact(db, agent=ana, brand="acme", phone=OMAR)
    assert contact is not None and contact.record_name == "O. Haddad"


def test_two_first_edits_at_once_one_wins_the_other_is_told(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as first, Session(engine) as second:
        ana, ben = _agent(first, "ana@example.com"), _agent(first, "ben@example.com")
        _conversation(first, "acme", MARIA)
        shown_to_ana = find_contact(first, agent=ana, brand="acme", phone=MARIA)
        first.commit()  # Ana's page is built; her transaction ends
        _edit(second, ben, "acme", MARIA, name="Maria L.", version=0)
        assert shown_to_ana is not None and shown_to_ana.profile is None
        with pytest.raises(ContactConflict):
            update_contact(first, agent=ana, contact=shown_to_ana, name="Maria Lopez", version=0)
    with Session(engine) as check:
        assert check.exec(select(Contact.name)).all() == ["Maria L."]

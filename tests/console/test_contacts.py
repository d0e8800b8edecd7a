"""Contacts through the real app: the Contacts page and its search, the contact page with its
conversations and consent history, the card's edit (CSRF, audit, clear errors), the name in the
conversation header, the JSON API, and brand isolation everywhere."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.context.store import upsert_customer, upsert_order
from app.storage.messages import now
from app.storage.tables import AuditEntry, ConsentEvent, Contact, HandoffItem
from tests.console.conftest import MakeAgent, app_engine, login, queue_item

MARIA = "+12125550123"
OMAR = "+12125550177"
CARD = f"/console/contacts/acme/{MARIA}"


def htmx(csrf: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf}


def _conversation_id(client: TestClient, item_id: uuid.UUID) -> uuid.UUID:
    with Session(app_engine(client)) as session:
        item = session.get(HandoffItem, item_id)
        assert item is not None
        return item.conversation_id


@pytest.fixture
def ana(client: TestClient, make_agent: MakeAgent) -> str:
    """Ana, an agent of brand acme, signed in; her CSRF token."""
    make_agent("ana@example.com", brands=("acme",))
    return login(client, "ana@example.com")


def _save(client: TestClient, csrf: str, **fields: str) -> str:
    form = {"name": "", "notes": "", "tags": "", "language": ""} | fields
    response = client.post(CARD, data=form, headers=htmx(csrf))
    assert response.status_code == 200, response.text
    return response.text


def test_an_agent_edits_a_contact_and_the_edit_is_audited(client: TestClient, ana: str) -> None:
    conversation = _conversation_id(client, queue_item(app_engine(client), phone=MARIA))
    form = client.get(f"/console/partials/contacts/acme/{MARIA}/card?edit=true").text
    assert 'id="contact-form"' in form and 'name="version" value="0"' in form

    card = _save(client, ana, name="Maria <b>Lopez</b>", tags="VIP, late payer",
                 notes="Call after 5pm.", language="ES", version="0")  # fmt: skip
    assert "Maria &lt;b&gt;Lopez&lt;/b&gt;" in card and "#late-payer" in card
    assert "speaks es" in card and "Call after 5pm." in card and "edited " in card

    head = client.get(f"/console/partials/conversations/{conversation}/head").text
    assert 'id="conv-contact-name">Maria &lt;b&gt;Lopez&lt;/b&gt;</span>' in head
    assert MARIA in head  # the number stays visible beside the name
    page = client.get(f"/console/conversations/{conversation}").text
    assert 'id="contact-card"' in page and f'href="{CARD}"' in page

    with Session(app_engine(client)) as session:
        contact = session.exec(select(Contact)).one()
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "contact.updated")).one()
    assert contact.tags == ["vip", "late-payer"] and contact.version == 1
    assert entry.target == f"contact:{contact.id}"
    assert entry.detail["changed"] == ["language", "name", "notes", "tags"]
    assert entry.detail["tags"] == {"from": [], "to": ["vip", "late-payer"]}


def test_a_bad_value_says_why_and_saves_nothing(client: TestClient, ana: str) -> None:
    queue_item(app_engine(client), phone=MARIA)
    bad_tag = client.post(CARD, data={"tags": "ok, not/ok"}, headers=htmx(ana))
    assert bad_tag.headers["HX-Retarget"] == "#flash"
    assert "Tag &#39;not/ok&#39; may hold only letters, digits" in bad_tag.text
    bad_language = client.post(CARD, data={"language": "Klingon!"}, headers=htmx(ana))
    assert "is not a language code such as en, es, pt-br." in bad_language.text
    long_name = client.post(CARD, data={"name": "x" * 101}, headers=htmx(ana))
    assert "The name is longer than 100 characters." in long_name.text
    no_csrf = client.post(CARD, data={"name": "Maria"}, headers={"HX-Request": "true"})
    assert no_csrf.status_code == 403
    with Session(app_engine(client)) as session:
        assert session.exec(select(Contact)).all() == []
        assert (
            session.exec(select(AuditEntry).where(AuditEntry.action == "contact.updated")).all()
            == []
        )


def test_an_edit_made_on_a_stale_form_is_refused(client: TestClient, ana: str) -> None:
    queue_item(app_engine(client), phone=MARIA)
    _save(client, ana, notes="First.", version="0")
    stale = client.post(CARD, data={"notes": "Second.", "version": "0"}, headers=htmx(ana))
    assert "Someone else changed this contact meanwhile" in stale.text
    with Session(app_engine(client)) as session:
        assert session.exec(select(Contact.notes)).one() == "First."


def test_the_contacts_page_finds_by_number_name_and_tag(client: TestClient, ana: str) -> None:
    engine = app_engine(client)
    queue_item(engine, phone=MARIA)
    queue_item(engine, phone=OMAR)
    _save(client, ana, name="Maria Lopez", tags="vip")

    page = client.get("/console/contacts")
    assert page.status_code == 200 and 'id="contact-q"' in page.text
    assert "Maria Lopez" in page.text and OMAR in page.text

    def rows(q: str) -> str:
        return client.get("/console/partials/contacts", params={"q": q}).text

    assert "Maria Lopez" in rows("lopez") and OMAR not in rows("lopez")
    assert "Maria Lopez" in rows("#vip") and OMAR not in rows("#vip")
    assert OMAR in rows("(212) 555-0177") and "Maria Lopez" not in rows("(212) 555-0177")
    assert "No contact matches “nobody”." in rows("nobody")
    assert "Name the tag to search for" in rows("#")


def test_the_contact_page_lists_conversations_and_consent_newest_first(
    client: TestClient, ana: str
) -> None:
    engine = app_engine(client)
    conversation = _conversation_id(client, queue_item(engine, phone=MARIA))
    with Session(engine) as session:
        for hours, event_type in ((3, "opt_in"), (2, "message_sent"), (1, "opt_out")):
            at = now() - timedelta(hours=hours)
            session.add(ConsentEvent(
                ruleset_version="test", brand="acme", phone_e164=MARIA, event_type=event_type,
                processed_at=at, effective_at=at,
            ))  # fmt: skip
        session.commit()
    page = client.get(CARD)
    assert page.status_code == 200
    consent = page.text.split('id="contact-consent"')[1]
    assert consent.index("opt out") < consent.index("opt in")  # newest first
    assert "message sent" not in consent
    assert f'href="/console/conversations/{conversation}"' in page.text


def test_another_brands_agent_can_neither_see_nor_edit(
    client: TestClient, make_agent: MakeAgent
) -> None:
    queue_item(app_engine(client), phone=MARIA)  # brand acme
    make_agent("olga@example.com", brands=("other",))
    csrf = login(client, "olga@example.com")
    assert client.get(CARD).status_code == 404
    assert client.get(f"/console/partials/contacts/acme/{MARIA}/card").status_code == 404
    assert client.post(CARD, data={"name": "Hijacked"}, headers=htmx(csrf)).status_code == 404
    assert MARIA not in client.get("/console/contacts").text
    searched = client.get("/console/partials/contacts", params={"q": MARIA}).text
    assert "No contact matches" in searched and "contact-link" not in searched
    api = f"/console/api/contacts/acme/{MARIA}"
    assert client.get(api).status_code == 404
    assert client.patch(api, json={"name": "x"}, headers={"X-CSRF-Token": csrf}).status_code == 404
    assert client.get("/console/api/contacts").json() == []
    with Session(app_engine(client)) as session:
        assert session.exec(select(Contact)).all() == []


def test_the_json_api_reads_and_patches_contacts(client: TestClient, ana: str) -> None:
    queue_item(app_engine(client), phone=MARIA)
    api = f"/console/api/contacts/acme/{MARIA}"
    assert client.get(api).json()["version"] == 0
    changed = client.patch(
        api, json={"tags": ["VIP"], "language": "es", "version": 0}, headers={"X-CSRF-Token": ana}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["tags"], body["language"], body["version"], body["name"]) == (["vip"], "es", 1, "")
    assert client.patch(api, json={"name": "x"}).status_code == 403  # no CSRF header
    stale = client.patch(api, json={"notes": "n", "version": 0}, headers={"X-CSRF-Token": ana})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "contact_conflict"
    bad = client.patch(api, json={"tags": ["a b c d e f g h i j k l m n o p q r s t u v w x y z"]},
                       headers={"X-CSRF-Token": ana})  # fmt: skip
    assert bad.status_code == 400 and "longer than 24" in bad.json()["error"]["message"]
    assert client.get("/console/api/contacts", params={"q": "#"}).status_code == 400
    found = client.get("/console/api/contacts", params={"q": "#vip"}).json()
    assert [c["phone"] for c in found] == [MARIA]


def test_the_contact_page_shows_the_customer_records_and_their_name_until_agents_set_one(
    client: TestClient, ana: str
) -> None:
    engine = app_engine(client)
    queue_item(engine, phone=OMAR)
    with Session(engine) as session:
        customer = upsert_customer(session, brand="acme", phone=OMAR, name="O. Haddad")
        upsert_order(session, customer=customer, ref="AC10442", status="shipped", placed_at=now())
        session.commit()
    page = client.get(f"/console/contacts/acme/{OMAR}").text
    assert 'id="contact-name">O. Haddad</strong>' in page
    assert "AC10442" in page.split('id="customer-orders"')[1]

    client.post(f"/console/contacts/acme/{OMAR}", data={"name": "Omar Haddad"}, headers=htmx(ana))
    page = client.get(f"/console/contacts/acme/{OMAR}").text
    assert 'id="contact-name">Omar Haddad</strong>' in page
    assert "customer record: O. Haddad" in page


def test_the_queue_shows_and_searches_the_name_agents_gave(client: TestClient, ana: str) -> None:
    engine = app_engine(client)
    queue_item(engine, phone=MARIA)
    queue_item(engine, phone=OMAR)
    with Session(engine) as session:
        upsert_customer(session, brand="acme", phone=MARIA, name="M. Lopez")
        session.commit()
    _save(client, ana, name="Maria Lopez-Ortiz")
    queue = client.get("/console/", params={"q": "ortiz"}).text
    assert '<div class="customer-name">Maria Lopez-Ortiz</div>' in queue and OMAR not in queue
    assert MARIA not in client.get("/console/", params={"q": "M. Lopez"}).text  # replaced

"""The console's pages and htmx actions through the real app (its workers process the texts)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.channels.base import InboundSms
from app.pipeline.ingress import accept_inbound
from app.storage.tables import AiDecision, AuditEntry, ConversationNote, HandoffItem, Message
from tests.console.conftest import MakeAgent, app_engine, login, queue_item
from tests.helpers import eventually

PHONE = "+12125550123"
BRAND = "default"  # the test settings' brand_id


def text_in(client: TestClient, body: str, phone: str = PHONE) -> uuid.UUID:
    """A customer's text, stored and processed as the webhook would (bot off: it escalates)."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    sms = InboundSms(
        provider="twilio",
        provider_message_id=f"SM{uuid.uuid4().hex}",
        from_number=phone,
        to_number="+18005550199",
        body=body,
        received_at=datetime.now(UTC),
    )
    accepted = accept_inbound(runtime.engine, sms, brand=BRAND)
    runtime.jobs.notify()

    def processed() -> bool:
        with Session(app_engine(client)) as session:
            message = session.get(Message, accepted.message_id)
            return message is not None and message.status == "processed"

    eventually(processed)
    return accepted.message_id


def acknowledgement_sent(client: TestClient, conversation_id: uuid.UUID) -> Message:
    """Wait for the bot's one hand-off acknowledgement to the customer to go out."""

    def acknowledgements() -> list[Message]:
        with Session(app_engine(client)) as session:
            return list(
                session.exec(
                    select(Message).where(
                        Message.conversation_id == conversation_id,
                        Message.direction == "outbound",
                    )
                ).all()
            )

    eventually(lambda: [(m.purpose, m.status) for m in acknowledgements()] == [
        ("handoff_ack", "sent")
    ])  # fmt: skip
    (acknowledgement,) = acknowledgements()
    return acknowledgement


def open_item(client: TestClient) -> HandoffItem:
    with Session(app_engine(client)) as session:
        item = session.exec(select(HandoffItem).where(HandoffItem.status != "resolved")).one()
        return item


def htmx(csrf: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf}


@pytest.fixture
def agent_csrf(client: TestClient, make_agent: MakeAgent) -> str:
    make_agent("ana@example.com", brands=(BRAND,))
    return login(client, "ana@example.com")


def test_pages_redirect_an_anonymous_browser_to_sign_in(client: TestClient) -> None:
    response = client.get("/console/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2F"
    page = client.get("/console/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_a_browser_signs_in_with_the_form_and_lands_where_it_was_going(
    client: TestClient, make_agent: MakeAgent
) -> None:
    make_agent("ana@example.com", brands=(BRAND,))
    html = {"Accept": "text/html"}
    wrong = client.post(
        "/console/login",
        data={"email": "ana@example.com", "password": "nope", "next": "/console/"},
        headers=html,
    )
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    elsewhere = client.post(
        "/console/login",
        data={"email": "ana@example.com", "password": "correct horse battery", "next": "//evil"},
        headers=html,
        follow_redirects=False,
    )
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/console/"
    assert client.get("/console/").status_code == 200


def test_a_sign_in_posted_from_another_site_is_refused(
    client: TestClient, make_agent: MakeAgent
) -> None:
    make_agent("ana@example.com", brands=(BRAND,))
    response = client.post(
        "/console/login",
        data={"email": "ana@example.com", "password": "correct horse battery"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_an_escalated_text_is_in_the_queue_with_its_reason_and_sla(
    client: TestClient, agent_csrf: str
) -> None:
    text_in(client, "where is my parcel?")
    page = client.get("/console/")
    assert PHONE in page.text and "bot disabled" in page.text
    assert "where is my parcel?" in page.text
    item = open_item(client)
    assert item.due_at is not None and item.due_at > item.created_at


def test_a_second_escalation_reuses_the_open_item(client: TestClient, agent_csrf: str) -> None:
    text_in(client, "hello?")
    text_in(client, "anyone there?")
    with Session(app_engine(client)) as session:
        assert len(session.exec(select(HandoffItem)).all()) == 1


def test_customer_text_is_escaped_everywhere(client: TestClient, agent_csrf: str) -> None:
    text_in(client, "<script>alert(1)</script><b>bold</b>")
    item = open_item(client)
    for path in ("/console/", f"/console/conversations/{item.conversation_id}"):
        body = client.get(path).text
        assert "<script>alert(1)</script>" not in body and "<b>bold</b>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_claim_reply_and_resolve_from_the_conversation_page(
    client: TestClient, agent_csrf: str
) -> None:
    text_in(client, "I need help with my order")
    item = open_item(client)
    # The hand-off told the customer a person will reply: that was the first text, so it named
    # the brand and said how to opt out (MSG-2), and the agent's reply is not a first text.
    acknowledgement = acknowledgement_sent(client, item.conversation_id)
    assert acknowledgement.body.startswith("Acme: ")
    assert acknowledgement.body.endswith(" Reply STOP to opt out.")
    page = f"/console/conversations/{item.conversation_id}"
    assert 'id="claim"' in client.get(page).text

    claimed = client.post(f"/console/items/{item.id}/claim", headers=htmx(agent_csrf))
    assert claimed.status_code == 204 and "owner-changed" in claimed.headers["HX-Trigger"]
    composer = client.get(f"/console/partials/conversations/{item.conversation_id}/composer")
    send_key = re.search(r'name="send_key" value="([0-9a-f]+)"', composer.text)
    assert send_key is not None

    assert "first text to this customer" not in composer.text  # the acknowledgement was
    body = "Hi, this is Ana. Let me check."
    reply = {"body": body, "send_key": send_key[1]}
    sent = client.post(f"{page}/send", data=reply, headers=htmx(agent_csrf))
    assert sent.status_code == 200 and "outbound gate" in sent.text
    again = client.post(f"{page}/send", data=reply, headers=htmx(agent_csrf))
    assert again.status_code == 200  # a double click sends once

    def delivered() -> bool:
        with Session(app_engine(client)) as session:
            out = session.exec(select(Message).where(Message.purpose == "agent")).all()
            return len(out) == 1 and out[0].status == "sent"

    eventually(delivered)
    assert open_item(client).first_response_at is not None
    resolved = client.post(
        f"/console/items/{item.id}/resolve", data={"outcome": "resolved"}, headers=htmx(agent_csrf)
    )
    assert resolved.status_code == 204
    with Session(app_engine(client)) as session:
        actions = session.exec(select(AuditEntry.action)).all()
    assert {"queue.claim", "reply.queued", "queue.resolve"} <= set(actions)


def test_replying_without_owning_the_conversation_is_refused(
    client: TestClient, agent_csrf: str
) -> None:
    text_in(client, "hello")
    item = open_item(client)
    refused = client.post(
        f"/console/conversations/{item.conversation_id}/send",
        data={"body": "hi", "send_key": uuid.uuid4().hex},
        headers=htmx(agent_csrf),
    )
    assert refused.headers["HX-Retarget"] == "#flash" and "Claim the conversation" in refused.text


def test_a_reply_to_an_opted_out_customer_says_why_it_was_not_sent(
    client: TestClient, agent_csrf: str
) -> None:
    text_in(client, "my order never came")
    item = open_item(client)
    client.post(f"/console/items/{item.id}/claim", headers=htmx(agent_csrf))
    text_in(client, "STOP")
    page = client.get(f"/console/conversations/{item.conversation_id}").text
    assert 'id="consent-badge">opted out' in page and "opted out" in page
    refused = client.post(
        f"/console/conversations/{item.conversation_id}/send",
        data={"body": "Sorry about that!", "send_key": uuid.uuid4().hex},
        headers=htmx(agent_csrf),
    )
    assert "Not sent: the customer has opted out" in refused.text


def test_state_changing_requests_need_the_csrf_header(client: TestClient, agent_csrf: str) -> None:
    text_in(client, "hello")
    item = open_item(client)
    refused = client.post(f"/console/items/{item.id}/claim", headers={"HX-Request": "true"})
    assert refused.status_code == 403
    assert open_item(client).status == "open"


def test_notes_are_kept_and_shown(client: TestClient, agent_csrf: str) -> None:
    text_in(client, "hello")
    item = open_item(client)
    posted = client.post(
        f"/console/conversations/{item.conversation_id}/notes",
        data={"body": "VIP <customer>"},
        headers=htmx(agent_csrf),
    )
    assert posted.status_code == 200 and 'id="note-form"' in posted.text
    side = client.get(f"/console/partials/conversations/{item.conversation_id}/side").text
    assert "VIP &lt;customer&gt;" in side
    with Session(app_engine(client)) as session:
        assert len(session.exec(select(ConversationNote)).all()) == 1


def test_the_segment_counter_knows_gsm_from_ucs2(client: TestClient, agent_csrf: str) -> None:
    gsm = client.post("/console/segments", data={"body": "a" * 161}, headers=htmx(agent_csrf))
    assert "161 chars · GSM-7 · 2 segments" in gsm.text
    ucs = client.post("/console/segments", data={"body": "héllo 😀"}, headers=htmx(agent_csrf))
    assert "UCS-2 · 1 segment" in ucs.text


def test_canned_responses_fill_their_variables(client: TestClient, agent_csrf: str) -> None:
    text_in(client, "hello")
    item = open_item(client)
    filled = client.get(
        f"/console/conversations/{item.conversation_id}/canned", params={"canned": "greeting"}
    )
    assert filled.status_code == 200 and "Hi, this is ana from Acme." in filled.text
    missing = client.get(
        f"/console/conversations/{item.conversation_id}/canned", params={"canned": "nope"}
    )
    assert missing.status_code == 404


def test_an_agent_cannot_open_another_brands_conversation(
    client: TestClient, make_agent: MakeAgent
) -> None:
    make_agent("other@example.com", brands=("other",))
    login(client, "other@example.com")
    text_in(client, "hello")
    item = open_item(client)
    assert client.get(f"/console/conversations/{item.conversation_id}").status_code == 404
    assert PHONE not in client.get("/console/").text


def _record_draft(client: TestClient, message_id: uuid.UUID, draft: str) -> None:
    """What the AI layer writes for a text it drafted an answer to. The bot is off here, so the
    text already has its one decision (a hand-off, bot disabled): it becomes that draft."""
    with Session(app_engine(client)) as session:
        decision = session.exec(select(AiDecision).where(AiDecision.message_id == message_id)).one()
        assert (decision.action, decision.reasons) == ("handoff", ["bot_disabled"])
        decision.action, decision.record = "draft", {"draft": draft}
        decision.created_at = datetime.now(UTC)
        session.add(decision)
        session.commit()


def _watcher(html: str) -> str:
    found = re.search(r'id="composer-watch" hx-get="([^"]+)"', html)
    assert found is not None, html
    return found[1].replace("&amp;", "&")


def test_the_composer_offers_a_newer_draft_without_touching_the_text(
    client: TestClient, agent_csrf: str
) -> None:
    first = text_in(client, "Where is my order?")
    _record_draft(client, first, "Acme: your order ships today. Reply STOP to opt out.")
    item = open_item(client)
    # The acknowledgement went out after the text: it answers nothing, so the draft stays.
    acknowledgement_sent(client, item.conversation_id)
    client.post(f"/console/items/{item.id}/claim", headers=htmx(agent_csrf))
    base = f"/console/partials/conversations/{item.conversation_id}"
    composer = client.get(f"{base}/composer").text
    assert "your order ships today" in composer and 'id="draft-offer"' not in composer
    watch = _watcher(composer)
    assert client.get(watch).status_code == 204  # nothing changed: the agent's text stays

    second = text_in(client, "Actually, can I change the address?")
    _record_draft(client, second, "Acme: yes, reply with the new address.")
    offered = client.get(watch)
    assert offered.status_code == 200 and 'id="draft-offer"' in offered.text
    assert 'id="reply-body"' not in offered.text  # offered beside the text, not swapped in
    assert client.get(_watcher(offered.text)).status_code == 204  # offered once

    used = client.get(f"{base}/draft").text
    assert "reply with the new address" in used and 'id="reply-body"' in used
    assert 'hx-swap-oob="true"' in used and 'id="draft-offer"' not in used
    assert client.get(_watcher(used)).status_code == 204


def test_the_composer_follows_ownership_changes_made_elsewhere(
    client: TestClient, agent_csrf: str, make_agent: MakeAgent
) -> None:
    text_in(client, "I want to talk to someone")
    item = open_item(client)
    # The acknowledgement going out changes what the composer shows (no first-text reminder):
    # read the composer after it, or the watcher would rightly report that change.
    acknowledgement_sent(client, item.conversation_id)
    base = f"/console/partials/conversations/{item.conversation_id}"
    composer = client.get(f"{base}/composer").text
    assert "Claim this conversation to reply" in composer
    watch = _watcher(composer)
    assert client.get(watch).status_code == 204

    make_agent("bo@example.com", brands=(BRAND,))
    other = TestClient(client.app)  # a second browser on the running app (no second lifespan)
    bo_csrf = login(other, "bo@example.com")
    claimed = other.post(f"/console/items/{item.id}/claim", headers=htmx(bo_csrf))
    assert claimed.status_code == 204
    changed = client.get(watch)
    assert changed.status_code == 200 and changed.headers["HX-Trigger"] == "owner-changed"
    assert changed.headers["HX-Reswap"] == "none"
    assert "owns this conversation" in client.get(f"{base}/composer").text


@pytest.mark.usefixtures("daytime")
def test_the_first_text_reminder_goes_once_a_text_went_out(
    client: TestClient, agent_csrf: str
) -> None:
    # A conversation nothing was texted to yet (a text through the pipeline would have got the
    # hand-off acknowledgement, which is a first text of its own).
    queue_item(app_engine(client), brand=BRAND, phone=PHONE)
    item = open_item(client)
    client.post(f"/console/items/{item.id}/claim", headers=htmx(agent_csrf))
    base = f"/console/partials/conversations/{item.conversation_id}"
    composer = client.get(f"{base}/composer").text
    assert 'id="first-text-hint"' in composer
    send_key = re.search(r'name="send_key" value="([0-9a-f]+)"', composer)
    assert send_key is not None
    body = "Acme: Hi, this is Ana. Reply STOP to opt out."
    page = f"/console/conversations/{item.conversation_id}"
    client.post(
        f"{page}/send", data={"body": body, "send_key": send_key[1]}, headers=htmx(agent_csrf)
    )

    def hint_gone() -> bool:
        response = client.get(_watcher(composer))
        return response.status_code == 200 and 'id="first-text-hint"' not in response.text

    eventually(hint_gone)


def test_a_long_thread_shows_its_newest_texts_and_links_to_the_rest(
    client: TestClient, agent_csrf: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.console.pages.THREAD_WINDOW", 3)
    for n in range(1, 6):
        text_in(client, f"text number {n}")
    item = open_item(client)
    # Six texts: the five, and after the first one the hand-off's acknowledgement (only one:
    # the later texts join the waiting item).
    acknowledgement_sent(client, item.conversation_id)
    page = client.get(f"/console/conversations/{item.conversation_id}").text
    assert "3 earlier texts not shown" in page
    assert [n for n in range(1, 6) if f"text number {n}<" in page] == [3, 4, 5]
    assert "a person will reply" not in page  # the acknowledgement is among the earlier ones
    thread = client.get(f"/console/partials/conversations/{item.conversation_id}/thread").text
    assert "3 earlier texts not shown" in thread and "text number 2<" not in thread

    whole = client.get(f"/console/conversations/{item.conversation_id}?history=all").text
    assert "earlier text" not in whole
    assert [n for n in range(1, 6) if f"text number {n}<" in whole] == [1, 2, 3, 4, 5]
    assert whole.count("bot: a person will reply") == 1
    # Live updates of the whole thread keep it whole.
    assert f"/console/partials/conversations/{item.conversation_id}/thread?history=all" in whole
    url = f"/console/partials/conversations/{item.conversation_id}/thread?history=all"
    assert "text number 1<" in client.get(url).text

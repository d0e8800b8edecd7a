"""The agent console in a real browser: sign-in, the live queue, replying, racing claims, a STOP
in the middle of a handoff and hostile customer text."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session, select

from app.storage.tables import AiDecision, Message
from tests.browser.conftest import (
    WAIT_MS,
    Browsing,
    Desk,
    new_phone,
    screenshot,
    sign_in,
)
from tests.reliability.conftest import eventually

pytestmark = pytest.mark.xdist_group("browser")


def _ai_drafted(
    desk: Desk, message: Message, draft: str, *, record: dict[str, Any] | None = None, **fields: Any
) -> None:
    """What the AI layer records when it hands a text over with a draft (the bot is off here,
    so the text's decision says only `bot_disabled`: the draft is added to it)."""
    with Session(desk.probe.writer) as session:
        found = session.exec(select(AiDecision).where(AiDecision.message_id == message.id)).first()
        decision = found or AiDecision(
            message_id=message.id,
            conversation_id=message.conversation_id,
            action="handoff",
            created_at=datetime.now(UTC),
        )
        decision.record = {**(found.record if found else {}), "draft": draft, **(record or {})}
        for name, value in fields.items():
            setattr(decision, name, value)
        session.add(decision)
        session.commit()


def _row(page: Page, phone: str) -> Locator:
    return page.locator("#queue-table tbody tr", has=page.locator(f"a:text-is('{phone}')"))


def test_sign_in_refuses_a_wrong_password_and_sign_out_ends_the_session(
    browsing: Browsing, desk: Desk
) -> None:
    agent = desk.agent(name="Lena Login")
    page = browsing.new_page()

    # Signed out, the console sends the browser to the sign-in form.
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2F$"))
    screenshot(page, "01-login")

    page.fill("#email", agent.email)
    page.fill("#password", "not the password at all")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    expect(page).to_have_url(re.compile(r"/console/login$"))
    expect(page.locator("#email")).to_have_value(agent.email)  # kept for the second try
    assert page.context.cookies() == []

    page.fill("#password", agent.password)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.locator("#who")).to_have_text("Lena Login · agent")
    assert [c["name"] for c in page.context.cookies()] == ["smsdesk_console"]
    assert (
        desk.probe.scalar("SELECT count(*) FROM agent_sessions WHERE agent_id = :a", a=agent.id.hex)
        == 1
    )

    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/console/login$"))
    assert page.context.cookies() == []
    assert (
        desk.probe.scalar("SELECT count(*) FROM agent_sessions WHERE agent_id = :a", a=agent.id.hex)
        == 0
    )

    # Signed out for good: the queue sends the browser back to the form.
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2F$"))
    expect(page.locator("#who")).to_have_count(0)
    assert desk.audit_actions(agent.email) == ["login.failed", "login", "logout"]


def test_an_escalated_text_appears_in_the_open_queue_live(browsing: Browsing, desk: Desk) -> None:
    agent = desk.agent()
    phone = new_phone()
    page = sign_in(browsing.new_page(), agent)
    expect(page.locator("#tab-open")).to_have_class(re.compile(r"\bcurrent\b"))
    row = _row(page, phone)
    expect(row).to_have_count(0)
    open_count = int(page.locator("#tab-open .pill").inner_text())
    # Anything but a reload keeps this; the row must arrive through the event stream.
    page.evaluate("window.__sameDocument = true")

    desk.customer_texts(phone, "My parcel never arrived, can someone help me?", wait=False)

    expect(row).to_have_count(1, timeout=WAIT_MS)
    expect(row).to_contain_text("bot disabled")
    expect(row).to_contain_text("My parcel never arrived, can someone help me?")
    expect(row.locator("button.claim")).to_be_visible()
    expect(page.locator("#tab-open .pill")).to_have_text(str(open_count + 1))
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    screenshot(page, "02-queue")


def test_claim_compose_with_counter_and_canned_text_send_and_see_it_sent(
    browsing: Browsing, desk: Desk
) -> None:
    agent = desk.agent(name="Cara Composer")
    phone = new_phone()
    conversation, item = desk.escalated(phone, "Where is my refund? Order AC1234")
    inbound = desk.messages(phone, "inbound")[0]
    draft = "Acme: refunds reach your card 5 to 10 business days after we get the return."
    _ai_drafted(
        desk,
        inbound,
        draft,
        intent="refund_status",
        confidence=0.41,
        reasons=["low_confidence"],
        record={
            "mode": "local",
            "draft_mode": "local",
            "reasons": ["low_confidence"],
            "sentiment": {"label": "neutral", "negative": 0.08},
            "retrieved": [{"entry_id": "refund-timing", "score": 0.62, "link": None}],
        },
    )

    page = sign_in(browsing.new_page(), agent)
    row = _row(page, phone)
    row.locator("button.claim").click()
    # Claiming from the queue opens the conversation.
    expect(page).to_have_url(re.compile(f"/console/conversations/{conversation.id}$"))
    expect(page.locator("#owner")).to_have_text("Owned by Cara Composer (you)")
    expect(page.locator("#claim")).to_have_count(0)
    expect(page.locator("#release")).to_be_visible()
    expect(page.locator("#consent-badge")).to_have_text("subscribed")
    expect(page.locator("details.ai > summary")).to_contain_text("AI: handoff · refund_status 41%")
    # The hand-off's acknowledgement was the conversation's first text (brand and opt-out
    # line): the agent's reply needs neither, so no first-text hint.
    expect(page.locator("#thread .bubble.outbound")).to_contain_text("A member of our team")
    expect(page.locator("#first-text-hint")).to_have_count(0)

    body, counter = page.locator("#reply-body"), page.locator("#counter")
    expect(body).to_have_value(draft)  # the AI's draft, ready to check and edit
    expect(counter).to_have_text(
        f"{len(draft)} chars · GSM-7 · 1 segment · {160 - len(draft)} left"
    )

    body.fill("Hi")
    expect(counter).to_have_text("2 chars · GSM-7 · 1 segment · 158 left")
    body.fill("Hi 😊")  # an emoji turns the text into UCS-2: 70 units a segment, the emoji 2
    expect(counter).to_have_text("4 chars · UCS-2 · 1 segment · 65 left")

    page.select_option("#canned", "greeting")
    greeting = "Hi, this is Cara Composer from Acme. I'm looking into this for you now."
    expect(body).to_have_value(greeting)
    expect(counter).to_contain_text(f"{len(greeting)} chars · GSM-7 · 1 segment")
    reply = greeting + " Reply STOP to opt out."
    body.fill(reply)
    expect(counter).to_have_text(
        f"{len(reply)} chars · GSM-7 · 1 segment · {160 - len(reply)} left"
    )

    page.fill("#note-body", "Customer was polite; refund already approved in the shop system.")
    page.click("#add-note")
    expect(page.locator("#notes .note")).to_contain_text("refund already approved")
    expect(page.locator("#notes .note .meta")).to_contain_text("Cara Composer")
    expect(page.locator("#note-body")).to_have_value("")
    page.click("details.ai > summary")
    expect(page.locator("details.ai > dl")).to_contain_text(draft)
    screenshot(page, "03-conversation")

    page.click("#send")
    expect(page.locator("#flash")).to_have_text("Sent to the outbound gate: it goes out now.")
    bubble = page.locator("#thread .bubble.outbound", has_text="looking into this for you")
    expect(bubble).to_have_count(1)
    expect(bubble.locator(".status")).to_have_text("sent", timeout=WAIT_MS)
    [sent] = [m for m in desk.messages(phone, "outbound") if m.purpose == "agent"]
    assert (sent.body, sent.status, sent.purpose) == (reply, "sent", "agent")
    expect(body).to_have_value("")  # a fresh composer (and idempotency key)
    page.reload()
    expect(page.locator("#reply-form")).to_be_visible()
    expect(page.locator("#first-text-hint")).to_have_count(0)
    assert desk.audit_actions(str(item.id)) == ["queue.claim"]
    assert desk.audit_actions(str(conversation.id)) == ["note.added", "reply.queued"]


def test_two_agents_claiming_at_once_one_wins(browsing: Browsing, desk: Desk) -> None:
    ann, bob = desk.agent(name="Ann Racer"), desk.agent(name="Bob Racer")
    phone = new_phone()
    conversation, item = desk.escalated(phone, "I was charged twice!!")
    pages = {}
    for agent in (ann, bob):
        page = sign_in(browsing.new_page(), agent)
        page.goto(f"/console/conversations/{conversation.id}")
        expect(page.locator("#claim")).to_be_visible()
        pages[agent.name] = page

    # Both clicks fire at the same wall-clock instant (both pages share this machine's clock),
    # far enough ahead that both timers are set before either fires, however loaded the machine.
    at = pages["Ann Racer"].evaluate("Date.now() + 2000")
    for page in pages.values():
        ahead = page.evaluate(
            """at => {
                setTimeout(() => document.querySelector('#claim').click(), at - Date.now());
                return at - Date.now();
            }""",
            at,
        )
        assert ahead > 0, "a timer was set after the instant: the clicks were not at once"

    eventually(
        lambda: desk.audit_actions(str(item.id)).count("queue.claim_refused") == 1,
        seconds=10,
        what="both claims answered",
    )
    assert sorted(desk.audit_actions(str(item.id))) == ["queue.claim", "queue.claim_refused"]
    owned = desk.item(phone)
    assert owned is not None and owned.status == "claimed"
    winner = ann if owned.assigned_to == ann.id else bob
    loser = bob if winner is ann else ann
    assert owned.assigned_to == winner.id

    expect(pages[winner.name].locator("#owner")).to_have_text(f"Owned by {winner.name} (you)")
    expect(pages[winner.name].locator("#reply-form")).to_be_visible()
    expect(pages[winner.name].locator("#flash")).to_be_empty()
    expect(pages[loser.name].locator("#flash")).to_have_text(
        "Someone else got there first: the page now shows who owns it."
    )
    expect(pages[loser.name].locator("#owner")).to_have_text(f"Owned by {winner.name}")
    expect(pages[loser.name].locator("#claim")).to_have_count(0)
    expect(pages[loser.name].locator("#reply-form")).to_have_count(0)


def test_the_composer_follows_other_agents_and_new_drafts_live(
    browsing: Browsing, desk: Desk
) -> None:
    ann, bob = desk.agent(name="Ann Watcher"), desk.agent(name="Bob Taker")
    phone = new_phone()
    conversation, _ = desk.escalated(phone, "Do you deliver on Sundays?")
    url = f"/console/conversations/{conversation.id}"
    page = sign_in(browsing.new_page(), ann)
    page.goto(url)
    expect(page.locator("#composer")).to_contain_text("Claim this conversation to reply")

    other = sign_in(browsing.new_page(), bob)
    other.goto(url)
    other.click("#claim")
    expect(page.locator("#composer")).to_contain_text("Bob Taker owns this conversation")
    other.click("#release")
    expect(page.locator("#composer")).to_contain_text("Claim this conversation to reply")

    page.click("#claim")
    typed = "Acme: let me check the Sunday schedule for you."
    page.fill("#reply-body", typed)
    desk.customer_texts(phone, "It's for Sunday the 30th")
    newest = desk.messages(phone, "inbound")[-1]
    draft = "Acme: yes, we deliver on Sundays 10:00-16:00. Reply STOP to opt out."
    _ai_drafted(desk, newest, draft)

    expect(page.locator("#draft-offer")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#reply-body")).to_have_value(typed)  # never replaced under the agent
    screenshot(page, "composer-newer-draft")
    page.click("#use-draft")
    expect(page.locator("#reply-body")).to_have_value(draft)
    expect(page.locator("#counter")).to_contain_text(f"{len(draft)} chars · GSM-7 · 1 segment")
    expect(page.locator("#draft-offer")).to_have_count(0)
    assert browsing.log.errors == []


def test_a_stop_during_a_handoff_shows_live_and_blocks_the_reply(
    browsing: Browsing, desk: Desk
) -> None:
    agent = desk.agent(name="Sam Stopped")
    phone = new_phone()
    conversation, _ = desk.escalated(phone, "Can I change my delivery address?")
    page = sign_in(browsing.new_page(), agent)
    page.goto(f"/console/conversations/{conversation.id}")
    page.click("#claim")
    expect(page.locator("#owner")).to_have_text("Owned by Sam Stopped (you)")
    expect(page.locator("#consent-badge")).to_have_text("subscribed")
    reply = "Acme: yes, send me the new address and I will update it. Reply STOP to opt out."
    page.fill("#reply-body", reply)

    desk.customer_texts(phone, "STOP", wait=False)

    expect(page.locator("#consent-badge")).to_have_text("opted out", timeout=WAIT_MS)
    expect(page.locator("#consent-state")).to_contain_text("opted out")
    expect(page.locator("#thread .bubble.inbound", has_text="STOP")).to_have_count(1)
    expect(page.locator("#reply-body")).to_have_value(reply)  # the draft survives the refresh
    # A short window: the agent is scrolled down to the composer, far from the flash area.
    page.set_viewport_size({"width": 1280, "height": 520})
    page.locator("#send").scroll_into_view_if_needed()
    expect(page.locator("#flash")).not_to_be_in_viewport()
    page.click("#send")
    expect(page.locator("#flash")).to_contain_text("Not sent: the customer has opted out")
    expect(page.locator("#flash")).to_have_class(re.compile(r"\berror\b"))
    expect(page.locator("#flash")).to_be_in_viewport()  # the refusal is shown, not off-screen
    assert [m.body for m in desk.messages(phone, "outbound") if m.purpose == "agent"] == []
    assert "reply.blocked" in desk.audit_actions(str(conversation.id))


XSS = """<script>window.__xss=1</script><img src=x onerror="window.__xss=2">"""


def test_hostile_text_renders_inert(browsing: Browsing, desk: Desk) -> None:
    agent = desk.agent()
    phone = new_phone()
    conversation, _ = desk.escalated(phone, XSS)
    page = sign_in(browsing.new_page(), agent)

    expect(_row(page, phone)).to_contain_text(XSS)
    page.goto(f"/console/conversations/{conversation.id}")
    bubble = page.locator("#thread .bubble.inbound").first
    expect(bubble).to_contain_text(XSS)
    page.click("#claim")  # the head, thread and side are swapped in again by htmx
    expect(page.locator("#owner")).to_contain_text("(you)")
    page.fill("#note-body", XSS)
    page.click("#add-note")
    expect(page.locator("#notes .note")).to_contain_text(XSS)
    expect(page.locator("#reply-body")).to_be_visible()

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#thread script, #thread img, #notes script, #notes img").count() == 0
    assert page.locator("main script").count() == 0
    assert browsing.log.csp_violations() == []
    assert browsing.log.errors == []

"""Contacts in a real browser: an agent names and tags a customer from the conversation page,
then finds them by name and by tag on the Contacts page; another brand's agent cannot."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from app.handoff.agents import create_agent
from app.storage.tables import Contact
from tests.browser.conftest import (
    PASSWORD,
    Agent,
    Browsing,
    Desk,
    eventually,
    new_phone,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.xdist_group("browser")


def _search(page: Page, text: str) -> None:
    page.fill("#contact-q", text)
    page.press("#contact-q", "Enter")


def test_an_agent_names_and_tags_a_customer_then_finds_them(browsing: Browsing, desk: Desk) -> None:
    agent = desk.agent(name="Cora Contacts")
    phone = new_phone()
    conversation, _ = desk.escalated(phone, "Hi, it's about my standing order")
    tag = f"wholesale{uuid.uuid4().hex[:4]}"
    name = f"Rosa Quintero {tag[-4:]}"
    page = sign_in(browsing.new_page(), agent)

    page.goto(f"/console/conversations/{conversation.id}")
    expect(page.locator("#contact-name")).to_have_text("No name yet")
    page.click("#contact-edit")
    page.fill("#contact-name-input", name)
    page.fill("#contact-tags-input", f"VIP, {tag.upper()}")
    page.fill("#contact-notes-input", "Orders every Monday; call the shop, not the mobile.")
    page.fill("#contact-language-input", "es")
    screenshot(page, "contacts-00-edit")
    page.click("#contact-save")

    expect(page.locator("#contact-name")).to_have_text(name)
    expect(page.locator("#contact-tags")).to_contain_text(f"#vip #{tag}")
    expect(page.locator("#contact-notes")).to_contain_text("Orders every Monday")
    expect(page.locator("#contact-language")).to_have_text("speaks es")
    # The header names the customer now (the number stays beside the name).
    expect(page.locator("#conv-contact-name")).to_have_text(name)
    expect(page.locator(".conv-head h1")).to_contain_text(phone)
    screenshot(page, "contacts-01-conversation")

    # A bad tag is refused with the reason, and the form keeps what was typed.
    page.click("#contact-edit")
    page.fill("#contact-tags-input", "vip, not/a/tag")
    page.click("#contact-save")
    expect(page.locator("#flash")).to_contain_text("may hold only letters, digits")
    expect(page.locator("#contact-tags-input")).to_have_value("vip, not/a/tag")
    page.click("#contact-cancel")
    expect(page.locator("#contact-tags")).to_contain_text(f"#{tag}")

    with Session(desk.probe.writer) as session:
        stored = session.exec(select(Contact).where(Contact.phone_e164 == phone)).one()
    assert (stored.name, stored.tags, stored.language) == (name, ["vip", tag], "es")
    assert desk.audit_actions(f"contact:{stored.id}") == ["contact.updated"]

    page.click("#nav-contacts")
    expect(page).to_have_url(re.compile(r"/console/contacts$"))
    row = page.locator("#contacts-table tbody tr", has=page.locator(f"text={phone}"))
    _search(page, name.split()[1].lower())  # part of the name, any case
    expect(row).to_have_count(1)
    expect(row.locator("a.contact-link")).to_have_text(name)
    _search(page, f"#{tag}")
    expect(page.locator("#contacts-table tbody tr")).to_have_count(1)
    expect(row).to_contain_text(f"#{tag}")
    screenshot(page, "contacts-02-search")

    desk.customer_texts(phone, "STOP")  # the consent history has something to show
    # The confirmation is recorded by its send job, after the STOP's processing: the contact
    # page is not live, so it opens once both are in the ledger.
    eventually(
        lambda: "confirmation_sent" in desk.consent_events(phone), seconds=15, what="confirmed"
    )
    row.locator("a.contact-link").click()
    expect(page.locator("#contact-title")).to_have_text(name)
    # Newest first: the STOP's confirmation above the opt-out it confirms.
    expect(page.locator("#contact-consent li").first).to_contain_text("confirmation sent")
    expect(page.locator("#contact-consent li").nth(1)).to_contain_text("opt out")
    expect(page.locator("#contact-conversation")).to_have_attribute(
        "href", f"/console/conversations/{conversation.id}"
    )
    expect(page.locator("#contact-consent")).to_be_visible()
    screenshot(page, "contacts-03-contact")


def test_another_brands_agent_can_neither_find_nor_open_the_contact(
    browsing: Browsing, desk: Desk
) -> None:
    phone = new_phone()
    conversation, _ = desk.escalated(phone, "Please call me back")
    with Session(desk.probe.writer, expire_on_commit=False) as session:
        created = create_agent(
            session,
            email=f"olga-{uuid.uuid4().hex[:8]}@example.com",
            password=PASSWORD,
            display_name="Olga Other",
            brands=["other"],
        )
    olga = Agent(created.id, created.email, created.display_name, created.role)
    page = sign_in(browsing.new_page(), olga)

    page.click("#nav-contacts")
    _search(page, phone)
    expect(page.locator("#contacts-none")).to_be_visible()
    expect(page.locator("#contacts-table a.contact-link")).to_have_count(0)
    opened = page.goto(f"/console/contacts/default/{phone}")
    assert opened is not None and opened.status == 404
    opened = page.goto(f"/console/conversations/{conversation.id}")
    assert opened is not None and opened.status == 404

"""The supervisor dashboard and the phone simulator in a real browser (with screenshots)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import WAIT_MS, Browsing, Desk, new_phone, screenshot, sign_in

pytestmark = pytest.mark.xdist_group("browser")


def test_dashboard_for_supervisors_only(browsing: Browsing, desk: Desk) -> None:
    desk.escalated(new_phone(), "Your app keeps logging me out")
    boss = desk.agent("supervisor", name="Sue Pervisor")
    page = sign_in(browsing.new_page(), boss)
    page.click(".topbar a:text-is('Dashboard')")
    expect(page).to_have_url(re.compile(r"/console/dashboard$"))
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("#period-7d")).to_have_attribute("aria-current", "page")
    assert int(page.locator("#m-queue-size").inner_text()) >= 1
    assert int(page.locator("#m-escalations").inner_text()) >= 1
    assert int(page.locator("#m-inbound").inner_text()) >= 1
    expect(page.locator("#chart-traffic")).to_be_visible()
    expect(page.locator("#chart-reasons")).to_contain_text("bot disabled")
    screenshot(page, "05-dashboard")

    page.click("#period-24h")
    expect(page.locator("#dash-scope")).to_contain_text("Last 24 hours")
    expect(page.locator("#period-24h")).to_have_attribute("aria-current", "page")
    assert int(page.locator("#m-escalations").inner_text()) >= 1

    # Live: a new escalation shows without reloading.
    size = int(page.locator("#m-queue-size").inner_text())
    escalations = int(page.locator("#m-escalations").inner_text())
    desk.escalated(new_phone(), "Nobody answers the phone")
    expect(page.locator("#m-queue-size")).to_have_text(str(size + 1), timeout=WAIT_MS)
    expect(page.locator("#m-escalations")).to_have_text(str(escalations + 1))
    expect(page.locator("#period-24h")).to_have_attribute("aria-current", "page")
    assert browsing.log.errors == []

    agent = desk.agent()
    other = sign_in(browsing.new_page(), agent)
    expect(other.locator(".topbar a:text-is('Dashboard')")).to_have_count(0)
    response = other.goto("/console/dashboard")
    assert response is not None and response.status == 403


def test_simulator_texts_in_and_shows_the_agents_answer(browsing: Browsing, desk: Desk) -> None:
    phone = new_phone()
    customer = browsing.new_page()
    customer.goto(f"/simulator?phone={quote(phone)}")
    expect(customer.locator(".phone .header")).to_contain_text("Acme")
    customer.fill("#sim-body", "I want to talk to a person")
    customer.press("#sim-body", "Enter")
    expect(customer.locator("#sim-thread .bubble.inbound")).to_contain_text(
        "I want to talk to a person"
    )
    expect(customer.locator("#sim-handoff")).to_be_visible()

    agent = desk.agent(name="Ida Helper")
    console = sign_in(browsing.new_page(), agent)
    conversation = desk.conversation(phone)
    console.goto(f"/console/conversations/{conversation.id}")
    console.click("#claim")
    console.fill("#reply-body", "Acme: hi, Ida here, how can I help? Reply STOP to opt out.")
    console.click("#send")
    expect(console.locator("#flash")).to_contain_text("Sent to the outbound gate")

    answer = customer.locator("#sim-thread .bubble.outbound", has_text="Ida here")
    expect(answer).to_be_visible()
    expect(answer.locator(".status")).to_have_text("sent")
    screenshot(customer, "06-simulator")

"""The supervisor dashboard and the phone simulator in a real browser (with screenshots)."""

from __future__ import annotations

import re
from dataclasses import replace
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


def test_an_admin_keeps_agent_accounts(browsing: Browsing, desk: Desk) -> None:
    admin = desk.agent("admin", name="Ada Admin")
    page = sign_in(browsing.new_page(), admin)
    page.on("dialog", lambda dialog: dialog.accept())  # "Disable …? They are signed out at once."
    page.click(".topbar a:text-is('Agents')")
    expect(page.locator("h1")).to_have_text("Agents")

    email = f"new-{new_phone()[-6:]}@example.com"
    page.fill("#new-email", email)
    page.fill("#new-name", "Nia New")
    page.fill("#new-password", "a long enough password")
    page.click("#add-agent button[type=submit]")
    expect(page.locator("#agents-notice")).to_have_text(f"Added agent {email}.")
    row = page.locator("#agents-table tbody.agent", has_text=email)

    row.locator(".agent-manage summary").click()
    row.locator("select[name=role]").select_option("supervisor")
    row.locator("select[name=team]").select_option("billing")
    screenshot(page, "07-agents")
    row.locator("form.edit-agent button[type=submit]").click()
    expect(page.locator("#agents-notice")).to_have_text(f"Saved {email}.")
    expect(row).to_contain_text("supervisor")
    expect(row).to_contain_text("billing")

    row.locator("button.disable").click()
    expect(page.locator("#agents-notice")).to_contain_text(f"Disabled {email}")
    expect(row).to_contain_text("disabled")
    row.locator("button.enable").click()
    expect(page.locator("#agents-notice")).to_contain_text(f"Enabled {email}")

    row.locator(".agent-manage summary").click()  # the panel was re-rendered, closed
    row.locator("input[name=password]").fill("short")
    row.locator("form.set-password button[type=submit]").click()
    # The browser itself refuses first (minlength); the server says the same to anything else.
    expect(page.locator("#agents-notice")).to_contain_text(f"Enabled {email}")
    row.locator("input[name=password]").fill("another long password")
    row.locator("form.set-password button[type=submit]").click()
    expect(page.locator("#agents-notice")).to_have_text(
        f"New password set for {email}: their sessions have ended."
    )
    assert browsing.log.errors == [] and browsing.log.csp_violations() == []
    assert desk.audit_actions(email) == [
        "agent.created", "agent.edited", "agent.disabled", "agent.enabled", "agent.password_set",
    ]  # fmt: skip


def test_an_agent_changes_their_own_password(browsing: Browsing, desk: Desk) -> None:
    agent = desk.agent(name="Pat Private")
    page = sign_in(browsing.new_page(), agent)
    page.click("#who")
    expect(page.locator("h1")).to_have_text("Your account")
    page.fill("#current-password", agent.password)
    page.fill("#new-password", "my own new passphrase")
    page.fill("#confirm-password", "my own new passphrase")
    page.click("#change-password button[type=submit]")
    expect(page.locator("#account-notice")).to_have_text(
        "Password changed: your other sessions have ended."
    )
    screenshot(page, "08-account")
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/console/login"))
    sign_in(page, replace(agent, password="my own new passphrase"))
    assert browsing.log.errors == [] and browsing.log.csp_violations() == []

"""Routing in the browser: an agent goes online, a customer's text is given to them at once,
and when they do not reply within the re-queue timeout it goes back to the open queue.

The server's wall clock is faked with libfaketime (see conftest.faketime_env): it starts on
Tuesday 2026-06-02 at 10:00 in New York (business hours) and, after a restart, says 10:15,
past SMSDESK_REQUEUE_AFTER_MINUTES=10 business minutes. Nothing waits for real minutes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    Browsing,
    Desk,
    faketime_env,
    faketime_library,
    screenshot,
    server_env,
    sign_in,
)
from tests.reliability.conftest import SmsdeskServer, eventually

pytestmark = pytest.mark.xdist_group("browser")

AGENT_ONLINE = "2026-06-02 14:00:00"  # Tuesday 10:00 in New York
FIFTEEN_MINUTES_LATER = "2026-06-02 14:15:00"
PHONE = "+12125550177"
ROUTING = {"SMSDESK_AUTO_ASSIGN": "least_busy", "SMSDESK_REQUEUE_AFTER_MINUTES": "10"}


@pytest.fixture
def routing_server(tmp_path: Path) -> Iterator[tuple[SmsdeskServer, str]]:
    """A server of its own (agents going online here must not take other tests' items)."""
    library = faketime_library()
    if library is None:
        pytest.skip("libfaketime is not installed (make browser-deps: apt-get install faketime)")
    server = SmsdeskServer(
        tmp_path, extra_env=server_env(**ROUTING, **faketime_env(library, AGENT_ONLINE))
    )
    try:
        server.start()
        yield server, library
    finally:
        server.stop()
        print(f"--- server log ({server.log_path}) ---\n{server.log_tail(60)}")


def test_an_online_agent_is_given_a_new_item_and_loses_it_without_a_reply(
    routing_server: tuple[SmsdeskServer, str], browsing: Browsing
) -> None:
    server, library = routing_server
    desk = Desk(server)
    try:
        agent = desk.agent(name="Rita Route")
        page = sign_in(browsing.new_page(server.base_url), agent)
        toggle = page.locator("#availability")
        expect(toggle).to_have_text("Away")
        toggle.click()
        expect(page.locator("#availability")).to_have_text("Online")
        expect(page.locator("#availability")).to_have_class(re.compile(r"\bonline\b"))

        desk.customer_texts(PHONE, "My parcel never arrived, can someone help?")
        eventually(
            lambda: (item := desk.item(PHONE)) is not None and item.status == "claimed",
            seconds=15,
            what="the item auto-assigned",
        )
        item = desk.item(PHONE)
        assert item is not None and item.assigned_to == agent.id
        assert desk.audit_actions(str(item.id)) == ["queue.assign"]

        page.goto("/console/?view=mine")
        row = page.locator(f"tr[data-item='{item.id}']")
        expect(row).to_contain_text(PHONE)
        expect(row).to_contain_text("Rita Route")
        expect(page.locator("#tab-mine .pill")).to_have_text("1")
        screenshot(page, "routing-auto-assigned")

        # Rita never replies. Fifteen (business) minutes later the server takes it back.
        page.goto("about:blank")  # no live stream to a server that restarts
        server.stop()
        server.extra_env |= faketime_env(library, FIFTEEN_MINUTES_LATER)
        server.start()
        eventually(
            lambda: (item := desk.item(PHONE)) is not None and item.status == "open",
            seconds=20,
            what="the item re-queued",
        )
        assert desk.audit_actions(str(item.id)) == ["queue.assign", "queue.requeued"]

        page.goto("/console/?view=open")
        row = page.locator(f"tr[data-item='{item.id}']")
        expect(row).to_contain_text("re-queued from Rita Route")
        expect(row.locator("button.claim")).to_be_visible()
        expect(page.locator("#tab-mine .pill")).to_have_text("0")
        expect(page.locator("#availability")).to_have_text("Online")
        screenshot(page, "routing-requeued")

        # An admin gives Rita a capacity of her own; the dashboard shows who is on what.
        admin = sign_in(browsing.new_page(server.base_url), desk.agent("admin", name="Ada Admin"))
        admin.goto("/console/agents")
        account = admin.locator("#agents-table tbody.agent", has_text=agent.email)
        expect(account).to_contain_text("online")
        account.locator(".agent-manage summary").click()
        account.locator("input[name=capacity]").fill("many")
        account.locator("form.capacity-form button[type=submit]").click()
        expect(admin.locator("#agents-error")).to_contain_text("whole number from 1 to 100")
        account.locator(".agent-manage summary").click()  # the panel was re-rendered, closed
        account.locator("input[name=capacity]").fill("3")
        account.locator("form.capacity-form button[type=submit]").click()
        expect(admin.locator("#agents-notice")).to_have_text(f"Capacity of {agent.email}: 3.")
        expect(admin.locator(f"#capacity-{agent.id}")).to_have_text("3")
        # More room changes nothing for Rita: the item was taken back from her.
        waiting = desk.item(PHONE)
        assert waiting is not None and waiting.status == "open"

        admin.goto("/console/dashboard")
        line = admin.locator(f"#workload-{agent.id}")
        expect(line).to_contain_text("Rita Route")
        expect(line).to_contain_text("online")
        expect(line).to_contain_text("0 / 3")
        expect(admin.locator("#who-is-on-what")).to_contain_text("auto-assign: least busy")
        # Rita takes it back by hand: the supervisors' table follows live (no reload).
        page.locator(f"tr[data-item='{item.id}'] button.claim").click()
        expect(line).to_contain_text("1 / 3")
        screenshot(admin, "routing-dashboard")
        assert desk.audit_actions(agent.email)[-2:] == ["agent.capacity_refused", "agent.capacity"]
    finally:
        desk.close()

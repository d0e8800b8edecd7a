"""Quiet hours from the composer: a late reply to a stale conversation is offered for later.

The server's wall clock is faked with libfaketime (LD_PRELOAD), so the hours are exact: the
customer in New York writes on Monday 2026-07-13 at 11:00 local time; the agent answers on
Wednesday at midnight (04:00 UTC), more than 24 hours later and inside the customer's quiet
hours, so the text may only go at 08:00 New York time (12:00 UTC).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
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
from tests.reliability.conftest import SmsdeskServer

pytestmark = pytest.mark.xdist_group("browser")

CUSTOMER_WRITES = "2026-07-13 15:00:00"  # Monday 11:00 in New York
AGENT_ANSWERS = "2026-07-15 04:00:00"  # Wednesday 00:00 in New York
PHONE = "+12125550142"


@pytest.fixture
def late_server(tmp_path: Path) -> Iterator[SmsdeskServer]:
    """A server of its own whose clock says AGENT_ANSWERS, with the customer's text of
    CUSTOMER_WRITES already in its database."""
    library = faketime_library()
    if library is None:
        pytest.skip("libfaketime is not installed (make browser-deps: apt-get install faketime)")
    server = SmsdeskServer(tmp_path, extra_env=server_env(**faketime_env(library, CUSTOMER_WRITES)))
    try:
        server.start()
        desk = Desk(server)
        try:
            desk.escalated(PHONE, "Is my order AC5531 shipped yet?")
            assert desk.messages(PHONE)[0].created_at.date().isoformat() == "2026-07-13"
        finally:
            desk.close()
        server.stop()
        server.extra_env |= faketime_env(library, AGENT_ANSWERS)
        server.start()
        yield server
    finally:
        server.stop()
        print(f"--- server log ({server.log_path}) ---\n{server.log_tail(60)}")


def test_a_reply_in_quiet_hours_is_offered_for_later_and_scheduled(
    late_server: SmsdeskServer, browsing: Browsing
) -> None:
    desk = Desk(late_server)
    try:
        agent = desk.agent(name="Nora Night")
        conversation = desk.conversation(PHONE)
        page = sign_in(browsing.new_page(late_server.base_url), agent)
        page.goto(f"/console/conversations/{conversation.id}")
        page.click("#claim")
        expect(page.locator("#owner")).to_have_text("Owned by Nora Night (you)")
        reply = "Acme: yes, AC5531 left our warehouse yesterday. Reply STOP to opt out."
        page.fill("#reply-body", reply)
        page.click("#send")

        flash = page.locator("#flash")
        expect(flash).to_have_class(re.compile(r"\bwarn\b"))
        expect(flash).to_contain_text("Not sent now")
        offer = page.locator("#schedule-send")
        expect(offer).to_have_text(re.compile(r"^Schedule for .*08:00"))
        # The console's times are the business's (New York here, as the customer), UTC on hover.
        expect(flash.locator("time")).to_have_text("2026-07-15 08:00 EDT")
        expect(flash.locator("time")).to_have_attribute("title", re.compile("2026-07-15 12:00 UTC"))
        # Nothing of the agent's queued without their yes (the hand-off's acknowledgement is
        # the only text so far).
        assert [m.purpose for m in desk.messages(PHONE, "outbound")] == ["handoff_ack"]
        screenshot(page, "04-schedule-offer")

        offer.click()
        expect(flash).to_have_class(re.compile(r"\binfo\b"))
        expect(flash).to_contain_text(re.compile(r"^Scheduled\b.*08:00.*\(2026-07-15 08:00 EDT\)"))
        bubble = page.locator("#thread .bubble.outbound", has_text="AC5531 left our warehouse")
        expect(bubble.locator(".status")).to_have_text("scheduled")
        expect(bubble).to_contain_text("goes out 2026-07-15 08:00 EDT")
        [scheduled] = [m for m in desk.messages(PHONE, "outbound") if m.purpose == "agent"]
        assert (scheduled.body, scheduled.status) == (reply, "scheduled")
        assert scheduled.send_after == datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
        expect(page.locator("#reply-body")).to_have_value("")
    finally:
        desk.close()

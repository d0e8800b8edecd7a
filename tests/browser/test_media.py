"""Pictures (MMS) in a real browser: a customer sends one from the phone simulator, the agent
sees it inline in the thread and replies with a picture of their own."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import WAIT_MS, Browsing, Desk, new_phone, screenshot, sign_in
from tests.media.pictures import png
from tests.reliability.conftest import eventually

pytestmark = pytest.mark.xdist_group("browser")

LOADED = "img => img.complete && img.naturalWidth"


def test_customer_picture_shown_inline_and_agent_replies_with_one(
    browsing: Browsing, desk: Desk, tmp_path: Path
) -> None:
    customer_picture = tmp_path / "torn-tent.png"
    customer_picture.write_bytes(png(160, 120, (200, 70, 40)))
    reply_picture = tmp_path / "label.png"
    reply_picture.write_bytes(png(90, 60, (40, 120, 200)))

    phone = new_phone()
    customer = browsing.new_page()
    customer.goto(f"/simulator?phone={quote(phone)}")
    customer.fill("#sim-body", "My tent arrived torn")
    customer.set_input_files("#sim-picture", str(customer_picture))
    customer.click("#sim-form button[type=submit]")
    expect(customer.locator("#sim-thread .bubble.inbound .sim-picture")).to_have_text("1 picture")
    eventually(lambda: desk.item(phone) is not None, seconds=15, what=f"{phone} queued")
    conversation = desk.conversation(phone)

    agent = desk.agent(name="Pia Pictures")
    page = sign_in(browsing.new_page(), agent)
    page.goto(f"/console/conversations/{conversation.id}")
    inbound = page.locator("#thread .bubble.inbound img")
    expect(inbound).to_have_count(1)
    inbound.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelector('#thread .bubble.inbound img').naturalWidth > 0"
    )
    assert inbound.evaluate(LOADED) == 160

    page.click("#claim")
    expect(page.locator("#reply-form")).to_be_visible()
    page.fill("#reply-body", "Sorry about that! Print this label and we'll swap it.")
    page.set_input_files("#reply-picture", str(reply_picture))
    page.click("#send")
    expect(page.locator("#flash")).to_contain_text("Sent to the outbound gate")
    outbound = page.locator("#thread .bubble.outbound", has_text="Print this label")
    expect(outbound.locator("img")).to_have_count(1, timeout=WAIT_MS)
    expect(outbound.locator(".status")).to_have_text("sent", timeout=WAIT_MS)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#thread .bubble.outbound img')]"
        ".some(img => img.naturalWidth === 90)"
    )
    screenshot(page, "20-pictures")
    screenshot(customer, "21-simulator-picture")
    [sent] = [m for m in desk.messages(phone, "outbound") if m.purpose == "agent"]
    assert sent.media and sent.media[0]["content_type"] == "image/png"
    assert browsing.log.errors == []
    assert browsing.log.csp_violations() == []

"""Finding and sorting the work in a real browser: search the queue by number and by words,
filter by reason, resolve two conversations as spam at once, and resolve on a conversation page
to land on the next item of the searched queue."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Browsing, Desk, new_phone, screenshot, sign_in
from tests.reliability.conftest import eventually

pytestmark = pytest.mark.xdist_group("browser")


def _rows(page: Page) -> Locator:
    return page.locator("#queue-table tbody tr")


def _row(page: Page, phone: str) -> Locator:
    return page.locator("#queue-table tbody tr", has=page.locator(f"a:text-is('{phone}')"))


def _search(page: Page, text: str, *, reason: str = "") -> None:
    page.fill("#q", text)
    page.select_option("#f-reason", reason)
    page.click("#search")


def test_search_filter_bulk_spam_and_resolve_to_the_next_item(
    browsing: Browsing, desk: Desk
) -> None:
    tag = f"zq{uuid.uuid4().hex[:6]}"  # words only this test's customers write
    order, refund, prize, money = (new_phone() for _ in range(4))
    desk.escalated(order, f"My order {tag} never arrived")
    desk.escalated(refund, f"Where is my refund {tag}?")
    _, prize_item = desk.escalated(prize, f"WIN a prize {tag} now, click here")
    _, money_item = desk.escalated(money, f"Free money {tag} for you")
    desk.customer_texts(refund, "STOP")

    def stop_noted() -> bool:
        item = desk.item(refund)
        return item is not None and "opted_out" in item.reasons

    eventually(stop_noted, seconds=15, what="the STOP joins the item's reasons")
    agent = desk.agent(name="Quinn Queue")
    page = sign_in(browsing.new_page(), agent)

    # By number, typed the way people write it.
    typed = f"({order[2:5]}) {order[5:8]}-{order[8:]}"
    _search(page, typed)
    expect(page).to_have_url(re.compile(r"q=%28"))
    expect(_rows(page)).to_have_count(1)
    expect(_row(page, order)).to_be_visible()
    expect(page.locator("#q")).to_have_value(typed)
    screenshot(page, "queue-search-number")

    # By words of the texts: the four customers, and no one else's conversation.
    _search(page, tag)
    expect(_rows(page)).to_have_count(4)
    screenshot(page, "queue-search-text")

    # By reason: only the customer who texted STOP.
    _search(page, tag, reason="opted_out")
    expect(_rows(page)).to_have_count(1)
    expect(_row(page, refund)).to_contain_text("opted out")
    screenshot(page, "queue-filter-reason")

    # Two spam texts resolved at once; the flash says what was done.
    _search(page, tag)
    expect(_rows(page)).to_have_count(4)
    page.check(f"#pick-{prize_item.id}")
    page.check(f"#pick-{money_item.id}")
    page.click("#bulk-spam")
    expect(page.locator("#flash")).to_have_text("2 resolved as spam.")
    expect(_rows(page)).to_have_count(2)
    expect(_row(page, prize)).to_have_count(0)
    screenshot(page, "queue-bulk-spam")
    for phone in (prize, money):
        item = desk.item(phone)
        assert item is not None and (item.status, item.outcome) == ("resolved", "spam")
        assert desk.audit_actions(str(item.id)) == ["queue.claim", "queue.resolve"]

    # Resolve the top one on its page: the next conversation of the searched queue opens.
    first, second = (_rows(page).nth(n).locator("td a").first.inner_text() for n in (0, 1))
    _rows(page).nth(0).locator("td a").first.click()
    expect(page.locator("#claim")).to_be_visible()
    expect(page.locator("label[for=outcome]")).to_have_count(0)  # not theirs yet
    page.click("#claim")
    expect(page.locator("label[for=outcome]")).to_have_text("Outcome")
    expect(page.locator("label[for=snooze-minutes]")).to_have_text("Snooze for")
    expect(page.locator("label[for=transfer-target]")).to_have_text("Transfer to")
    screenshot(page, "conversation-action-bar")
    page.select_option("#outcome", "no_reply_needed")
    page.click("#resolve")
    following = desk.conversation(second)
    expect(page).to_have_url(re.compile(rf"/console/conversations/{following.id}\?q={tag}$"))
    expect(page.locator("#flash")).to_have_text(
        f"Resolved {first} (no reply needed). This is the next one in your queue."
    )
    expect(page.locator("h1")).to_contain_text(second)
    screenshot(page, "queue-next-item")

    # The last one: back to the searched queue, which is empty now.
    page.click("#claim")
    page.select_option("#outcome", "resolved")
    page.click("#resolve")
    expect(page).to_have_url(re.compile(rf"/console/\?q={tag}$"))
    expect(page.locator("#flash")).to_have_text(
        f"Resolved {second} (resolved). Nothing else waits for you."
    )
    expect(page.locator("#queue-empty")).to_be_visible()

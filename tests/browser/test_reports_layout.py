"""The Reports page and its CSV download, and every main console page at 800 px wide."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from app.storage.tables import HandoffItem
from tests.browser.conftest import Browsing, Desk, new_phone, screenshot, sign_in

pytestmark = pytest.mark.xdist_group("browser")

NARROW = {"width": 800, "height": 900}


def resolved_by(desk: Desk, phone: str, agent_id: object) -> None:
    """The customer escalates, and `agent_id` answered and resolved it (written as the
    console would: owner of record, first response, resolution, all before now)."""
    _, item = desk.escalated(phone, "My parcel never arrived, can someone check?")
    with Session(desk.probe.writer) as session:
        row = session.get(HandoffItem, item.id)
        assert row is not None
        start = row.created_at - timedelta(minutes=40)
        row.created_at = start
        row.claimed_at = start + timedelta(minutes=2)
        row.first_response_at = start + timedelta(minutes=5)
        row.resolved_at = start + timedelta(minutes=30)
        row.assigned_to = agent_id  # type: ignore[assignment]
        row.status, row.outcome = "resolved", "resolved"
        session.add(row)
        session.commit()


def test_supervisor_opens_the_report_and_downloads_the_csv(
    browsing: Browsing, desk: Desk, tmp_path: Path
) -> None:
    helper = desk.agent(name="Rita Resolver")
    resolved_by(desk, new_phone(), helper.id)
    boss = desk.agent("supervisor", name="Sue Reports")
    page = sign_in(browsing.new_page(), boss)
    page.click(".topbar a:text-is('Reports')")
    expect(page).to_have_url(re.compile(r"/console/reports$"))
    expect(page.locator("h1")).to_have_text("Reports")
    row = page.locator(f"#agent-figures tr[data-agent='{helper.email}']")
    expect(row.locator("[data-figure=handled]")).to_have_text("1")
    # Times are the business's (New York), with UTC on hover.
    scope_time = page.locator("#report-scope time").first
    expect(scope_time).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    expect(scope_time).to_have_text(re.compile(r"E[SD]T$"))
    screenshot(page, "40-reports")

    with page.expect_download() as waiting:
        page.click("#agents-csv")
    download = waiting.value
    assert re.fullmatch(r"smsdesk-agents-7d-\d{8}\.csv", download.suggested_filename)
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    mine = [r for r in rows if r["agent_email"] == helper.email]
    assert len(mine) == 1 and mine[0]["items_handled"] == "1"
    assert mine[0]["agent_name"] == "Rita Resolver"

    agent = sign_in(browsing.new_page(), desk.agent())
    expect(agent.locator(".topbar a:text-is('Reports')")).to_have_count(0)
    response = agent.goto("/console/reports/agents.csv")
    assert response is not None and response.status == 403


def fits(page: Page, name: str, *visible: str) -> None:
    """No horizontal scrolling of the page at 800 px; the key controls are on screen."""
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, f"41-narrow-{name}")
    assert width <= NARROW["width"], f"{name}: the page is {width} px wide"
    for selector in visible:
        control = page.locator(selector).first
        expect(control).to_be_visible()
        # Measured in the page (htmx may swap the element in between two Playwright calls).
        left, right = control.evaluate(
            "e => [e.getBoundingClientRect().left, e.getBoundingClientRect().right]"
        )
        assert left >= 0 and right <= NARROW["width"], f"{name}: {selector} spans {left}-{right}"


def test_every_main_page_fits_800_px(browsing: Browsing, desk: Desk) -> None:
    long_word = "https://example.com/orders/" + "x" * 120
    conversation, _ = desk.escalated(new_phone(), f"Where is my order? See {long_word} please")
    admin = desk.agent("admin", name="Ada Narrow-Screen Administrator")
    resolved_by(desk, new_phone(), admin.id)
    page = sign_in(browsing.new_page(), admin)
    page.set_viewport_size(NARROW)

    page.goto("/console/")
    fits(page, "queue", ".topbar #logout", "#queue table, #queue .empty")

    page.goto(f"/console/conversations/{conversation.id}")
    page.click("#claim")
    expect(page.locator("#reply-body")).to_be_visible()
    fits(page, "conversation", "#send", "#resolve", "#release", "#reply-body", "#side")

    page.goto("/console/dashboard")
    fits(page, "dashboard", "#periods", "#m-queue-size", "#chart-traffic")

    page.goto("/console/reports")
    fits(page, "reports", "#agents-csv", "#agent-figures")

    page.goto("/console/agents")
    page.locator("#agents-table details summary").first.click()  # an agent's manage forms
    fits(page, "agents", "#agents-table", "#new-email", "#add-agent button")

    page.goto("/console/flows")
    fits(page, "flows", "#periods", "h1")

    page.goto("/simulator")
    fits(page, "simulator", "#sim-body", ".phone")

"""Knowledge in the console, in a real browser against a real `smsdesk serve` with the bot on:
an admin edits an entry's answer, and the next customer text gets the new answer from the
running server (its worker child), no restart; the AI's view shows the entry's agent body."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from app.ai.knowledge import load_knowledge
from tests.browser.conftest import (
    REPO,
    Browsing,
    Desk,
    keep_failure_evidence,
    new_phone,
    screenshot,
    server_env,
    sign_in,
)
from tests.reliability.conftest import SmsdeskServer, eventually

pytestmark = pytest.mark.xdist_group("browser")

QUESTION = "what time do you open on sunday"
NEW_ANSWER = "Acme stores are open every day 7am to 10pm, local time, holidays too."
AI_LOADS = 420.0
"""Seconds the first answer may take: a fresh data dir trains the intent classifier first."""


@pytest.fixture(scope="module")
def ai_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmsdeskServer]:
    """`smsdesk serve` with the AI layer on, on a copy of the demo knowledge it may edit."""
    workdir = tmp_path_factory.mktemp("knowledge-server")
    shutil.copytree(REPO / "knowledge", workdir / "knowledge")
    env = server_env(SMSDESK_BOT="ai", SMSDESK_KNOWLEDGE_DIR=str(workdir / "knowledge"))
    instance = SmsdeskServer(workdir, extra_env=env)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def ai_desk(ai_server: SmsdeskServer) -> Iterator[Desk]:
    instance = Desk(ai_server)
    yield instance
    instance.close()


@pytest.fixture
def ai_browsing(
    browser: Browser, ai_server: SmsdeskServer, request: pytest.FixtureRequest
) -> Iterator[Browsing]:
    """Pages on the AI server, checked like `browsing`'s (no page errors, no CSP trips)."""
    session = Browsing(browser, ai_server.base_url)
    yield session
    keep_failure_evidence(request, session, ai_server)
    try:
        assert session.log.errors == [], session.log.errors
        assert session.log.csp_violations() == [], session.log.csp_violations()
    finally:
        session.close()


def bot_reply(desk: Desk, phone: str, *, seconds: float = 30.0) -> str:
    """The bot's answer to the customer's only text."""

    def answered() -> bool:
        return any(m.purpose == "reply" for m in desk.messages(phone, "outbound"))

    eventually(answered, seconds=seconds, what=f"the bot answers {phone}")
    return next(m.body for m in desk.messages(phone, "outbound") if m.purpose == "reply")


def test_an_admin_edit_reaches_the_running_bot_and_the_ai_view_shows_the_entry(
    ai_browsing: Browsing, ai_desk: Desk, ai_server: SmsdeskServer
) -> None:
    knowledge_dir = Path(ai_server.extra_env["SMSDESK_KNOWLEDGE_DIR"])
    first = new_phone()
    ai_desk.customer_texts(first, QUESTION, wait=False)
    assert "Sun 10am-6pm" in bot_reply(ai_desk, first, seconds=AI_LOADS)

    admin = ai_desk.agent("admin", name="Ada Admin")
    page = sign_in(ai_browsing.new_page(), admin)
    page.click(".topbar a:text-is('Knowledge')")
    expect(page).to_have_url(re.compile(r"/console/knowledge$"))
    page.fill("#kb-q", "store hours")
    page.press("#kb-q", "Enter")
    expect(page.locator("#kb-list tbody tr")).to_have_count(1)
    screenshot(page, "knowledge-01-list")
    page.click("#kb-list a:text-is('store-hours')")
    expect(page.locator("#kb-sms")).to_contain_text("Sun 10am-6pm")

    # A reserved keyword and a curly quote: refused next to the field, nothing written.
    on_disk = (knowledge_dir / "entries" / "store-hours.md").read_text()
    page.fill("#kb-answer", "Text STOP to stop \u201chours\u201d.")
    page.click("#kb-save")
    expect(page.locator("#kb-refused")).to_be_visible()
    expect(page.locator("#error-answer").first).to_be_visible()
    expect(page.locator("#kb-entry")).to_contain_text("uses the reserved keyword STOP")
    expect(page.locator("#kb-entry")).to_contain_text("characters outside GSM-7")
    screenshot(page, "knowledge-02-refused")
    assert (knowledge_dir / "entries" / "store-hours.md").read_text() == on_disk

    page.fill("#kb-answer", NEW_ANSWER)
    page.click("#kb-save")
    expect(page.locator("#kb-notice")).to_contain_text("Saved store-hours")
    expect(page.locator("#kb-sms")).to_contain_text(NEW_ANSWER)
    screenshot(page, "knowledge-03-saved")
    assert load_knowledge(knowledge_dir).entry("store-hours").answer == NEW_ANSWER

    # The same server (never restarted) answers the next customer with the new answer.
    second = new_phone()
    ai_desk.customer_texts(second, QUESTION, wait=False)
    assert NEW_ANSWER in bot_reply(ai_desk, second)
    assert ai_server.starts == 1

    # The AI's view of that text: the entry it answered from, its agent body one click away.
    conversation = ai_desk.conversation(second)
    page.goto(f"/console/conversations/{conversation.id}")
    inbound = ai_desk.messages(second, "inbound")[0]
    page.locator(f"#ai-{inbound.id} > summary").click()
    hit = page.locator(f"#kb-hit-{inbound.id}-store-hours")
    expect(hit.locator("summary")).to_contain_text("answered from")
    body = load_knowledge(knowledge_dir).entry("store-hours").body
    expect(hit.locator(".kb-body")).not_to_be_visible()
    hit.locator("summary").click()
    expect(hit.locator(".kb-body")).to_contain_text(body.splitlines()[0])
    expect(hit.locator("a:text-is('Open in Knowledge')")).to_have_attribute(
        "href", "/console/knowledge/store-hours"
    )
    screenshot(page, "knowledge-04-ai-view")

"""Browser fixtures: Debian's Chromium driven by Playwright against a REAL `smsdesk serve`.

The server is the reliability suite's `SmsdeskServer` (a subprocess on loopback, SQLite in a
temporary directory, the bot off so that every customer text lands in the human queue, the
console SMS provider). Customers write through genuinely signed Twilio webhooks; tests read the
outcome in the browser and straight from the server's database.

Chromium is never downloaded: without /usr/bin/chromium (or Playwright) the tests skip with
the reason, unless SMSDESK_REQUIRE_BROWSER=1 (CI), which makes that a failure. Every test here
is marked `xdist_group("browser")`, so under `pytest -n 2 --dist loadgroup` they share one
worker, one browser and one server.
"""

from __future__ import annotations

import glob
import itertools
import os
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlmodel import Session, col, select

from app.handoff.agents import create_agent
from app.storage.tables import Conversation, HandoffItem, Message
from tests.reliability.conftest import Probe, SmsdeskServer, Twilio, eventually, new_sid

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
FAILURES = REPO / "test-artifacts" / "failures"
CHROMIUM = os.environ.get("SMSDESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
FAKETIME_SITE = Path(__file__).with_name("faketime_site")
PASSWORD = "correct horse battery staple"
WAIT_MS = 10_000
"""How long a browser expectation waits (live updates arrive within about two seconds)."""


def _unavailable(reason: str) -> None:
    if os.environ.get("SMSDESK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser required (SMSDESK_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


def faketime_library() -> str | None:
    """Debian's libfaketime, if installed."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    return found[0] if found else None


def server_env(**extra: str) -> dict[str, str]:
    """Settings every browser-test server gets on top of the reliability defaults.

    The server runs in a temporary directory, so the repository's canned responses and
    knowledge base are named by absolute path (the composer offers the canned responses).
    """
    return {
        "SMSDESK_CANNED_RESPONSES_FILE": str(REPO / "knowledge" / "canned_responses.yaml"),
        "SMSDESK_KNOWLEDGE_DIR": str(REPO / "knowledge"),
        "SMSDESK_PROMPTS_DIR": str(REPO / "prompts"),
        **extra,
    }


def faketime_env(library: str, at: str) -> dict[str, str]:
    """Run a server with its wall clock starting at `at` (UTC), see faketime_site/."""
    return {
        "LD_PRELOAD": library,
        "FAKETIME": f"@{at}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "TZ": "UTC",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(FAKETIME_SITE), os.environ.get("PYTHONPATH", "")) if p
        ),
    }


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, launched once for this package's tests (package scope:
    it is closed when they are done, not kept until the whole session ends)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (make install)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no Chromium at {CHROMIUM} (make browser-deps: apt-get install chromium)")
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    manager = sync_playwright().start()
    try:
        try:
            instance = manager.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
        except Exception as exc:  # a broken install: say so instead of erroring every test
            _unavailable(f"Chromium at {CHROMIUM} does not start: {exc}")
        yield instance
        instance.close()
    finally:
        manager.stop()


@dataclass
class PageLog:
    """What the pages of one test reported: uncaught errors and console messages."""

    errors: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        """Console messages about the Content Security Policy."""
        return [text for _, text in self.console if "Content Security Policy" in text]


@dataclass
class Browsing:
    """One test's browser contexts (one per agent), each with its own cookie jar."""

    browser: Browser
    base_url: str
    log: PageLog = field(default_factory=PageLog)
    contexts: list[BrowserContext] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

    def new_page(self, base_url: str | None = None) -> Page:
        """A page in a fresh context (no cookies), logging errors and console messages."""
        context = self.browser.new_context(
            base_url=base_url or self.base_url, viewport={"width": 1280, "height": 800}
        )
        context.set_default_timeout(WAIT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.log.errors.append(str(exc)))
        page.on("console", self._console)
        self.pages.append(page)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        self.log.console.append((message.type, message.text))

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(
    browser: Browser, console_server: SmsdeskServer, request: pytest.FixtureRequest
) -> Iterator[Browsing]:
    """Pages on the shared console server; on failure their screenshots are kept."""
    session = Browsing(browser, console_server.base_url)
    yield session
    keep_failure_evidence(request, session, console_server)
    # Checked for every test: the console's own pages never throw and never trip the CSP.
    try:
        assert session.log.errors == [], f"uncaught errors in the page: {session.log.errors}"
        assert session.log.csp_violations() == [], session.log.csp_violations()
    finally:
        session.close()


def keep_failure_evidence(
    request: pytest.FixtureRequest, session: Browsing, server: SmsdeskServer
) -> None:
    """After a failed test: a screenshot of every open page and the server's log tail."""
    report = getattr(request.node, "rep_call", None)
    if report is None or not report.failed:
        return
    FAILURES.mkdir(parents=True, exist_ok=True)
    for number, page in enumerate(session.pages):
        if not page.is_closed():
            path = FAILURES / f"{request.node.name}-{number}.png"
            try:
                page.screenshot(path=path, full_page=True, caret="initial")
            except Exception as exc:  # evidence only: never hide the real failure
                print(f"no screenshot of page {number}: {exc}")
            else:
                print(f"screenshot of page {number} ({page.url}): {path}")
    print(f"--- browser console ---\n{session.log.console[-40:]}")
    print(f"--- server log ({server.log_path}) ---\n{server.log_tail(80)}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item (fixtures read it at teardown)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # caret="initial": hiding the caret would inject a <style>, which the console's CSP blocks.
    page.screenshot(path=path, full_page=True, caret="initial")
    return path


# --- the server and its data ---------------------------------------------------------------


@pytest.fixture(scope="package")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmsdeskServer]:
    """One real `smsdesk serve` shared by the browser tests (each uses its own customers)."""
    instance = SmsdeskServer(tmp_path_factory.mktemp("console-server"), extra_env=server_env())
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


_PHONES = itertools.cycle(random.sample(range(100), 100))


def new_phone() -> str:
    """A customer number in New York's fictional 555-01xx range, fresh for this session."""
    return f"+121255501{next(_PHONES):02d}"


@dataclass
class Agent:
    """An agent account and the password to sign in with."""

    id: uuid.UUID
    email: str
    name: str
    role: str
    password: str = PASSWORD


class Desk:
    """The server's side: agents, customers' texts and what the database holds."""

    def __init__(self, server: SmsdeskServer) -> None:
        self.server = server
        self.probe = Probe(server.database_url)
        self.twilio = Twilio(server)

    def close(self) -> None:
        self.probe.close()

    def agent(self, role: str = "agent", name: str | None = None) -> Agent:
        """A new agent of the default brand (what `smsdesk agents add` creates)."""
        tag = uuid.uuid4().hex[:8]
        name = name or f"{role.capitalize()} {tag[:4]}"
        with Session(self.probe.writer, expire_on_commit=False) as session:
            created = create_agent(
                session,
                email=f"{role}-{tag}@example.com",
                password=PASSWORD,
                role=role,
                display_name=name,
                brands=["default"],
            )
        return Agent(created.id, created.email, created.display_name, created.role)

    def customer_texts(self, phone: str, body: str, *, wait: bool = True) -> str:
        """A signed Twilio webhook carrying the customer's text; waits until it is processed."""
        sid = new_sid()
        response = self.twilio.post(Twilio.form(sid, phone, body))
        assert response.status_code == 200, response.text
        if wait:
            eventually(lambda: self.probe.processed(sid), seconds=15, what=f"{sid} processed")
        return sid

    def conversation(self, phone: str) -> Conversation:
        """The customer's conversation (it must exist)."""
        with self.probe.session() as session:
            found = session.exec(select(Conversation).where(Conversation.phone_e164 == phone)).one()
        return found

    def item(self, phone: str) -> HandoffItem | None:
        """The customer's newest queue item."""
        with self.probe.session() as session:
            return session.exec(
                select(HandoffItem)
                .join(Conversation, col(Conversation.id) == col(HandoffItem.conversation_id))
                .where(Conversation.phone_e164 == phone)
                .order_by(col(HandoffItem.created_at).desc())
            ).first()

    def escalated(self, phone: str, body: str) -> tuple[Conversation, HandoffItem]:
        """The customer texts and (the bot being off) lands in the open queue."""
        self.customer_texts(phone, body)
        eventually(lambda: self.item(phone) is not None, seconds=15, what=f"{phone} queued")
        item = self.item(phone)
        assert item is not None and item.status == "open", item
        return self.conversation(phone), item

    def messages(self, phone: str, direction: str | None = None) -> list[Message]:
        """The customer's texts, oldest first."""
        with self.probe.session() as session:
            query = (
                select(Message)
                .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
                .where(Conversation.phone_e164 == phone)
                .order_by(col(Message.created_at))
            )
            if direction is not None:
                query = query.where(Message.direction == direction)
            return list(session.exec(query).all())

    def consent_events(self, phone: str) -> list[str]:
        """The ledger's event types for the customer, oldest first."""
        with self.probe.reader.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT event_type FROM consent_events WHERE phone_e164 = ? ORDER BY seq", (phone,)
            )
            return [row[0] for row in rows]

    def audit_actions(self, target: str) -> list[str]:
        """The audit log's actions about one target (an item or a conversation id)."""
        with self.probe.reader.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT action FROM audit_log WHERE target = ? ORDER BY id", (target,)
            )
            return [row[0] for row in rows]


@pytest.fixture
def desk(console_server: SmsdeskServer) -> Iterator[Desk]:
    """The shared server's data side."""
    instance = Desk(console_server)
    yield instance
    instance.close()


def sign_in(page: Page, agent: Agent, *, landing: str = "/console/") -> Page:
    """Sign in through the login form; waits until the console page has loaded."""
    from playwright.sync_api import expect

    page.goto("/console/login")
    page.fill("#email", agent.email)
    page.fill("#password", agent.password)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(landing) + "$"))
    expect(page.locator("#who")).to_contain_text(agent.name)
    # The landing page came from a form's redirect, which Playwright does not wait out: htmx
    # (deferred) binds the page's buttons on DOMContentLoaded, so a click before "load" can
    # land on a button nothing listens to yet (seen under CI load on the availability toggle).
    page.wait_for_load_state("load")
    return page

"""The eval report page in Chromium: plots drawn, nothing thrown, readable at 800 px and in
print (with screenshots in test-artifacts/screenshots/eval-report*.png)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import PageLog, screenshot
from tests.evals.test_report_html import drawn_plots, sample_run

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
def report(browser: Browser, tmp_path: Path) -> Iterator[tuple[Page, PageLog]]:
    """The sample run's report.html, opened from disk (no server: the page stands alone)."""
    path = sample_run().write(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # Nothing may be fetched: the page must be self-contained.
    context.route("http*://**", lambda route: route.abort())
    page = context.new_page()
    log = PageLog()
    page.on("pageerror", lambda exc: log.errors.append(str(exc)))
    page.on("console", lambda message: log.console.append((message.type, message.text)))
    page.goto(path.as_uri())
    yield page, log
    context.close()


def _overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_eval_report_in_a_browser(report: tuple[Page, PageLog]) -> None:
    page, log = report
    assert page.title().startswith("smsdesk evals")
    svgs = page.locator("figure.plot svg")
    assert svgs.count() == drawn_plots(sample_run())
    for index in range(svgs.count()):
        box = svgs.nth(index).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50, (index, box)
    assert page.locator(".nodata").count() == 1
    # The customer's markup is text on the page, never an element.
    assert page.locator("text=<script>alert(1)</script>").count() > 0
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    assert _overflow(page) <= 0
    screenshot(page, "eval-report")

    # Unfolded: the items table scrolls inside its box, under a sticky header.
    page.locator("#suite-1 details.block summary", has_text="Every item").click()
    page.locator("#suite-1 article.failure details summary").first.click()
    items = page.locator("#suite-1 table.items")
    assert items.is_visible()
    page.locator("#suite-1 .table-wrap.tall").evaluate("box => { box.scrollTop = 400 }")
    header = items.locator("thead th").first.bounding_box()
    box = page.locator("#suite-1 .table-wrap.tall").bounding_box()
    assert header is not None and box is not None and abs(header["y"] - box["y"]) < 3
    screenshot(page, "eval-report-unfolded")

    page.set_viewport_size({"width": 800, "height": 900})
    assert _overflow(page) <= 0
    for index in range(svgs.count()):
        box = svgs.nth(index).bounding_box()
        assert box is not None and 0 < box["width"] <= 800, (index, box)
    screenshot(page, "eval-report-800")

    page.emulate_media(media="print")
    assert _overflow(page) <= 0
    screenshot(page, "eval-report-print")

    assert log.errors == []
    assert [text for kind, text in log.console if kind == "error"] == []

"""The rendered fixture course in headless Chromium, from file:// as a reader opens it: diagrams drawn,
navigation working, a broken diagram shown as source, and no model-written script running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from browser import PageLog, chromium, watched_page
from fondation.render import render_site

COURSE = Path(__file__).parent / "fixtures" / "course"
# The one console error the fixture course earns: its sanitised <img src=x> points at no file.
EXPECTED_CONSOLE_ERRORS = {"Failed to load resource: net::ERR_FILE_NOT_FOUND"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_site(COURSE, tmp_path_factory.mktemp("site") / "tasklet", title="Tasklet").parent


def _diagrams_done(page: Page) -> None:
    page.wait_for_function("document.documentElement.dataset.diagrams === 'done'", timeout=30_000)


def _open(page: Page, url: Path) -> None:
    page.goto(url.as_uri())
    _diagrams_done(page)


def _assert_quiet(page: Page, log: PageLog) -> None:
    assert log.dialogs == [] and log.page_errors == []
    assert set(log.console_errors) <= EXPECTED_CONSOLE_ERRORS, log.console_errors
    assert page.evaluate("window.__xss") is None


def test_diagrams_render_and_links_lead_to_the_right_pages(browser: Browser, site: Path) -> None:
    page, log = watched_page(browser)
    _open(page, site / "index.html")
    assert page.title() == "Tasklet"
    assert page.locator("pre.diagram svg").count() == 1
    assert page.locator("pre.diagram svg .node").count() >= 4  # drawn, not an error picture

    page.locator("article").get_by_role("link", name="The worker loop").click()
    page.wait_for_url("**/chapters/10-worker-loop.html")
    _diagrams_done(page)
    assert page.locator("h1").inner_text() == "Chapter 3: The worker loop"
    assert page.locator("pre.diagram svg").count() == 1

    page.locator("nav.pager a[rel=next]").click()
    page.wait_for_url("**/tutorials/01-first-job.html")
    _diagrams_done(page)
    assert page.locator("nav.sidebar a[aria-current=page]").inner_text() == "Tutorial 1: Enqueue your first job"

    page.locator("nav.sidebar").get_by_role("link", name="Chapter 2: Leases").click()
    page.wait_for_url("**/chapters/02-leases.html")
    _diagrams_done(page)
    assert page.locator("pre.diagram svg").count() == 1
    assert "Worker" in page.locator("pre.diagram").inner_text()  # the sequence diagram's actors
    _assert_quiet(page, log)


def test_every_diagram_of_every_page_is_drawn_or_shown_as_source(browser: Browser, site: Path) -> None:
    page, log = watched_page(browser)
    drawn = failed = 0
    for html in sorted(site.rglob("*.html")):
        _open(page, html)
        assert page.locator("pre.mermaid").count() == 0, html  # nothing left blank or half-done
        drawn += page.locator("pre.diagram svg").count()
        failed += page.locator(".diagram-error").count()
    assert (drawn, failed) == (5, 1)
    _assert_quiet(page, log)


def test_a_broken_diagram_shows_its_source_and_a_note(browser: Browser, site: Path) -> None:
    page, log = watched_page(browser)
    _open(page, site / "tutorials" / "03-recovery.html")
    note = page.locator(".diagram-error .diagram-error-note")
    assert note.is_visible()
    assert "could not be drawn" in note.inner_text()
    assert "B[Kill it with SIGKILL (mid-job)]" in page.locator(".diagram-error .diagram-source").inner_text()
    assert page.locator("svg").count() == 0  # no error picture from mermaid either
    _assert_quiet(page, log)


def test_model_written_script_never_runs(browser: Browser, site: Path) -> None:
    page, log = watched_page(browser)
    _open(page, site / "chapters" / "01-job-table.html")
    page.locator("article a", has_text="a raw one").click()  # its javascript: href was stripped
    assert page.locator("article script, article [onerror], article a[href^='javascript']").count() == 0
    assert page.url.endswith("/chapters/01-job-table.html")
    _assert_quiet(page, log)

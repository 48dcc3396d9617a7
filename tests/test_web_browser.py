"""The web app as a user meets it: the real `fondation up` (web app and embedded worker in one process)
driven by headless Chromium. First login by the printed link, a generation watched live without a
reload, the course with its diagrams under the CSP, a live cancel the worker really carries out,
another user's things answering 404, and model-written HTML that never runs.

Screenshots land in test-artifacts/browser/ at the repository root.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from browser import PageLog, chromium, watched_page
from fondation.domain.courses import NewCourse, NewDocument
from fondation.domain.jobs import ErrorKind, EventKind, JobStatus, Lease
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.store.courses import CourseNotFoundError, CourseStore
from sample_project import make_project
from web_server import StartWebServer, WebServer, start_web_server  # noqa: F401 - the fixture
from worker_harness import finished, wait_until

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "browser"
#: Seconds each progress report of a job is held back: a generation then lasts some seconds, long
#: enough to be watched, and to be canceled mid-way.
SLOW = 0.4
#: The longest a whole generation may take on a busy 2-core machine, in milliseconds.
GENERATION_MS = 60_000
ADMIN_PASSWORD = "admin-password-0123"
BOB_PASSWORD = "bob-password-0123"

#: Before any page script: CSP violations become console errors (so every watched page records them),
#: every inline event handler that ever enters the live document is noted in `window.__handlers` (even
#: one removed at once), and the job page's progress bar is noted in `window.__progress` each time the
#: live updates change it.
WATCH_SCRIPT = """
document.addEventListener('securitypolicyviolation', (event) => {
  console.error('CSP violation: ' + event.violatedDirective + ' from ' + (event.sourceFile || '?'));
});
window.__handlers = [];
window.__progress = [];
const noteHandlers = (node) => {
  if (node.nodeType !== Node.ELEMENT_NODE) return;
  for (const element of [node, ...node.querySelectorAll('*')]) {
    for (const attribute of element.attributes) {
      if (attribute.name.toLowerCase().startsWith('on')) window.__handlers.push(element.tagName + ' ' + attribute.name);
    }
  }
};
const noteProgress = () => {
  const bar = document.getElementById('job-progress');
  if (bar === null) return;
  const value = Number(bar.getAttribute('value'));
  const seen = window.__progress;
  if (seen.length === 0 || seen[seen.length - 1] !== value) seen.push(value);
};
new MutationObserver((mutations) => {
  for (const mutation of mutations) {
    if (mutation.type === 'attributes') noteHandlers(mutation.target);
    mutation.addedNodes.forEach(noteHandlers);
  }
  noteProgress();
}).observe(document, { childList: true, subtree: true, attributes: true });
"""
#: The one CSP report a hostile diagram label earns, from mermaid's own sanitiser: DOMPurify parses the
#: label with DOMParser, and Chromium reports the handler it meets in that inert document (never run, never
#: in the page: `window.__handlers` proves it). See https://github.com/cure53/DOMPurify/issues/107.
SANITISER_REPORT = re.compile(r"CSP violation: script-src-attr from https?://[^/]+/static/vendor/mermaid\.min\.js$")
CHROMIUM_CSP_MESSAGE = "Executing inline event handler violates the following Content Security Policy"


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(start_web_server: StartWebServer) -> WebServer:  # noqa: F811 - the fixture
    """One server for the module's tests that only add to it (each its own repository and user)."""
    return start_web_server("shared", slow=SLOW)


@pytest.fixture(scope="module")
def admin_state(server: WebServer, browser: Browser) -> dict[str, Any]:
    """The admin's session, opened with the link `up` printed (the first-run test checks that flow itself)."""
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    page.goto(server.login_link())
    page.wait_for_url(f"{server.url}/settings")
    state = context.storage_state()
    context.close()
    return dict(state)


def _context(browser: Browser, server: WebServer, state: dict[str, Any] | None = None) -> BrowserContext:
    context = browser.new_context(base_url=server.url, locale="en-US", storage_state=state)  # type: ignore[arg-type]
    context.add_init_script(WATCH_SCRIPT)
    return context


@pytest.fixture
def admin(browser: Browser, server: WebServer, admin_state: dict[str, Any]) -> Iterator[BrowserContext]:
    context = _context(browser, server, admin_state)
    yield context
    context.close()


@pytest.fixture(scope="module")
def admin_course(server: WebServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """A course the admin generated (submitted through the JSON API with the admin's token): job and course id."""
    root = make_project(tmp_path_factory.mktemp("admin-shop") / "shop")
    token = server.accounts.issue_api_token("admin", "browser test")
    created = _api(server, "POST", "/api/v1/jobs", token, {"source": str(root), "max_chapters": 3})
    job_id = created["job"]["id"]
    job = wait_until(
        lambda: finished(server.queue, job_id), timeout=GENERATION_MS / 1000, what="the admin's course job"
    )
    assert job.status is JobStatus.SUCCEEDED, f"{job.error_kind}: {job.error_message}\n{server.output()}"
    return {"job": job_id, "course": CourseStore(server.database).for_job(job_id).id}


def _api(server: WebServer, method: str, path: str, token: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        server.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# ---------------------------------------------------------------------- helpers


def _login(page: Page, name: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def _submit(page: Page, source: Path, *, max_chapters: int = 3) -> int:
    """Submit a generation from the dashboard form; the job page's id."""
    page.goto("/")
    page.fill("form.submit input[name=source]", str(source))
    page.fill("form.submit input[name=max_chapters]", str(max_chapters))
    page.click("form.submit button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def _mark(page: Page) -> None:
    """Mark the loaded page: the mark survives live updates, not a reload or a navigation."""
    page.evaluate("window.__marker = 1")


def _still_marked(page: Page) -> bool:
    return bool(page.evaluate("window.__marker === 1"))


# Every wait_for_function below takes a function, never an expression string: Playwright evaluates a
# string with eval() inside the page, which the app's CSP (no 'unsafe-eval') refuses.


def _wait_status(page: Page, status: str, timeout: float = GENERATION_MS) -> None:
    page.wait_for_function(
        "(status) => document.getElementById('job-status')?.textContent.trim() === status", arg=status, timeout=timeout
    )


def _diagrams_done(page: Page) -> None:
    page.wait_for_function("() => document.documentElement.dataset.diagrams === 'done'", timeout=30_000)


def _csp_violations(log: PageLog) -> list[str]:
    return [m for m in log.console_errors if "CSP violation" in m or "Content Security Policy" in m]


def _assert_quiet(page: Page, log: PageLog) -> None:
    """No uncaught error, dialog, CSP violation, console error or inline event handler on the page."""
    assert log.page_errors == [] and log.dialogs == [], (log.page_errors, log.dialogs)
    assert _csp_violations(log) == [], log.console_errors
    assert log.console_errors == [], log.console_errors
    assert page.evaluate("window.__handlers") == []


# ---------------------------------------------------------------------- tests


def test_first_run_login_link_then_a_password(browser: Browser, start_web_server: StartWebServer) -> None:  # noqa: F811
    fresh = start_web_server("first-run")
    assert "Created the user 'admin'" in fresh.output()
    link = fresh.login_link()
    assert link.startswith(f"{fresh.url}/login/link/fdn_")

    context = _context(browser, fresh)
    page, log = watched_page(context)  # type: ignore[arg-type] - a context opens pages like a browser does
    page.goto(link)
    page.wait_for_url(f"{fresh.url}/settings")  # no password yet: straight to where one is chosen
    assert "(admin)" in page.locator("header form[action='/logout'] button").inner_text()
    page.fill("form[action='/settings'] input[name=password]", ADMIN_PASSWORD)
    page.click("form[action='/settings'] button[type=submit]")
    page.wait_for_url(f"{fresh.url}/login")  # a new password ends every session, this one too

    page.goto(link)  # the link worked once
    assert page.locator("p.error[role=alert]").is_visible()
    assert page.url == link and page.locator("form[action='/login']").is_visible()

    _login(page, "admin", ADMIN_PASSWORD)
    assert page.locator("h1").first.inner_text() != ""
    page.click("header form[action='/logout'] button")
    page.wait_for_url(f"{fresh.url}/login")
    page.goto("/")
    page.wait_for_url(re.compile(r"/login\?next=%2F$"))  # logged out for real

    _login(page, "admin", ADMIN_PASSWORD)
    assert "(admin)" in page.locator("header form[action='/logout'] button").inner_text()
    assert page.locator("form.submit").is_visible()
    # Only the used link's second opening answered 401; nothing else went wrong.
    assert log.page_errors == [] and log.dialogs == [] and _csp_violations(log) == []
    assert [m for m in log.console_errors if "401" not in m] == [], log.console_errors
    context.close()


def test_a_generation_is_watched_live_to_its_course(admin: BrowserContext, server: WebServer, tmp_path: Path) -> None:
    root = make_project(tmp_path / "shop")
    page, log = watched_page(admin)  # type: ignore[arg-type]
    page.goto("/")
    page.fill("form.submit input[name=source]", str(root))
    _shot(page, "dashboard")
    job_id = _submit(page, root)
    _mark(page)

    page.wait_for_function(
        "() => { const bar = document.getElementById('job-progress');"
        " return document.getElementById('job-status').textContent.trim() === 'running'"
        " && Number(bar.getAttribute('value')) > 0 && Number(bar.getAttribute('value')) < 100; }",
        timeout=GENERATION_MS,
    )
    _shot(page, "job-running")
    page.wait_for_selector("#done-course, #open-course", timeout=GENERATION_MS)
    _wait_status(page, "succeeded", timeout=10_000)
    _shot(page, "job-succeeded")

    seen = page.evaluate("window.__progress")
    rises = sum(1 for before, after in pairwise(seen) if after > before)
    assert rises >= 2, f"the progress bar moved {rises} times: {seen}"
    assert seen[-1] == 100 and seen == sorted(seen), seen
    assert _still_marked(page), "the job page was reloaded"
    assert re.fullmatch(r"100(\.0)? %", page.locator("#job-percent").inner_text().strip())
    assert page.locator("#timeline li").count() >= 3  # enqueued, claimed, ... appended live
    course_id = CourseStore(server.database).for_job(job_id).id
    assert page.locator("#done-course").get_attribute("href") == f"/courses/{course_id}/"

    page.click("#done-course")
    page.wait_for_url(f"{server.url}/courses/{course_id}/")
    _diagrams_done(page)
    assert page.locator("nav.sidebar .course-title").inner_text() == "shop"
    _assert_quiet(page, log)


def test_a_chapter_draws_its_diagrams_under_the_csp(admin: BrowserContext, admin_course: dict[str, int]) -> None:
    page, log = watched_page(admin)  # type: ignore[arg-type]
    response = page.goto(f"/courses/{admin_course['course']}/")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    _diagrams_done(page)
    chapters = page.locator("nav.sidebar ol").first.locator("a")
    assert chapters.count() >= 2
    drawn = 0
    for index in range(chapters.count()):  # the first chapter with a diagram (every one is checked on the way)
        page.locator("nav.sidebar ol").first.locator("a").nth(index).click()
        page.wait_for_url(re.compile(r"/chapters/.+\.md$"))
        _diagrams_done(page)
        assert page.locator("article pre.mermaid").count() == 0  # nothing left undrawn
        failed = page.locator("article .diagram-error")
        assert failed.count() == 0, failed.first.inner_text()
        drawn = page.locator("article pre.diagram svg").count()
        if drawn:
            break
    assert drawn >= 1, "no chapter has a drawn diagram"
    assert page.locator("article pre.diagram svg g.node").count() >= 2  # a real drawing, not an error picture
    assert page.locator("nav.sidebar a[aria-current=page]").count() == 1
    _shot(page, "chapter-with-diagram")
    _assert_quiet(page, log)


def test_cancel_on_the_job_page_stops_the_running_job(admin: BrowserContext, server: WebServer, tmp_path: Path) -> None:
    root = make_project(tmp_path / "to-cancel")
    page, log = watched_page(admin)  # type: ignore[arg-type]
    job_id = _submit(page, root, max_chapters=10)
    _mark(page)
    page.wait_for_function(
        "() => document.getElementById('job-status').textContent.trim() === 'running'"
        " && Number(document.getElementById('job-progress').getAttribute('value')) > 0",
        timeout=GENERATION_MS,
    )
    page.click("#cancel")
    _wait_status(page, "canceled", timeout=30_000)
    _shot(page, "job-canceled")
    assert _still_marked(page), "the job page was reloaded"
    assert page.locator("#done").inner_text().strip() == "canceled"
    assert page.locator("#cancel").count() == 0 and page.locator("#retry").is_visible()

    job = server.queue.get(job_id)  # the worker really stopped it, and said so
    assert (job.status, job.error_kind) == (JobStatus.CANCELED, ErrorKind.CANCELED), job
    last = server.queue.events(job_id)[-1]
    assert (last.kind, last.actor) == (EventKind.CANCELED, server.worker_id), last  # by the lease holder
    answer = page.request.get(f"/api/v1/jobs/{job_id}")
    assert answer.ok and (answer.json()["status"], answer.json()["error_kind"]) == ("canceled", "canceled")
    with pytest.raises(CourseNotFoundError):
        CourseStore(server.database).for_job(job_id)
    _assert_quiet(page, log)


def test_another_user_finds_nothing_at_the_admins_urls(
    browser: Browser, server: WebServer, admin: BrowserContext, admin_course: dict[str, int]
) -> None:
    server.accounts.add_user("bob", BOB_PASSWORD)
    context = _context(browser, server)
    page, log = watched_page(context)  # type: ignore[arg-type]
    _login(page, "bob", BOB_PASSWORD)
    assert page.locator("table.list, ul.repos").count() == 0  # bob's dashboard: nothing of the admin's
    for url in (
        f"/courses/{admin_course['course']}/",
        f"/jobs/{admin_course['job']}",
        f"/jobs/{admin_course['job']}/live",
    ):
        assert admin.request.get(url).status == 200, url  # there for its owner
        response = page.goto(url)
        assert response is not None and response.status == 404, url
        assert page.locator("h1").inner_text() == "Not found.", url
        assert page.locator("article, nav.sidebar, #job-progress, #timeline").count() == 0, url
        assert "shop" not in page.content(), url
        if url.startswith("/courses/"):
            _shot(page, "not-found-for-another-user")
    assert page.request.get(f"/api/v1/courses/{admin_course['course']}").status == 404
    # The only console errors are the 404 answers themselves.
    assert all("404" in message for message in log.console_errors), log.console_errors
    assert log.page_errors == [] and log.dialogs == [] and _csp_violations(log) == []
    context.close()


XSS_CHAPTER = """\
# Chapter 1: Hostile

<script>window.__pwned=1; alert('script')</script>

<img src=x onerror="window.__pwned=1; alert('img')">

A markdown link: [x](javascript:window.__pwned=1).

A raw one: <a href="javascript:window.__pwned=1;alert('a')">raw link</a>.

<svg><a xlink:href="javascript:window.__pwned=1"><text y="20">svg link</text></a></svg>

<iframe src="javascript:window.__pwned=1"></iframe>

```mermaid
flowchart TD
    A["<img src=x onerror=window.__pwned=1>"] --> B["<b onmouseover=window.__pwned=1>bold</b>"]
    click B href "javascript:window.__pwned=1"
```

```mermaid
flowchart LR
    C[Start] --> D[End]
    click C call alert("call")
    click D callback "tooltip<img src=x onerror=window.__pwned=1>"
```
"""


def _store_course(server: WebServer, owner: str, chapter: str) -> int:
    """Store a course the way a worker does: a claimed job completed with it, owned by `owner`."""
    spec = SourceSpec(SourceKind.GITHUB, "https://github.com/example/hostile.git", "hostile")
    owner_id = server.accounts.user(owner).id
    job = server.queue.enqueue(spec, owner_id=owner_id, claim_as="browser-test", lease_seconds=60).job
    course = NewCourse(
        title="Hostile",
        language="en",
        commit_sha="b" * 40,
        provider="offline",
        options={"language": "en"},
        quality={},
        documents=(
            NewDocument("index.md", "index", "Hostile", 0, "# Hostile\n\n[Chapter 1](chapters/01-hostile.md)\n"),
            NewDocument("chapters/01-hostile.md", "chapter", "Chapter 1: Hostile", 1, chapter),
        ),
    )
    server.queue.complete(Lease(job), {}, course=course)
    return CourseStore(server.database).for_job(job.id).id


def test_model_written_html_never_runs_in_the_viewer(admin: BrowserContext, server: WebServer) -> None:
    course_id = _store_course(server, "admin", XSS_CHAPTER)
    page, log = watched_page(admin)  # type: ignore[arg-type]
    page.goto(f"/courses/{course_id}/")
    page.locator("article").get_by_role("link", name="Chapter 1").click()
    page.wait_for_url(f"{server.url}/courses/{course_id}/chapters/01-hostile.md")
    _diagrams_done(page)
    _shot(page, "hostile-chapter")

    article = page.locator("article")
    assert "Hostile" in page.locator("h1").first.inner_text()
    assert article.locator("script, iframe").count() == 0
    assert page.locator("article pre.mermaid").count() == 0  # each diagram drawn or shown as source
    assert page.locator("article pre.diagram svg").count() >= 1  # mermaid did meet the payloads
    assert page.locator("article pre.diagram, article .diagram-error").count() == 2
    found = page.evaluate(
        """() => {
          const all = Array.from(document.querySelectorAll('*'));
          const handlers = all.flatMap((el) =>
            Array.from(el.attributes).filter((a) => a.name.toLowerCase().startsWith('on'))
              .map((a) => el.tagName + ' ' + a.name));
          const scripted = all.flatMap((el) => ['href', 'xlink:href', 'src', 'action', 'formaction']
            .map((name) => el.getAttribute(name)).filter((v) => v && /^\\s*javascript:/i.test(v))
            .map((v) => el.tagName + ' ' + v));
          const scripts = Array.from(document.scripts).map((s) => s.src);
          return { handlers, scripted, scripts };
        }"""
    )
    assert found["handlers"] == [] and found["scripted"] == [], found
    assert all(src.startswith(f"{server.url}/static/") for src in found["scripts"]), found["scripts"]

    raw = article.locator("a", has_text="raw link")
    if raw.count():
        raw.first.click()  # its javascript: href was stripped: nothing happens
    for node in page.locator("article svg .node").all():
        node.click()  # strict mermaid: no click handlers, no links
    assert page.url == f"{server.url}/courses/{course_id}/chapters/01-hostile.md"
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert log.dialogs == [] and log.page_errors == [], (log.dialogs, log.page_errors)
    assert page.evaluate("window.__handlers") == []  # no handler ever reached the page, not even for a moment
    reports = [m for m in log.console_errors if m.startswith("CSP violation:")]
    assert all(SANITISER_REPORT.match(m) for m in reports), reports
    native = [m for m in log.console_errors if "Content Security Policy" in m]
    assert len(native) == len(reports) and all(m.startswith(CHROMIUM_CSP_MESSAGE) for m in native), native
    # Otherwise only the sanitised <img src=x> asking the server for a file that is not there.
    others = [m for m in log.console_errors if m not in reports and m not in native]
    assert all("status of 404" in m for m in others), others

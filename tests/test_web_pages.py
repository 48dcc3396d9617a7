"""The server-rendered pages on both backends: who may open what, what the owner sees, the submit form's
errors, the live job view, admin, settings and the French translation; and two files that must not drift
(the i18n catalogues, the generated highlight.css).
"""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from fondation.domain.jobs import ErrorKind, JobStatus, Progress
from fondation.queue import WorkerRegistry
from fondation.render.markdown import highlight_css
from fondation.web import i18n
from fondation.web.auth import SESSION_COOKIE
from web_harness import (
    CODE_REFERENCE_URL,
    PASSWORD,
    StoredCourse,
    WebApp,
    csrf_token,
    login,
    sign_in,
    wait_until,
)

pytest_plugins = ["web_harness"]

WEB_DIR = Path(i18n.__file__).parent
EN = i18n.MESSAGES["en"]
FR = i18n.MESSAGES["fr"]


@dataclass(frozen=True, slots=True)
class Things:
    """Alice's pending job and her succeeded job with its course."""

    pending: int
    done: StoredCourse

    def fill(self, url: str) -> str:
        return url.format(
            pending=self.pending,
            job=self.done.job_id,
            course=self.done.course_id,
            repository=self.done.repository_id,
        )


@pytest.fixture
def things(web: WebApp) -> Things:
    done = web.store_course(web.alice)
    return Things(web.create_job(web.alice, "example/pending")["id"], done)


#: Every page route with a request that reaches it (method, url with {pending}/{job}/{course}/{repository}).
PAGES: list[tuple[str, str]] = [
    ("GET", "/"),
    ("POST", "/jobs"),
    ("GET", "/jobs/{pending}"),
    ("GET", "/jobs/{pending}/live"),
    ("POST", "/jobs/{pending}/cancel"),
    ("POST", "/jobs/{pending}/retry"),
    ("POST", "/jobs/{job}/regenerate"),
    ("GET", "/repositories/{repository}"),
    ("GET", "/courses/{course}/download/md"),
    ("GET", "/courses/{course}/"),
    ("GET", "/courses/{course}"),
    ("GET", "/courses/{course}/chapters/01-x.md"),
    ("GET", "/admin"),
    ("POST", "/admin/reclaim-expired"),
    ("POST", "/admin/requeue"),
    ("GET", "/settings"),
    ("POST", "/settings"),
    ("POST", "/logout"),
]
#: The pages that show one of alice's things: another user gets 404, as for an id that does not exist.
OWNED: list[tuple[str, str]] = [
    ("GET", "/jobs/{pending}"),
    ("GET", "/jobs/{pending}/live"),
    ("POST", "/jobs/{pending}/cancel"),
    ("POST", "/jobs/{pending}/retry"),
    ("POST", "/jobs/{job}/regenerate"),
    ("GET", "/repositories/{repository}"),
    ("GET", "/courses/{course}/download/md"),
    ("GET", "/courses/{course}/download/html"),
    ("GET", "/courses/{course}/"),
    ("GET", "/courses/{course}/chapters/01-x.md"),
]


def _text(html: str) -> str:
    """The page's words, without markup (for asserting on what a reader sees)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _errors(html: str) -> dict[str, str]:
    """The field errors shown beside the submit form's fields: field -> message."""
    return dict(re.findall(r'<p class="error" role="alert" data-field="([a-z_]+)">([^<]*)</p>', html))


# ---------------------------------------------------------------------- who may open what


def test_anonymous_visitors_are_sent_to_the_login_page(web: WebApp, client: TestClient, things: Things) -> None:
    for method, template in PAGES:
        url = things.fill(template)
        response = client.request(method, url + "?tab=x" if method == "GET" else url)
        assert response.status_code == 303, (method, url, response.status_code)
        # A form posted without a session goes back to the page it came from (here none: the dashboard),
        # never to a URL that only takes POST.
        target = quote(url + "?tab=x", safe="") if method == "GET" else quote("/", safe="")
        assert response.headers["location"] == f"/login?next={target}", (method, url)
    posted = client.post(things.fill(PAGES[-1][1]), headers={"referer": f"http://testserver/jobs/{things.pending}"})
    assert posted.headers["location"] == f"/login?next={quote(f'/jobs/{things.pending}', safe='')}"
    # The login page keeps where to go back to, and goes there once logged in.
    form = client.get(f"/login?next={quote('/jobs/' + str(things.pending), safe='')}")
    assert f'name="next" value="/jobs/{things.pending}"' in form.text
    done = client.post(
        "/login",
        data={
            "name": "alice",
            "password": PASSWORD,
            "csrf_token": csrf_token(form.text),
            "next": f"/jobs/{things.pending}",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == f"/jobs/{things.pending}"


def test_the_login_never_redirects_off_site(web: WebApp, client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"):
        form = client.get("/login")
        data = {"name": "alice", "password": PASSWORD, "csrf_token": csrf_token(form.text), "next": target}
        done = client.post("/login", data=data)
        assert done.status_code == 303 and done.headers["location"] == "/", target
        client.cookies.clear()


def test_another_user_gets_404_for_alices_pages(web: WebApp, client: TestClient, things: Things) -> None:
    token = sign_in(client, web, web.bob)
    for method, template in OWNED:
        url = things.fill(template)
        response = client.request(method, url, data={"csrf_token": token} if method == "POST" else None)
        assert response.status_code == 404, (method, url, response.status_code)
        assert EN["error.not_found"] in response.text
    # /courses/N only adds the slash, for any N: it tells nothing, and the page it leads to is 404.
    course_root = client.get(things.fill("/courses/{course}"))
    assert course_root.status_code == 303 and client.get(course_root.headers["location"]).status_code == 404
    assert client.get("/courses/999999").headers["location"] == "/courses/999999/"
    assert web.queue.get(things.pending).status is JobStatus.PENDING
    assert len(web.queue.list()) == 2  # bob's regenerate made nothing


def test_admin_pages_are_for_admins(web: WebApp, client: TestClient) -> None:
    token = sign_in(client, web, web.alice)
    assert client.get("/admin").status_code == 403
    for url in ("/admin/reclaim-expired", "/admin/requeue"):
        response = client.post(url, data={"csrf_token": token})
        assert response.status_code == 403 and EN["error.forbidden"] in response.text
    assert 'href="/admin"' not in client.get("/").text  # no link to a page she may not open


def test_the_admin_page_and_its_actions(web: WebApp, client: TestClient) -> None:
    WorkerRegistry(web.database).register("w-page", concurrency=3, stale_after_seconds=30)
    web.create_job(web.alice, "example/failing")
    (lease,) = web.queue.claim("w-page", lease_seconds=30)
    web.queue.fail(lease, ErrorKind.TRANSIENT, "network down")
    token = sign_in(client, web, web.root)
    page = client.get("/admin")
    assert page.status_code == 200
    words = _text(page.text)
    assert "w-page" in words and "alice" in words and "bob" in words and "transient" in words
    reclaimed = client.post("/admin/reclaim-expired", data={"csrf_token": token})
    assert reclaimed.status_code == 303 and reclaimed.headers["location"] == "/admin?moved=0"
    requeued = client.post("/admin/requeue", data={"csrf_token": token, "status": "failed"})
    assert requeued.status_code == 303 and requeued.headers["location"] == "/admin?moved=1"
    assert web.queue.get(lease.job_id).status is JobStatus.PENDING
    assert EN["admin.done"].format(count=1) in _text(client.get("/admin?moved=1").text)
    bad = client.post("/admin/requeue", data={"csrf_token": token, "status": "succeeded"})
    assert bad.status_code == 422


# ---------------------------------------------------------------------- what the owner sees


def test_the_dashboard_lists_repositories_and_jobs(web: WebApp, client: TestClient, things: Things) -> None:
    sign_in(client, web, web.alice)
    web.create_job(web.bob, "example/bobs-secret")
    page = client.get("/")
    assert page.status_code == 200
    assert f'href="/repositories/{things.done.repository_id}"' in page.text
    assert f'href="/courses/{things.done.course_id}/"' in page.text
    assert f'href="/jobs/{things.pending}"' in page.text
    assert "bobs-secret" not in page.text
    assert '<form method="post" action="/jobs"' in page.text


def test_the_job_page(web: WebApp, client: TestClient, things: Things) -> None:
    sign_in(client, web, web.alice)
    done = client.get(f"/jobs/{things.done.job_id}")
    assert done.status_code == 200
    assert 'id="job-status">succeeded<' in done.text
    assert f'id="open-course" href="/courses/{things.done.course_id}/"' in done.text
    assert 'id="job-chapter">1/1<' in done.text and 'id="job-tokens">1,500<' in done.text
    assert [kind for kind in re.findall(r'class="kind">([a-z_]+)<', done.text)] == [
        "enqueued",
        "claimed",
        "progress",
        "succeeded",
    ]
    assert "sse-connect" not in done.text  # a finished job needs no live updates
    pending = client.get(f"/jobs/{things.pending}")
    assert f'sse-connect="/jobs/{things.pending}/live"' in pending.text
    assert 'id="cancel"' in pending.text and 'id="regenerate"' not in pending.text


def test_the_repository_history(web: WebApp, client: TestClient, things: Things) -> None:
    sign_in(client, web, web.alice)
    second = web.store_course(web.alice)
    page = client.get(f"/repositories/{things.done.repository_id}")
    assert page.status_code == 200
    history = page.text[page.text.index('id="history"') :]
    linked = re.findall(r'<td><a href="/courses/(\d+)/">', history)
    assert linked == [str(second.course_id), str(things.done.course_id)]  # newest first, both kept
    assert "0123456789ab" in history and "path precision 1.0" in _text(history)
    assert f'href="/courses/{second.course_id}/download/html"' in history
    assert 'href="https://github.com/example/repo"' in page.text


def test_the_course_overview_links_code_references_to_the_commit(
    web: WebApp, client: TestClient, things: Things
) -> None:
    sign_in(client, web, web.alice)
    course = things.done.course_id
    page = client.get(f"/courses/{course}/")
    assert page.status_code == 200
    assert f'href="{CODE_REFERENCE_URL}"' in page.text
    assert f'href="/courses/{course}/chapters/01-x.md"' in page.text  # the markdown link, made a viewer link
    assert f'href="/courses/{course}/tutorials/01-x.md"' in page.text  # the sidebar
    assert '<link rel="stylesheet" href="/static/highlight.css">' in page.text
    assert client.get(f"/courses/{course}").headers["location"] == f"/courses/{course}/"


def test_a_chapter_page_carries_its_diagram_and_highlighted_code(
    web: WebApp, client: TestClient, things: Things
) -> None:
    sign_in(client, web, web.alice)
    course = things.done.course_id
    chapter = client.get(f"/courses/{course}/chapters/01-x.md")
    assert chapter.status_code == 200
    assert '<pre class="mermaid">flowchart LR\n  A[Request] --&gt; B[Handler]\n</pre>' in chapter.text
    assert 'class="highlight"' in chapter.text and "handler" in chapter.text
    assert f'href="/courses/{course}/chapters/01-x.md" aria-current="page"' in chapter.text
    tutorial = client.get(f"/courses/{course}/tutorials/01-x.md")
    assert f'href="/courses/{course}/"' in tutorial.text  # ../index.md resolved against the page's folder
    assert client.get(f"/courses/{course}/quality.json").status_code == 404  # an artifact, not a page
    assert client.get(f"/courses/{course}/chapters/99-none.md").status_code == 404


def test_downloads(web: WebApp, client: TestClient, things: Things) -> None:
    sign_in(client, web, web.alice)
    for export_format, page in (("md", "index.md"), ("html", "index.html")):
        response = client.get(f"/courses/{things.done.course_id}/download/{export_format}")
        assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
        assert "attachment" in response.headers["content-disposition"]
        assert page in zipfile.ZipFile(io.BytesIO(response.content)).namelist(), export_format
    assert client.get(f"/courses/{things.done.course_id}/download/pdf").status_code == 404


# ---------------------------------------------------------------------- the submit form and job actions


def test_submitting_queues_a_job_and_a_second_submit_finds_it(web: WebApp, client: TestClient) -> None:
    token = sign_in(client, web, web.alice)
    form = {"csrf_token": token, "source": "example/new", "ref": "", "language": "fr", "max_chapters": "5"}
    first = client.post("/jobs", data=form)
    assert first.status_code == 303
    job_id = int(first.headers["location"].rsplit("/", 1)[1])
    job = web.queue.get(job_id)
    assert (job.owner_id, job.options["language"], job.options["max_chapters"]) == (web.alice.user.id, "fr", 5)
    again = client.post("/jobs", data=form)
    assert again.headers["location"] == f"/jobs/{job_id}?existing=1"
    assert EN["submit.exists"] in client.get(again.headers["location"]).text


FORM_ERRORS: list[tuple[dict[str, str], str]] = [
    ({"source": "not a source!!"}, "source"),
    ({"source": "LOCAL"}, "source"),  # a directory on the server: for admins only
    ({"source": "example/repo", "ref": "a..b"}, "ref"),
    ({"source": "example/repo", "language": "de"}, "language"),
    ({"source": "example/repo", "provider": "nope"}, "provider"),
    ({"source": "example/repo", "max_chapters": "abc"}, "max_chapters"),
    ({"source": "example/repo", "max_chapters": "0"}, "max_chapters"),
]


def test_submit_errors_are_shown_beside_the_field(web: WebApp, client: TestClient, tmp_path: Path) -> None:
    token = sign_in(client, web, web.alice)
    for fields, field in FORM_ERRORS:
        sent = {"source": str(tmp_path)} if fields["source"] == "LOCAL" else fields
        response = client.post("/jobs", data={"csrf_token": token, **sent})
        assert response.status_code == 422, sent
        errors = _errors(response.text)
        assert list(errors) == [field] and errors[field], (sent, errors)
        assert f'value="{sent["source"]}"' in response.text, sent  # what was typed is kept
    assert web.queue.list() == []


def test_job_actions_from_the_page(web: WebApp, client: TestClient, things: Things) -> None:
    token = sign_in(client, web, web.alice)
    canceled = client.post(f"/jobs/{things.pending}/cancel", data={"csrf_token": token})
    assert canceled.status_code == 303 and canceled.headers["location"] == f"/jobs/{things.pending}"
    assert web.queue.get(things.pending).status is JobStatus.CANCELED
    retried = client.post(f"/jobs/{things.pending}/retry", data={"csrf_token": token})
    assert retried.status_code == 303 and web.queue.get(things.pending).status is JobStatus.PENDING
    refused = client.post(f"/jobs/{things.done.job_id}/cancel", data={"csrf_token": token})
    assert refused.status_code == 409 and "already succeeded" in refused.text
    regenerated = client.post(f"/jobs/{things.done.job_id}/regenerate", data={"csrf_token": token})
    assert regenerated.status_code == 303
    new_id = int(regenerated.headers["location"].rsplit("/", 1)[1])
    old, new = web.queue.get(things.done.job_id), web.queue.get(new_id)
    assert new_id != old.id and new.status is JobStatus.PENDING
    assert (new.source, new.options, new.owner_id) == (old.source, old.options, old.owner_id)


# ---------------------------------------------------------------------- the live job view


def _sse_events(lines: Iterator[str], until: str) -> list[tuple[str, str]]:
    """(event, data) pairs read from SSE lines up to and including the `until` event (data lines joined)."""
    pairs: list[tuple[str, str]] = []
    name, data = None, []
    for line in lines:
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line == "" and name is not None:
            pairs.append((name, "\n".join(data)))
            if name == until:
                return pairs
            name, data = None, []
    raise AssertionError(f"the stream ended before {until!r}: {pairs}")


def test_the_live_view_follows_the_job_to_its_end(web: WebApp, client: TestClient) -> None:
    sign_in(client, web, web.alice)
    job_id = web.create_job(web.alice)["id"]
    hub = web.app.state.context.hub
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            wait_until(lambda: hub.subscriber_count > 0)
            (lease,) = web.queue.claim("w-live", lease_seconds=30)
            web.queue.progress(lease, Progress("chapters", 1, 2, "chapter 1/2", 40.0, {"chapter": 1, "chapters": 2}))
            web.queue.fail(lease, ErrorKind.PERMANENT, "the repository is empty")
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=worker)
    with client.stream("GET", f"/jobs/{job_id}/live") as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        first = _sse_events(lines, "progress")
        thread.start()  # the job moves only once the page shows it as it was
        events = first + _sse_events(lines, "done")
    thread.join(10)
    assert not failures, failures
    names = [name for name, _ in events]
    assert names[0] == "progress" and names[-1] == "done" and "timeline" in names
    assert 'data-status="pending"' in events[0][1]
    timeline = "".join(data for name, data in events if name == "timeline")
    assert "data-event" in timeline and "the repository is empty" in timeline
    last_progress = [data for name, data in events if name == "progress"][-1]
    assert 'data-status="dead"' in last_progress and "permanent: the repository is empty" in last_progress
    assert 'id="retry"' in last_progress  # a dead job can be retried from the fragment
    assert 'data-status="dead"' in events[-1][1]


def test_the_live_view_shows_the_last_event_of_a_job_that_ended_within_a_tick(
    web: WebApp, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for the API stream: the job ends between the hub's read of the events and its read of the job;
    the timeline must still get the final row before `done`."""
    sign_in(client, web, web.alice)
    job_id = web.create_job(web.alice)["id"]
    (lease,) = web.queue.claim("w-race", lease_seconds=30)
    get_many = web.queue.get_many

    def fail_then_read(job_ids: Any) -> Any:
        if web.queue.get(job_id).status is JobStatus.RUNNING:
            web.queue.fail(lease, ErrorKind.PERMANENT, "the repository is empty")
        return get_many(job_ids)

    with client.stream("GET", f"/jobs/{job_id}/live") as response:
        lines = response.iter_lines()
        _sse_events(lines, "progress")
        monkeypatch.setattr(web.queue, "get_many", fail_then_read)
        web.queue.progress(lease, Progress("chapters", 1, 2, "chapter 1/2", 40.0))
        events = _sse_events(lines, "done")
    timeline = "".join(data for name, data in events if name == "timeline")
    assert re.findall(r'class="kind">([a-z_]+)<', timeline) == ["progress", "dead"]
    assert 'data-status="dead"' in events[-1][1]


def test_the_live_view_of_a_finished_job_links_its_course(web: WebApp, client: TestClient, things: Things) -> None:
    sign_in(client, web, web.alice)
    response = client.get(f"/jobs/{things.done.job_id}/live")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert [line for line in response.text.splitlines() if line.startswith("event:")] == [
        "event: progress",
        "event: done",
    ]
    assert f'<a href="/courses/{things.done.course_id}/" id="done-course">' in response.text


# ---------------------------------------------------------------------- settings and languages


def test_french_by_accept_language(web: WebApp, client: TestClient) -> None:
    login_page = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in login_page.text and FR["login.title"] in login_page.text
    sign_in(client, web, web.alice)
    page = client.get("/", headers={"Accept-Language": "fr"})
    assert '<html lang="fr">' in page.text
    assert FR["dashboard.title"] in page.text and EN["dashboard.title"] not in page.text
    english = client.get("/", headers={"Accept-Language": "de, en;q=0.8"})
    assert '<html lang="en">' in english.text and EN["dashboard.title"] in english.text
    missing = client.get("/jobs/999999", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404 and FR["error.not_found"] in missing.text


def test_french_by_the_users_setting(web: WebApp, client: TestClient) -> None:
    token = sign_in(client, web, web.alice)
    saved = client.post("/settings", data={"csrf_token": token, "language": "fr"})
    assert saved.status_code == 303 and saved.headers["location"] == "/settings?saved=1"
    assert FR["settings.saved"] in client.get("/settings?saved=1").text
    page = client.get("/", headers={"Accept-Language": "en"})  # the setting wins over the browser
    assert '<html lang="fr">' in page.text and FR["dashboard.title"] in page.text
    assert client.get("/api/v1/me", headers=web.alice.headers).json()["language"] == "fr"
    client.post("/settings", data={"csrf_token": token, "language": ""})
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "en"}).text
    bad = client.post("/settings", data={"csrf_token": token, "language": "de"})
    assert bad.status_code == 422 and "language must be one of" in bad.text


def test_a_new_password_ends_the_sessions(web: WebApp, client: TestClient) -> None:
    token = sign_in(client, web, web.alice)
    weak = client.post("/settings", data={"csrf_token": token, "password": "short"})
    assert weak.status_code == 422 and "at least 10 characters" in weak.text
    changed = client.post("/settings", data={"csrf_token": token, "password": "a much longer passphrase"})
    assert changed.status_code == 303 and changed.headers["location"] == "/login"
    assert client.get("/").status_code == 303  # this session too
    login(client, "alice", "a much longer passphrase")
    assert client.cookies.get(SESSION_COOKIE)


def test_the_catalogues_have_the_same_keys_and_placeholders() -> None:
    assert set(EN) == set(FR), set(EN) ^ set(FR)
    for key, text in EN.items():
        assert text.strip() and FR[key].strip(), key
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", FR[key])), key


def test_every_key_the_templates_and_code_use_exists() -> None:
    """A key missing from the catalogue would raise at render time on a page no other test opens."""
    used: set[str] = set()
    for template in (WEB_DIR / "templates").glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_]+)["']""", template.read_text(encoding="utf-8")))
    for module in WEB_DIR.glob("*.py"):
        found = re.findall(r"""["']((?:login|error|course|repo|job)\.[a-z_]+)["']""", module.read_text())
        used |= {key for key in found if not key.endswith(".html")}  # template names look alike
    assert len(used) > 40
    assert used - set(EN) == set()


def test_highlight_css_is_the_generated_stylesheet() -> None:
    """static/highlight.css is generated from Pygments: regenerate it when Pygments' output changes."""
    header, body = (WEB_DIR / "static" / "highlight.css").read_text(encoding="utf-8").split("\n", 1)
    assert header.startswith("/*") and header.endswith("*/")
    assert body == highlight_css() + "\n", "regenerate src/fondation/web/static/highlight.css"

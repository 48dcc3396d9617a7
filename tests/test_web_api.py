"""The JSON API under /api/v1 on both backends: who may call what, what each route answers, and the
protections around it (CSRF, security headers, session cookies, the login rate limit, logout, login links).

Every route is exercised from one table (`CALLS`) four ways: anonymous (401), another user (404 for
alice's ids), an admin (everything), and the owner (the documented body, validated against the route's
response model). The table must name every API route of the app, so a new route cannot skip the checks.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from fake_github import FakeGitHub
from fondation.domain.errors import DatabaseError
from fondation.domain.jobs import ErrorKind, JobStatus, Progress
from fondation.queue import WorkerRegistry
from fondation.store import Database
from fondation.store.database import Database as RawDatabase
from fondation.web.app import create_app
from fondation.web.auth import CSRF_HEADER, SESSION_COOKIE
from helpers import advance_clock
from web_harness import (
    LOGIN_MAX_FAILURES,
    PASSWORD,
    SECRET,
    StoredCourse,
    WebApp,
    build_web,
    csrf_token,
    endpoints,
    login,
    make_settings,
    wait_until,
)

pytest_plugins = ["web_harness", "fake_github"]


@dataclass(frozen=True, slots=True)
class Call:
    """One request per API route: `url` names alice's things as {pending}, {canceled}, {done}, {course},
    {repository}; `admin` routes are refused to ordinary users; `owned` routes take one of alice's ids."""

    method: str
    route: str
    url: str
    body: dict[str, Any] | None = None
    admin: bool = False
    owned: bool = False
    status: int = 200


CALLS = [
    Call("POST", "/api/v1/jobs", "/api/v1/jobs", {"source": "example/fresh"}, status=201),
    Call("GET", "/api/v1/jobs", "/api/v1/jobs"),
    Call("GET", "/api/v1/jobs/{job_id}", "/api/v1/jobs/{pending}", owned=True),
    Call("POST", "/api/v1/jobs/{job_id}/cancel", "/api/v1/jobs/{pending}/cancel", owned=True),
    Call("POST", "/api/v1/jobs/{job_id}/retry", "/api/v1/jobs/{canceled}/retry", owned=True),
    Call("GET", "/api/v1/jobs/{job_id}/events", "/api/v1/jobs/{pending}/events", owned=True),
    Call("GET", "/api/v1/jobs/{job_id}/events/stream", "/api/v1/jobs/{done}/events/stream", owned=True),
    Call("GET", "/api/v1/repositories", "/api/v1/repositories"),
    Call("GET", "/api/v1/repositories/{repository_id}", "/api/v1/repositories/{repository}", owned=True),
    Call("GET", "/api/v1/github/repositories", "/api/v1/github/repositories"),
    Call("GET", "/api/v1/courses", "/api/v1/courses"),
    Call("GET", "/api/v1/courses/{course_id}", "/api/v1/courses/{course}", owned=True),
    Call("GET", "/api/v1/courses/{course_id}/documents", "/api/v1/courses/{course}/documents", owned=True),
    Call(
        "GET",
        "/api/v1/courses/{course_id}/documents/{path:path}",
        "/api/v1/courses/{course}/documents/chapters/01-x.md",
        owned=True,
    ),
    Call("GET", "/api/v1/courses/{course_id}/export", "/api/v1/courses/{course}/export?format=md", owned=True),
    Call("GET", "/api/v1/admin/workers", "/api/v1/admin/workers", admin=True),
    Call("GET", "/api/v1/admin/queue", "/api/v1/admin/queue", admin=True),
    Call("POST", "/api/v1/admin/reclaim-expired", "/api/v1/admin/reclaim-expired", admin=True),
    Call("POST", "/api/v1/admin/requeue", "/api/v1/admin/requeue", {"status": "failed"}, admin=True),
    Call("GET", "/api/v1/admin/users", "/api/v1/admin/users", admin=True),
    Call("GET", "/api/v1/me", "/api/v1/me"),
]
_SCHEMA_ROUTES = {("GET", "/api/v1/openapi.json")}
_PLACEHOLDERS = ("pending", "canceled", "done", "course", "repository")


@dataclass(frozen=True, slots=True)
class AliceThings:
    pending: int
    canceled: int
    done: StoredCourse

    def url(self, call: Call) -> str:
        return call.url.format(
            pending=self.pending,
            canceled=self.canceled,
            done=self.done.job_id,
            course=self.done.course_id,
            repository=self.done.repository_id,
        )


@pytest.fixture
def things(web: WebApp) -> AliceThings:
    """Alice's pending job, canceled job, and succeeded job with its course."""
    done = web.store_course(web.alice)
    pending = web.create_job(web.alice, "example/pending")["id"]
    canceled = web.create_job(web.alice, "example/canceled")["id"]
    web.queue.cancel(canceled, actor="test")
    return AliceThings(pending, canceled, done)


def _send(client: TestClient, call: Call, url: str, headers: dict[str, str] | None = None) -> Any:
    return client.request(call.method, url, json=call.body, headers=headers or {})


def _route(web: WebApp, call: Call) -> APIRoute:
    route = endpoints(web.app)[(call.method, call.route)]
    assert isinstance(route, APIRoute)
    return route


# ---------------------------------------------------------------------- every route, four ways


def test_the_table_names_every_api_route(web: WebApp) -> None:
    """A route missing from CALLS would escape every check below."""
    in_app = {(method, path) for method, path in endpoints(web.app) if path.startswith("/api/v1/")} - _SCHEMA_ROUTES
    in_table = {(call.method, call.route) for call in CALLS}
    assert in_app - in_table == set(), "API routes without an entry in CALLS"
    assert in_table - in_app == set(), "CALLS entries without a route"


def test_anonymous_calls_get_401_json(web: WebApp, client: TestClient, things: AliceThings) -> None:
    for call in CALLS:
        response = _send(client, call, things.url(call))
        assert response.status_code == 401, (call, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert isinstance(response.json()["detail"], str) and "Bearer" in response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_credentials_are_anonymous(web: WebApp, client: TestClient) -> None:
    revoked = web.accounts.issue_api_token("bob")
    web.accounts.revoke_tokens("bob")
    for credentials in ("Bearer fdn_not-a-real-token", "Bearer ", "Basic YWxpY2U6cHc=", f"Bearer {revoked}"):
        response = client.get("/api/v1/me", headers={"Authorization": credentials})
        assert response.status_code == 401 and "detail" in response.json(), credentials
    client.cookies.set(SESSION_COOKIE, "forged.value")
    assert client.get("/api/v1/me").status_code == 401


def test_another_user_gets_404_for_alices_things(web: WebApp, client: TestClient, things: AliceThings) -> None:
    """Bob cannot tell alice's ids from ids that do not exist: both are 404 with the same sentence."""
    for call in (c for c in CALLS if c.owned):
        response = _send(client, call, things.url(call), web.bob.headers)
        assert response.status_code == 404, (call, response.text)
        missing = _send(client, call, call.url.format(**dict.fromkeys(_PLACEHOLDERS, 999_999)), web.bob.headers)
        assert missing.status_code == 404 and missing.json() == response.json(), call
    # Alice's things were not touched by bob's attempts.
    assert web.queue.get(things.pending).status is JobStatus.PENDING
    assert web.queue.get(things.canceled).status is JobStatus.CANCELED


def test_lists_show_another_user_nothing_of_alices(web: WebApp, client: TestClient, things: AliceThings) -> None:
    web.create_job(web.bob, "example/bobs")
    lists = {"/api/v1/jobs": "id", "/api/v1/repositories": "id", "/api/v1/courses": "id"}
    alice_ids = {
        "/api/v1/jobs": {things.pending, things.canceled, things.done.job_id},
        "/api/v1/repositories": {things.done.repository_id},
        "/api/v1/courses": {things.done.course_id},
    }
    for url, key in lists.items():
        bobs = {item[key] for item in client.get(url, headers=web.bob.headers).json()}
        alices = {item[key] for item in client.get(url, headers=web.alice.headers).json()}
        assert alice_ids[url] <= alices, url
        assert not bobs & alice_ids[url], url
    assert [job["source"] for job in client.get("/api/v1/jobs", headers=web.bob.headers).json()] == [
        "https://github.com/example/bobs.git"
    ]


def test_admin_routes_refuse_users_and_serve_admins(web: WebApp, client: TestClient, things: AliceThings) -> None:
    for call in (c for c in CALLS if c.admin):
        refused = _send(client, call, things.url(call), web.alice.headers)
        assert refused.status_code == 403, (call, refused.text)
        assert refused.json() == {"detail": "this needs an admin account"}
        served = _send(client, call, things.url(call), web.root.headers)
        assert served.status_code == 200, (call, served.text)


def test_an_admin_may_call_every_route_on_anyones_things(web: WebApp, client: TestClient, things: AliceThings) -> None:
    for call in CALLS:
        response = _send(client, call, things.url(call), web.root.headers)
        assert response.status_code == call.status, (call, response.text)


def test_the_owner_gets_the_documented_body(web: WebApp, client: TestClient, things: AliceThings) -> None:
    """Each answer to alice is what the route declares: its response model, or the declared media type."""
    for call in (c for c in CALLS if not c.admin):
        response = _send(client, call, things.url(call), web.alice.headers)
        assert response.status_code == call.status, (call, response.text)
        model = _route(web, call).response_model
        media = response.headers["content-type"]
        if call.route.endswith("/stream"):
            assert media.startswith("text/event-stream")
            assert "event: end" in response.text
        elif call.route.endswith("/export"):
            assert media == "application/zip"
            assert zipfile.is_zipfile(io.BytesIO(response.content))
        else:
            assert model is not None, call
            TypeAdapter(model).validate_python(response.json())


# ---------------------------------------------------------------------- jobs


def test_create_job_then_the_same_request_returns_it_and_force_makes_a_new_one(web: WebApp, client: TestClient) -> None:
    body = {"source": "example/repo", "ref": "main", "language": "fr", "max_chapters": 4}
    first = client.post("/api/v1/jobs", json=body, headers=web.alice.headers)
    assert first.status_code == 201 and first.json()["created"] is True
    job = first.json()["job"]
    assert (job["status"], job["ref"], job["owner_id"]) == ("pending", "main", web.alice.user.id)
    assert job["source"] == "https://github.com/example/repo.git"
    assert job["options"]["language"] == "fr" and job["options"]["max_chapters"] == 4
    again = client.post("/api/v1/jobs", json=body, headers=web.alice.headers)
    assert again.status_code == 200 and again.json() == {"job": job, "created": False}
    forced = client.post("/api/v1/jobs", json={**body, "force": True}, headers=web.alice.headers)
    assert forced.status_code == 201 and forced.json()["job"]["id"] != job["id"]
    # Bob's identical request is his own job, not alice's.
    bobs = client.post("/api/v1/jobs", json=body, headers=web.bob.headers)
    assert bobs.status_code == 201 and bobs.json()["job"]["owner_id"] == web.bob.user.id


INVALID_SUBMISSIONS: list[tuple[dict[str, Any], str]] = [
    ({"source": "not a source!!"}, "source"),
    ({"source": "   "}, "source"),
    ({"source": "LOCAL"}, "source"),  # a directory on the server: for admins only
    ({"source": "example/repo", "ref": "a..b"}, "ref"),
    ({"source": "example/repo", "ref": "--upload-pack=evil"}, "ref"),
    ({"source": "example/repo", "language": "de"}, "language"),
    ({"source": "example/repo", "provider": "nope"}, "provider"),
    ({"source": "example/repo", "max_chapters": 0}, "max_chapters"),
    ({"source": "example/repo", "max_chapters": 51}, "max_chapters"),
    ({"source": "example/repo", "max_chapters": "5"}, "max_chapters"),  # what the schema refuses, not coerced
    ({"source": "example/repo", "force": 1}, "force"),
    ({}, "source"),
]


def test_invalid_submissions_are_422_naming_the_field(web: WebApp, client: TestClient, tmp_path: Path) -> None:
    for body, field in INVALID_SUBMISSIONS:
        sent = {"source": str(tmp_path)} if body.get("source") == "LOCAL" else body
        response = client.post("/api/v1/jobs", json=sent, headers=web.alice.headers)
        assert response.status_code == 422, (sent, response.text)
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", field], sent
        assert error["msg"], sent
    assert client.get("/api/v1/jobs", headers=web.alice.headers).json() == []


def test_an_admin_may_submit_a_local_directory(web: WebApp, client: TestClient, tmp_path: Path) -> None:
    response = client.post("/api/v1/jobs", json={"source": str(tmp_path)}, headers=web.root.headers)
    assert response.status_code == 201, response.text
    assert response.json()["job"]["owner_id"] == web.root.user.id


def test_list_filters_and_pages(web: WebApp, client: TestClient) -> None:
    ids = [web.create_job(web.alice, f"example/r{n}")["id"] for n in range(3)]
    web.queue.cancel(ids[0], actor="test")
    everything = client.get("/api/v1/jobs", headers=web.alice.headers).json()
    assert [job["id"] for job in everything] == ids[::-1]
    pending = client.get("/api/v1/jobs?status=pending", headers=web.alice.headers).json()
    assert [job["id"] for job in pending] == [ids[2], ids[1]]
    page = client.get(f"/api/v1/jobs?before_id={ids[2]}&limit=1", headers=web.alice.headers).json()
    assert [job["id"] for job in page] == [ids[1]]
    bad = client.get("/api/v1/jobs?status=nonsense", headers=web.alice.headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "status"]


def test_cancel_and_retry(web: WebApp, client: TestClient, things: AliceThings) -> None:
    canceled = client.post(f"/api/v1/jobs/{things.pending}/cancel", headers=web.alice.headers)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    again = client.post(f"/api/v1/jobs/{things.pending}/cancel", headers=web.alice.headers)
    assert again.status_code == 200 and again.json()["status"] == "canceled"  # idempotent
    done = client.post(f"/api/v1/jobs/{things.done.job_id}/cancel", headers=web.alice.headers)
    assert done.status_code == 409
    assert done.json() == {"detail": f"job {things.done.job_id} is already succeeded: there is nothing to cancel"}
    retried = client.post(f"/api/v1/jobs/{things.pending}/retry", headers=web.alice.headers)
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    refused = client.post(f"/api/v1/jobs/{things.done.job_id}/retry", headers=web.alice.headers)
    assert refused.status_code == 409 and "only failed, dead or canceled jobs" in refused.json()["detail"]
    pending = client.post(f"/api/v1/jobs/{things.pending}/retry", headers=web.alice.headers)
    assert pending.status_code == 409 and "is pending" in pending.json()["detail"]


def test_events_list_the_whole_history(web: WebApp, client: TestClient, things: AliceThings) -> None:
    events = client.get(f"/api/v1/jobs/{things.done.job_id}/events", headers=web.alice.headers).json()
    assert [event["kind"] for event in events] == ["enqueued", "claimed", "progress", "succeeded"]
    assert all(event["job_id"] == things.done.job_id for event in events)
    assert events[2]["data"]["chapter"] == 1 and events[3]["to_status"] == "succeeded"
    canceled = client.get(f"/api/v1/jobs/{things.canceled}/events", headers=web.alice.headers).json()
    assert [(e["kind"], e["actor"]) for e in canceled] == [("enqueued", "web:alice"), ("canceled", "test")]


def test_ids_outside_the_id_range_are_422(web: WebApp, client: TestClient) -> None:
    for id_ in ("0", "-1", str(2**62 + 1), "abc"):
        response = client.get(f"/api/v1/jobs/{id_}", headers=web.alice.headers)
        assert response.status_code == 422, id_
        assert response.json()["detail"][0]["loc"] == ["path", "job_id"], id_


def test_inputs_no_database_can_hold_are_refused_not_crashed(
    web: WebApp, client: TestClient, things: AliceThings
) -> None:
    """A lone surrogate in JSON (valid JSON, not encodable as UTF-8) and NUL (which PostgreSQL text
    refuses) are client errors: 4xx, never a 500 or a 503 that blames the database."""
    surrogate = b'{"source": "example/repo", "ref": "ma\\ud800in"}'
    headers = {**web.alice.headers, "content-type": "application/json"}
    response = client.post("/api/v1/jobs", content=surrogate, headers=headers)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "ref"]
    course = things.done.course_id
    document = client.get(f"/api/v1/courses/{course}/documents/a%00b.md", headers=web.alice.headers)
    assert document.status_code == 404
    nul_name = client.post(
        "/login", data={"name": "al\x00ice", "password": PASSWORD, "csrf_token": _form_token(client)}
    )
    assert nul_name.status_code == 401
    login(client, "alice")
    assert client.get(f"/courses/{course}/a%00b.md").status_code == 404


def _form_token(client: TestClient) -> str:
    return csrf_token(client.get("/login").text)


# ---------------------------------------------------------------------- the live stream


def _sse_events(lines: Any, until: str, *, limit_seconds: float = 12.0) -> list[tuple[str, dict[str, Any]]]:
    """Parsed `event:`/`data:` pairs read from an SSE body up to and including the `until` event.

    The server pings every 15 s, so a stream that stalls hands control back here and fails in time.
    """
    started = time.monotonic()
    events: list[tuple[str, dict[str, Any]]] = []
    name = None
    for line in lines:
        assert time.monotonic() - started < limit_seconds, f"the stream stalled after {events}"
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and name is not None:
            events.append((name, json.loads(line.split(":", 1)[1])))
            if name == until:
                return events
            name = None
    raise AssertionError(f"the stream ended before an {until!r} event: {events}")


def test_the_stream_sends_the_job_then_its_events_then_end(web: WebApp, client: TestClient) -> None:
    """A worker (a thread using the queue API) runs the job while the stream is open: the stream starts
    with the job as it is, relays each event, and ends with `end` once the job is terminal."""
    job = web.create_job(web.alice)
    hub = web.app.state.context.hub
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            wait_until(lambda: hub.subscriber_count > 0)
            (lease,) = web.queue.claim("w-stream", lease_seconds=30)
            assert lease.job_id == job["id"]
            web.queue.progress(lease, Progress("chapters", 1, 2, "chapter 1/2", 50.0))
            web.queue.complete(lease, {"chapters": 2})
        except BaseException as error:  # reported by the test thread
            failures.append(error)

    thread = threading.Thread(target=worker)
    with client.stream("GET", f"/api/v1/jobs/{job['id']}/events/stream", headers=web.alice.headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        first = _sse_events(lines, "job")
        thread.start()
        rest = _sse_events(lines, "end")
    thread.join(10)
    assert not failures, failures
    assert first == [("job", first[0][1])] and first[0][1]["status"] == "pending"
    kinds = [data["kind"] for name, data in rest if name == "event"]
    assert kinds == ["claimed", "progress", "succeeded"]
    assert rest[-2][0] == "job" and rest[-2][1]["status"] == "succeeded"
    assert rest[-1] == ("end", {"status": "succeeded"})
    wait_until(lambda: hub.subscriber_count == 0)  # the stream let go of its subscription


def test_the_stream_sends_the_last_events_of_a_job_that_ended_within_a_tick(
    web: WebApp, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub reads a tick's events, then the jobs they touch: a job that ends between the two reads
    arrives terminal with an update that lacks its last event. The stream must still send that event
    before `end` (no later tick will). The worker's completion is put exactly between the two reads."""
    job = web.create_job(web.alice)
    (lease,) = web.queue.claim("w-race", lease_seconds=30)
    get_many = web.queue.get_many

    def complete_then_read(job_ids: Any) -> Any:
        if web.queue.get(job["id"]).status is JobStatus.RUNNING:
            web.queue.complete(lease, {})
        return get_many(job_ids)

    with client.stream("GET", f"/api/v1/jobs/{job['id']}/events/stream", headers=web.alice.headers) as response:
        lines = response.iter_lines()
        assert _sse_events(lines, "job")[0][1]["status"] == "running"
        monkeypatch.setattr(web.queue, "get_many", complete_then_read)
        web.queue.progress(lease, Progress("chapters", 1, 1, "chapter 1/1", 90.0))
        rest = _sse_events(lines, "end")
    assert [data["kind"] for name, data in rest if name == "event"] == ["progress", "succeeded"]
    assert rest[-1] == ("end", {"status": "succeeded"})


def test_the_stream_of_a_finished_job_ends_at_once(web: WebApp, client: TestClient, things: AliceThings) -> None:
    response = client.get(f"/api/v1/jobs/{things.canceled}/events/stream", headers=web.alice.headers)
    assert response.status_code == 200
    names = [line.split(":", 1)[1].strip() for line in response.text.splitlines() if line.startswith("event:")]
    assert names == ["job", "end"]
    assert 'data: {"status": "canceled"}' in response.text


# ---------------------------------------------------------------------- repositories and courses


def test_repositories(web: WebApp, client: TestClient, things: AliceThings) -> None:
    repositories = client.get("/api/v1/repositories", headers=web.alice.headers).json()
    assert [repo["name"] for repo in repositories] == ["canceled", "pending", "repo"]  # most recent first
    repo = client.get(f"/api/v1/repositories/{things.done.repository_id}", headers=web.alice.headers).json()
    assert repo == {
        "id": things.done.repository_id,
        "source": "https://github.com/example/repo.git",
        "kind": "github",
        "name": "repo",
        "web_url": "https://github.com/example/repo",
        "latest_job_id": things.done.job_id,
        "latest_status": "succeeded",
        "latest_percent": 100.0,
        "courses": 1,
        "latest_course_id": things.done.course_id,
    }


def test_a_shared_repository_shows_each_user_only_their_own_jobs_and_courses(
    web: WebApp, client: TestClient, things: AliceThings
) -> None:
    bobs = web.create_job(web.bob, "example/repo")
    assert bobs["repository_id"] == things.done.repository_id  # one row per source, shared
    seen = client.get(f"/api/v1/repositories/{things.done.repository_id}", headers=web.bob.headers).json()
    assert (seen["latest_job_id"], seen["courses"], seen["latest_course_id"]) == (bobs["id"], 0, None)
    courses = client.get(f"/api/v1/courses?repository_id={things.done.repository_id}", headers=web.bob.headers)
    assert courses.json() == []


def test_github_repositories_are_empty_without_a_github_token(web: WebApp, client: TestClient) -> None:
    response = client.get("/api/v1/github/repositories", headers=web.alice.headers)
    assert response.status_code == 200 and response.json() == []


def test_github_sign_in_is_off_unless_configured(web: WebApp, client: TestClient) -> None:
    assert client.get("/auth/github").status_code == 404
    assert 'href="/auth/github"' not in client.get("/login").text
    callback = client.get("/auth/github/callback?code=x&state=y")
    assert callback.status_code == 400 and "GitHub sign-in failed" in callback.text
    assert SESSION_COOKIE not in callback.cookies


def test_github_sign_in_and_repositories(database: Database, fake_github: FakeGitHub) -> None:
    """The OAuth round trip through the pages against a fake GitHub: the app's state cookie must come back
    with GitHub's redirect, the user is created and logged in, and their repositories are listed."""
    fake_github.add_user("octo-cat", repositories=3)
    web = build_web(database, **fake_github.settings())
    with TestClient(web.app, follow_redirects=False) as client:
        assert 'href="/auth/github"' in client.get("/login").text
        start = client.get("/auth/github")
        assert start.status_code == 303
        authorize = httpx.get(start.headers["location"], follow_redirects=False, trust_env=False)
        back = urlsplit(authorize.headers["location"])
        assert back.path == "/auth/github/callback"
        forged = client.get(f"/auth/github/callback?code={parse_qs(back.query)['code'][0]}&state=forged")
        assert forged.status_code == 400 and SESSION_COOKIE not in forged.cookies
        authorize = httpx.get(start.headers["location"], follow_redirects=False, trust_env=False)
        signed_in = client.get(f"{back.path}?{urlsplit(authorize.headers['location']).query}")
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
        me = client.get("/api/v1/me").json()
        assert (me["name"], me["github_login"], me["has_github_token"], me["has_password"]) == (
            "octo-cat",
            "octo-cat",
            True,
            False,
        )
        repositories = client.get("/api/v1/github/repositories").json()
        assert [r["full_name"] for r in repositories] == [f"octo-cat/repo-00{n}" for n in (1, 2, 3)]
        assert [r["private"] for r in repositories] == [False, False, True]
        assert 'option value="octo-cat/repo-001"' in client.get("/").text  # offered in the submit form
        # A token GitHub no longer accepts: the API says GitHub refused (502), the dashboard still opens.
        web.accounts.set_github_token("octo-cat", "ghp_revoked", check=False)
        refused = client.get("/api/v1/github/repositories")
        assert refused.status_code == 502 and refused.json()["detail"]
        assert client.get("/").status_code == 200


def test_courses_and_documents(web: WebApp, client: TestClient, things: AliceThings) -> None:
    course_id = things.done.course_id
    listed = client.get("/api/v1/courses", headers=web.alice.headers).json()
    assert [course["id"] for course in listed] == [course_id]
    course = client.get(f"/api/v1/courses/{course_id}", headers=web.alice.headers).json()
    assert (course["job_id"], course["title"], course["documents"]) == (things.done.job_id, "Example course", 4)
    assert (course["commit_sha"], course["web_url"]) == (
        "0123456789abcdef0123456789abcdef01234567",
        "https://github.com/example/repo",
    )
    assert course["quality"] == {"path_precision": 1.0, "mermaid_validity": 1.0}
    documents = client.get(f"/api/v1/courses/{course_id}/documents", headers=web.alice.headers).json()
    assert [(d["path"], d["kind"]) for d in documents] == [
        ("index.md", "index"),
        ("chapters/01-x.md", "chapter"),
        ("tutorials/01-x.md", "tutorial"),
        ("quality.json", "artifact"),
    ]
    chapter = client.get(f"/api/v1/courses/{course_id}/documents/chapters/01-x.md", headers=web.alice.headers)
    assert chapter.status_code == 200
    assert chapter.json()["title"] == "Chapter 1: The core" and "```mermaid" in chapter.json()["content"]
    missing = client.get(f"/api/v1/courses/{course_id}/documents/chapters/99-no.md", headers=web.alice.headers)
    assert missing.status_code == 404
    assert missing.json() == {"detail": f"course {course_id} has no document 'chapters/99-no.md'"}


def test_exports_are_zips_of_the_course(web: WebApp, client: TestClient, things: AliceThings) -> None:
    for export_format, page in (("md", "index.md"), ("html", "index.html")):
        url = f"/api/v1/courses/{things.done.course_id}/export?format={export_format}"
        response = client.get(url, headers=web.alice.headers)
        assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
        assert ".zip" in response.headers["content-disposition"]
        names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
        assert page in names, names
        if export_format == "md":
            assert {"chapters/01-x.md", "tutorials/01-x.md", "quality.json"} <= set(names)
    bad = client.get(f"/api/v1/courses/{things.done.course_id}/export?format=pdf", headers=web.alice.headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "format"]


# ---------------------------------------------------------------------- administration


def test_admin_workers(web: WebApp, client: TestClient) -> None:
    WorkerRegistry(web.database).register("w-admin", concurrency=2, stale_after_seconds=30)
    workers = client.get("/api/v1/admin/workers", headers=web.root.headers).json()
    assert [(w["id"], w["state"], w["concurrency"]) for w in workers] == [("w-admin", "up", 2)]
    advance_clock(web.database, web.settings.lease_seconds + 1)
    workers = client.get("/api/v1/admin/workers", headers=web.root.headers).json()
    assert workers[0]["state"] == "down"


def test_admin_queue_reclaim_and_requeue(web: WebApp, client: TestClient) -> None:
    stuck = web.create_job(web.alice, "example/stuck")["id"]
    (lease,) = web.queue.claim("w-gone", lease_seconds=30)
    assert lease.job_id == stuck
    failing = web.create_job(web.alice, "example/failing")["id"]
    (failed_lease,) = web.queue.claim("w-2", lease_seconds=30)
    web.queue.fail(failed_lease, ErrorKind.TRANSIENT, "network down")
    web.create_job(web.bob, "example/waiting")
    advance_clock(web.database, 31)  # the first lease has expired: its worker is gone

    queue = client.get("/api/v1/admin/queue", headers=web.root.headers).json()
    assert queue["counts"]["running"] == 1 and queue["counts"]["failed"] == 1 and queue["counts"]["pending"] == 1
    assert queue["oldest_pending_seconds"] >= 31
    assert [job["id"] for job in queue["stuck"]] == [stuck]
    assert queue["failures_last_24h"] == [{"kind": "transient", "count": 1}]

    reclaimed = client.post("/api/v1/admin/reclaim-expired", headers=web.root.headers).json()
    assert reclaimed["count"] == 1 and [job["id"] for job in reclaimed["jobs"]] == [stuck]
    assert client.post("/api/v1/admin/reclaim-expired", headers=web.root.headers).json() == {"count": 0, "jobs": []}

    requeued = client.post("/api/v1/admin/requeue", json={"status": "failed"}, headers=web.root.headers).json()
    assert [(job["id"], job["status"]) for job in requeued["jobs"]] == [(failing, "pending")]
    for body, field in (({"status": "pending"}, "status"), ({"status": "failed", "force": 1.0}, "force")):
        bad = client.post("/api/v1/admin/requeue", json=body, headers=web.root.headers)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", field]


def test_admin_users_and_me(web: WebApp, client: TestClient) -> None:
    users = client.get("/api/v1/admin/users", headers=web.root.headers).json()
    assert [(u["name"], u["is_admin"], u["has_password"]) for u in users] == [
        ("alice", False, True),
        ("bob", False, True),
        ("root", True, True),
    ]
    me = client.get("/api/v1/me", headers=web.bob.headers).json()
    assert (me["id"], me["name"], me["is_admin"], me["language"]) == (web.bob.user.id, "bob", False, None)
    assert "password" not in json.dumps(me).replace("has_password", "")


# ---------------------------------------------------------------------- health


def test_health_answers_without_authentication(web: WebApp, client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["database"] == "ok"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nobody listens there


@pytest.mark.parametrize("unreachable", ["postgresql", "sqlite"])
def test_health_is_503_when_the_database_is_unreachable(database: Database, tmp_path: Path, unreachable: str) -> None:
    """A PostgreSQL port nobody listens on, or a SQLite 'file' that is a directory: the database cannot
    be reached; /health says so (503, unhealthy), and the API answers 503 JSON rather than crashing."""
    if unreachable == "postgresql":
        url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/fondation"
    else:
        (tmp_path / "a-directory.db").mkdir()
        url = f"sqlite:///{tmp_path / 'a-directory.db'}"
    broken = RawDatabase(url)
    with pytest.raises(DatabaseError):
        broken.ping()
    app = create_app(make_settings(database, database_url=url), database=broken, secret=SECRET)
    with TestClient(app) as client:
        response = client.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body == {"status": "unhealthy", "database": "unreachable", "version": body["version"]}
        assert "127.0.0.1" not in response.text and "a-directory" not in response.text  # no address given away
        assert response.headers["x-frame-options"] == "DENY"
        api = client.get("/api/v1/me", headers={"Authorization": "Bearer fdn_anything"})
        assert api.status_code == 503 and api.headers["retry-after"] == "5"
        assert api.json()["detail"].startswith("the database is unavailable")
        assert "127.0.0.1" not in api.text and "a-directory" not in api.text
    broken.dispose()


# ---------------------------------------------------------------------- CSRF


def test_session_requests_need_the_csrf_token(web: WebApp, client: TestClient, things: AliceThings) -> None:
    """A browser attaches the cookie to any site's request: unsafe requests must prove they come from us."""
    token = login(client, "alice")
    assert client.get("/api/v1/me").json()["name"] == "alice"  # safe methods need no token
    body = {"source": "example/csrf"}
    refused = client.post("/api/v1/jobs", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    wrong = client.post("/api/v1/jobs", json=body, headers={CSRF_HEADER: "not-the-token"})
    assert wrong.status_code == 403
    assert client.get("/api/v1/jobs", headers=web.alice.headers).json()[0]["source"] != (
        "https://github.com/example/csrf.git"
    )
    accepted = client.post("/api/v1/jobs", json=body, headers={CSRF_HEADER: token})
    assert accepted.status_code == 201
    page_refused = client.post(f"/jobs/{things.pending}/cancel")
    assert page_refused.status_code == 403 and "CSRF" in page_refused.text
    assert web.queue.get(things.pending).status is JobStatus.PENDING
    page_ok = client.post(f"/jobs/{things.pending}/cancel", data={"csrf_token": token})
    assert page_ok.status_code == 303 and web.queue.get(things.pending).status is JobStatus.CANCELED


def test_bearer_requests_need_no_csrf_token(web: WebApp, client: TestClient) -> None:
    response = client.post("/api/v1/jobs", json={"source": "example/bearer"}, headers=web.alice.headers)
    assert response.status_code == 201


def test_the_login_form_needs_its_csrf_token(web: WebApp, client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"name": "alice", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403 and SESSION_COOKIE not in response.cookies


# ---------------------------------------------------------------------- headers and cookies


def test_security_headers_on_every_kind_of_response(web: WebApp, client: TestClient, things: AliceThings) -> None:
    answers = {
        "api 200": client.get("/api/v1/me", headers=web.alice.headers),
        "api 401": client.get("/api/v1/me"),
        "api 404": client.get("/api/v1/jobs/999999", headers=web.alice.headers),
        "api 422": client.post("/api/v1/jobs", json={}, headers=web.alice.headers),
        "page 200": client.get("/login"),
        "page 303": client.get("/"),
        "page 404": client.get("/no/such/page"),
        "static": client.get("/static/app.css"),
        "health": client.get("/health"),
        "zip": client.get(f"/api/v1/courses/{things.done.course_id}/export", headers=web.alice.headers),
        "openapi": client.get("/api/v1/openapi.json"),
    }
    assert answers["static"].status_code == 200 and answers["page 404"].status_code == 404
    for what, response in answers.items():
        csp = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "'unsafe-eval'" not in csp, what
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, what
        script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src, what
        assert response.headers.get("x-frame-options") == "DENY", what
        assert response.headers.get("x-content-type-options") == "nosniff", what
        assert response.headers.get("referrer-policy") == "same-origin", what
    assert answers["api 200"].headers["cache-control"] == "no-store"


def _session_cookie_header(response: Any) -> str:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(f"{SESSION_COOKIE}=")]
    assert len(found) == 1, response.headers
    return found[0]


def _login_response(client: TestClient, name: str = "alice", password: str = PASSWORD) -> Any:
    form = client.get("/login")
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf_token(form.text)})


def test_the_session_cookie_is_httponly_and_lax(web: WebApp, client: TestClient) -> None:
    response = _login_response(client)
    assert response.status_code == 303
    flags = [part.strip().lower() for part in _session_cookie_header(response).split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags  # the app is reached over plain http here


def test_the_session_cookie_is_secure_behind_https(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FONDATION_PUBLIC_URL", "https://fondation.example")
    web = build_web(database)
    assert web.settings.effective_public_url == "https://fondation.example"
    with TestClient(web.app, base_url="https://testserver", follow_redirects=False) as client:
        form = client.get("/login")
        assert "secure" in [p.strip().lower() for p in form.headers["set-cookie"].split(";")]
        response = _login_response(client)
        assert response.status_code == 303
        flags = [part.strip().lower() for part in _session_cookie_header(response).split(";")]
        assert {"secure", "httponly", "samesite=lax"} <= set(flags)


def test_logins_are_rate_limited(web: WebApp, client: TestClient) -> None:
    for _ in range(LOGIN_MAX_FAILURES):
        failed = _login_response(client, password="wrong password!")
        assert failed.status_code == 401 and "Wrong user name or password" in failed.text
    limited = _login_response(client)  # even the right password is refused now
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert SESSION_COOKIE not in limited.cookies and "too many failed logins" in limited.text
    # Other users are not locked out by alice's failures (the address allows more).
    assert _login_response(client, "bob").status_code == 303


def test_logout_ends_the_session(web: WebApp, client: TestClient) -> None:
    token = login(client, "alice")
    cookie = client.cookies[SESSION_COOKIE]
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)  # the old cookie, replayed
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/").status_code == 303


def test_a_login_link_works_once(web: WebApp, client: TestClient) -> None:
    link = f"/login/link/{web.accounts.login_link(web.alice.user)}"
    first = client.get(link)
    assert first.status_code == 303 and first.headers["location"] == "/"
    assert client.get("/api/v1/me").json()["name"] == "alice"
    other = TestClient(web.app, follow_redirects=False)  # no second lifespan: one app runs one event hub
    second = other.get(link)
    assert second.status_code == 401 and SESSION_COOKIE not in second.cookies
    assert "already used" in second.text
    assert other.get("/api/v1/me").status_code == 401


def test_a_login_link_of_a_user_without_password_leads_to_settings(web: WebApp, client: TestClient) -> None:
    user = web.accounts.add_user("carol")
    response = client.get(f"/login/link/{web.accounts.login_link(user)}")
    assert response.status_code == 303 and response.headers["location"] == "/settings"

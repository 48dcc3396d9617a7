"""The web app on the test's database, with three accounts, and the few moves every web test makes.

Use it from a test module with `pytest_plugins = ["web_harness"]`, then ask for the fixtures:

* `web`: a `WebApp` on the test's `database` (both backends): the FastAPI app, its settings and
  accounts, and the users `alice` and `bob` (ordinary) and `root` (admin), each with a password
  (`PASSWORD`) and an API token.
* `client`: a `TestClient` on `web.app`, inside its lifespan (the event hub runs, so SSE works), that
  does not follow redirects: tests assert the 303s themselves.

The helpers: `login()` logs a client in through the real login form, `sign_in()` starts the same kind
of session without the form (fast: the form costs an argon2 verification); `WebApp.create_job()` queues
a job through the JSON API; `WebApp.store_course()` makes a succeeded job with a stored course (claimed
and completed through the queue, as a worker would); `wait_until()` polls a condition instead of a
fixed sleep; `endpoints()` lists the app's routes; `build_web()` builds a `WebApp` with other settings
(e.g. an https public URL).

PYTEST_DONT_REWRITE: test modules import this one before pytest loads it as a plugin.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from fondation.accounts import Accounts
from fondation.accounts.passwords import hash_password
from fondation.config import Settings
from fondation.domain.courses import NewCourse, NewDocument
from fondation.domain.jobs import Lease, Progress
from fondation.domain.users import User
from fondation.pipeline.options import generation_options
from fondation.queue import JobQueue
from fondation.sources.acquire import parse_configured
from fondation.store import Database
from fondation.web.app import create_app
from fondation.web.auth import SESSION_COOKIE

#: Signs the session cookies, as FONDATION_SECRET_KEY would.
SECRET = "web-harness-secret-key-0123456789"
PASSWORD = "correct horse battery staple"
#: What every course the harness stores is generated from: a GitHub source, so code references link.
SOURCE = "example/repo"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
#: The code reference that index.md carries, and where the course viewer must point it.
CODE_REFERENCE = "src/app.py:12"
CODE_REFERENCE_URL = f"https://github.com/example/repo/blob/{COMMIT}/src/app.py#L12"
#: Failed logins allowed before the form answers 429 (low, so the rate-limit test stays quick).
LOGIN_MAX_FAILURES = 3

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@functools.cache
def _password_hash() -> str:
    """One argon2 hash of PASSWORD per process: hashing costs ~0.2 s, three users per test would add up."""
    return hash_password(PASSWORD)


@dataclass(frozen=True, slots=True)
class Account:
    """A user with a password (PASSWORD) and a bearer token for the API."""

    user: User
    token: str

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def headers(self) -> dict[str, str]:
        """The header that authenticates an API request as this user."""
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True, slots=True)
class StoredCourse:
    """A succeeded job and the course it stored."""

    job_id: int
    course_id: int
    repository_id: int


@dataclass
class WebApp:
    """The app under test and what the tests reach behind it (settings, accounts, the queue)."""

    app: FastAPI
    settings: Settings
    database: Database
    accounts: Accounts
    queue: JobQueue
    alice: Account
    bob: Account
    root: Account
    _api: TestClient | None = field(default=None, init=False, repr=False)

    def api(self) -> TestClient:
        """A client for setup calls, outside any lifespan (plain JSON routes need none)."""
        if self._api is None:
            self._api = TestClient(self.app, follow_redirects=False)
        return self._api

    def create_job(self, account: Account, source: str = SOURCE, **fields: Any) -> dict[str, Any]:
        """Queue a job for `account` through `POST /api/v1/jobs`; the API's JobOut for it."""
        response = self.api().post("/api/v1/jobs", json={"source": source, **fields}, headers=account.headers)
        assert response.status_code in (200, 201), response.text
        job: dict[str, Any] = response.json()["job"]
        return job

    def store_course(self, account: Account, source: str = SOURCE, *, language: str = "en") -> StoredCourse:
        """A succeeded job of `account` with a stored course, run the way a worker runs one: claimed,
        one progress report, completed with the course (index, a chapter with a mermaid diagram, a
        tutorial and quality.json)."""
        spec = parse_configured(source, self.settings)
        options = generation_options(
            self.settings,
            language=language,
            max_chapters=3,
            provider=None,
            model=None,
            parallel=None,
            budget_usd=None,
            max_tokens=None,
        )
        # Claimed in the enqueue's own transaction: a plain claim could take another test job instead.
        result = self.queue.enqueue(
            spec, options=options.to_dict(), owner_id=account.user.id, actor=f"web:{account.name}", claim_as="w-test"
        )
        lease = Lease(result.job)
        details = {"chapter": 1, "chapters": 1, "input_tokens": 1200, "output_tokens": 300, "cost_usd": 0.0}
        self.queue.progress(lease, Progress("chapters", 1, 1, "chapter 1/1", 90.0, details))
        usage = {"input_tokens": 1200, "output_tokens": 300, "cost_usd": 0.0}
        job = self.queue.complete(lease, {"chapters": 1, "usage": usage}, course=_course(language))
        course = self.app.state.context.courses.for_job(job.id)
        return StoredCourse(job_id=job.id, course_id=course.id, repository_id=job.repository_id)


def _course(language: str) -> NewCourse:
    index = (
        "# Example course\n\n"
        f"The entry point is `{CODE_REFERENCE}`; start with [the first chapter](chapters/01-x.md).\n"
    )
    chapter = (
        "# Chapter 1: The core\n\n"
        "How the parts talk:\n\n"
        "```mermaid\nflowchart LR\n  A[Request] --> B[Handler]\n```\n\n"
        "```python\ndef handler(request):\n    return request\n```\n"
    )
    tutorial = "# Tutorial 1: First steps\n\nRun `make` and read [the overview](../index.md).\n"
    quality = {"path_precision": 1.0, "mermaid_validity": 1.0}
    return NewCourse(
        title="Example course",
        language=language,
        commit_sha=COMMIT,
        provider="offline",
        options={"language": language, "max_chapters": 3},
        quality=quality,
        documents=(
            NewDocument("index.md", "index", "Example course", 0, index),
            NewDocument("chapters/01-x.md", "chapter", "Chapter 1: The core", 1, chapter),
            NewDocument("tutorials/01-x.md", "tutorial", "Tutorial 1: First steps", 2, tutorial),
            NewDocument("quality.json", "artifact", "quality.json", 3, json.dumps(quality, indent=2) + "\n"),
        ),
    )


def make_settings(database: Database, **overrides: Any) -> Settings:
    """Settings for the app on `database`: a fixed secret, a low login limit, nothing read from a .env file."""
    values: dict[str, Any] = {
        "database_url": database.url,
        "secret_key": SECRET,
        "login_max_failures": LOGIN_MAX_FAILURES,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def build_web(database: Database, **overrides: Any) -> WebApp:
    """The app on `database` with alice, bob and root; `overrides` are Settings fields."""
    settings = make_settings(database, **overrides)
    app = create_app(settings, database=database, secret=SECRET, hub_interval=0.05)
    accounts: Accounts = app.state.context.accounts

    def account(name: str, *, admin: bool = False) -> Account:
        user = accounts.add_user(name, admin=admin)
        accounts.store.update_user(user.id, password_hash=_password_hash())
        token = accounts.issue_api_token(name, "tests")
        return Account(accounts.user(name), token)

    return WebApp(
        app=app,
        settings=settings,
        database=database,
        accounts=accounts,
        queue=app.state.context.queue,
        alice=account("alice"),
        bob=account("bob"),
        root=account("root", admin=True),
    )


def csrf_token(html: str) -> str:
    """The hidden `csrf_token` field of the first form on a page."""
    found = _CSRF_FIELD.search(html)
    assert found is not None, "no csrf_token field on the page"
    return found[1]


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log `client` in as `name` through the real form (GET /login, POST it with its hidden token).

    Returns the session's CSRF token, as the pages carry it, for the test's own unsafe requests.
    """
    form = client.get("/login")
    assert form.status_code == 200, form.text
    data = {"name": name, "password": password, "csrf_token": csrf_token(form.text), "next": "/settings"}
    done = client.post("/login", data=data, follow_redirects=False)
    assert done.status_code == 303, f"login as {name} failed: {done.status_code} {done.text[:300]}"
    page = client.get("/settings", follow_redirects=False)
    assert page.status_code == 200, page.text
    return csrf_token(page.text)


def endpoints(app: FastAPI) -> dict[tuple[str, str], BaseRoute]:
    """Every (method, path) the app answers, with its route (HEAD left out: Starlette adds it to GETs).

    FastAPI keeps included routers as lazy entries in `app.routes`; `iter_route_contexts` flattens them.
    Mounts (static files) have no methods and are left out.
    """
    found: dict[tuple[str, str], BaseRoute] = {}
    for context in iter_route_contexts(app.routes):
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                found[(method, str(context.path))] = context.original_route
    return found


def sign_in(client: TestClient, web: WebApp, account: Account) -> str:
    """Log `client` in as `account` without the form: a session started directly, its cookie set.

    For tests about what a logged-in user sees (the form costs an argon2 verification, ~0.2 s, per login;
    `login()` tests the form itself). Returns the session's CSRF token.
    """
    session = web.accounts.start_session(account.user)
    # The domain the cookie jar gives the server's own cookie (a dotless host gets ".local", RFC 2965), so a
    # later login through the form replaces this cookie instead of sitting beside it.
    host = client.base_url.host
    client.cookies.set(SESSION_COOKIE, session.cookie, domain=host if "." in host else f"{host}.local", path="/")
    return session.csrf_token


def wait_until(condition: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll `condition` until it returns something truthy (returned); fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {condition}")
        time.sleep(interval)


@pytest.fixture
def web(database: Database) -> WebApp:
    """The app on the test's database (both backends), with alice, bob and root."""
    return build_web(database)


@pytest.fixture
def client(web: WebApp) -> Iterator[TestClient]:
    """A client inside the app's lifespan, not following redirects.

    An app runs one lifespan at a time (its event hub belongs to one event loop): a second client on the
    same app must not enter `with` while this one is open; outside a `with` it still serves plain routes.
    """
    with TestClient(web.app, follow_redirects=False) as test_client:
        yield test_client

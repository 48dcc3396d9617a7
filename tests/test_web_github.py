"""GitHub sign-in through the web app, against a local fake GitHub, with the real authlib and httpx2 clients.

The browser's part (following GitHub's redirects) is played by an httpx client; the app's part is the
real FastAPI app with its cookies. What must hold: the OAuth `state` ties the callback to the browser
that started it, the user is created once and found again, their repositories are listed past 100, and
their token never reaches the browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from fake_github import FakeGitHub
from fondation.config import Settings
from fondation.store import Database
from fondation.web.app import create_app

pytest_plugins = ["fake_github"]
PUBLIC_URL = "http://testserver"


def _settings(database: Database, github: FakeGitHub | None) -> Settings:
    extra = github.settings() if github is not None else {}
    return Settings(_env_file=None, database_url=database.url, secret_key="web-github", public_url=PUBLIC_URL, **extra)  # type: ignore[call-arg]


@pytest.fixture
def client(database: Database, fake_github: FakeGitHub) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(database, fake_github), database=database)) as client:
        yield client


def _sign_in(client: TestClient) -> httpx.Response:
    """Start at /auth/github, let "GitHub" approve, come back to the callback; the callback's answer."""
    start = client.get("/auth/github", follow_redirects=False)
    assert start.status_code == 303
    approval = httpx.get(start.headers["location"], follow_redirects=False, trust_env=False)
    assert approval.status_code == 302
    callback = urlsplit(approval.headers["location"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == f"{PUBLIC_URL}/auth/github/callback"
    return client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def test_github_sign_in_creates_the_user_lists_their_repositories_and_keeps_the_token_server_side(
    client: TestClient, fake_github: FakeGitHub
) -> None:
    fake_github.add_user("octo", repositories=250)
    seen: list[httpx.Response] = []

    signed_in = _sign_in(client)
    seen.append(signed_in)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    assert "fondation_session" in signed_in.headers["set-cookie"]
    [authorize] = fake_github.requests_to("/login/oauth/authorize")
    asked = parse_qs(urlsplit(authorize.path).query)
    assert asked["redirect_uri"] == [f"{PUBLIC_URL}/auth/github/callback"] and asked["scope"] == ["read:user repo"]

    me = client.get("/api/v1/me")
    seen.append(me)
    assert (me.json()["name"], me.json()["github_login"], me.json()["has_github_token"]) == ("octo", "octo", True)
    repositories = client.get("/api/v1/github/repositories")
    seen.append(repositories)
    assert repositories.status_code == 200 and len(repositories.json()) == 250
    dashboard = client.get("/")
    seen.append(dashboard)
    assert dashboard.status_code == 200 and "octo/repo-250" in dashboard.text  # offered in the submit form

    [exchange] = fake_github.requests_to("/login/oauth/access_token")
    token = next(value for value, login in fake_github.tokens.items() if login == "octo" and value.startswith("gho_"))
    assert exchange.form["code"] and token
    for response in seen:  # the token never travels to the browser, in a body or a header
        assert token not in response.text and token not in str(response.headers)

    # Signing in again finds the same user.
    client.cookies.clear()
    assert _sign_in(client).status_code == 303
    assert client.get("/api/v1/me").json()["id"] == me.json()["id"]
    assert [u.name for u in client.app.state.context.accounts.users()] == ["octo"]  # type: ignore[attr-defined]


def test_a_callback_without_the_browsers_state_is_refused(client: TestClient, fake_github: FakeGitHub) -> None:
    fake_github.add_user("octo")
    start = client.get("/auth/github", follow_redirects=False)
    approval = httpx.get(start.headers["location"], follow_redirects=False, trust_env=False)
    callback = urlsplit(approval.headers["location"])
    code = parse_qs(callback.query)["code"][0]

    forged = client.get(f"/auth/github/callback?code={code}&state=not-the-one", follow_redirects=False)
    assert forged.status_code == 400 and "GitHub sign-in failed" in forged.text
    client.cookies.clear()  # another browser, without the state cookie, replaying the real callback
    replayed = client.get(f"{callback.path}?{callback.query}", follow_redirects=False)
    assert replayed.status_code == 400
    assert fake_github.requests_to("/login/oauth/access_token") == []  # the code was never exchanged
    assert client.get("/api/v1/me").status_code == 401


def test_a_refused_code_shows_githubs_reason(client: TestClient, fake_github: FakeGitHub) -> None:
    fake_github.add_user("octo")
    first = client.get("/auth/github", follow_redirects=False)
    approval = httpx.get(first.headers["location"], follow_redirects=False, trust_env=False)
    callback = urlsplit(approval.headers["location"])
    assert client.get(f"{callback.path}?{callback.query}", follow_redirects=False).status_code == 303
    client.cookies.clear()
    again = client.get("/auth/github", follow_redirects=False)  # a fresh state, but the spent code
    state = parse_qs(urlsplit(again.headers["location"]).query)["state"][0]
    code = parse_qs(callback.query)["code"][0]
    refused = client.get(f"/auth/github/callback?code={code}&state={state}", follow_redirects=False)
    assert refused.status_code == 400 and "incorrect or expired" in refused.text


def test_github_sign_in_is_absent_without_an_oauth_app(database: Database) -> None:
    with TestClient(create_app(_settings(database, None), database=database)) as client:
        assert client.get("/auth/github", follow_redirects=False).status_code == 404
        assert "/auth/github" not in client.get("/login").text

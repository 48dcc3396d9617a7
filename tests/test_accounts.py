"""The accounts service on both backends: passwords, the login rate limit, sessions, API tokens, login links,
the first admin, and GitHub (sign-in through the real authlib client, tokens kept encrypted) against a fake
GitHub that speaks the real protocol.

What a database dump would give away is read from the raw tables: only hashes of sessions and tokens,
and GitHub tokens only as ciphertext.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from itsdangerous import Signer
from sqlalchemy import Table, select, update

from fake_github import FakeGitHub
from fondation.accounts import Accounts
from fondation.accounts.github import GitHubError, GitHubOAuth
from fondation.config import Settings, load_settings
from fondation.domain.errors import ConfigError
from fondation.domain.jobs import ErrorKind
from fondation.domain.users import AccountError, AuthenticationError, RateLimitedError
from fondation.store import Database
from fondation.store.schema import api_tokens, auth_events, sessions, users

pytest_plugins = ["fake_github"]

SECRET = "accounts-test-secret-key"
PASSWORD = "correct horse battery"
CALLBACK = "http://127.0.0.1:8000/login/github/callback"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_github: FakeGitHub) -> Settings:
    """Settings read from the environment, as a process would: the fake GitHub, its OAuth app, 3 failures allowed."""
    monkeypatch.setenv("FONDATION_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # a key file, if any, lands in the test's directory
    env = {
        **fake_github.env(),
        "FONDATION_SECRET_KEY": SECRET,
        "GITHUB_CLIENT_ID": fake_github.client_id,
        "GITHUB_CLIENT_SECRET": fake_github.client_secret,
        "FONDATION_LOGIN_MAX_FAILURES": "3",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.fixture
def accounts(database: Database, settings: Settings) -> Accounts:
    return Accounts(database, settings)


def rows(database: Database, table: Table) -> list[dict[str, Any]]:
    return database.read(lambda conn: [dict(row) for row in conn.execute(select(table)).mappings()])


def set_column(database: Database, table: Table, **values: Any) -> None:
    """Set columns on every row of `table` (to move clocks into the past)."""
    database.write(lambda conn: conn.execute(update(table).values(**values)))


def appears(secret: str, database: Database, table: Table) -> bool:
    """Whether `secret` is in any column of any row of `table`."""
    return any(secret in str(value) for row in rows(database, table) for value in row.values())


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def authorization_code(oauth: GitHubOAuth, state: str = "st4te-1") -> str:
    """Go through GitHub's authorization page as the browser does; the code GitHub sends back to the callback."""
    response = httpx.get(oauth.authorization_url(state), follow_redirects=False, trust_env=False)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == [state]
    return query["code"][0]


def test_passwords(accounts: Accounts, database: Database) -> None:
    bob = accounts.add_user("bob", PASSWORD)
    assert (bob.name, bob.is_admin, bob.has_password) == ("bob", False, True)
    assert accounts.authenticate("bob", PASSWORD, remote="10.0.0.1") == bob
    for name, password in [("bob", "wrong password!"), ("nobody", PASSWORD)]:
        with pytest.raises(AuthenticationError, match=r"^wrong user name or password$"):
            accounts.authenticate(name, password, remote="10.0.0.1")

    linked = accounts.add_user("carol", admin=True)  # logs in by one-time links only
    assert (linked.is_admin, linked.has_password) == (True, False)
    with pytest.raises(AuthenticationError):
        accounts.authenticate("carol", "", remote=None)

    with pytest.raises(AccountError, match="user 'bob' exists already"):
        accounts.add_user("bob", PASSWORD)
    with pytest.raises(AccountError, match="invalid user name"):
        accounts.add_user("Bob Smith", PASSWORD)
    with pytest.raises(AccountError, match="at least 10 characters, got 5"):
        accounts.add_user("dave", "short")
    assert [user.name for user in accounts.users()] == ["bob", "carol"]

    [stored] = [row["password_hash"] for row in rows(database, users) if row["name"] == "bob"]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert not appears(PASSWORD, database, auth_events)
    logins = [(e["user_name"], e["success"]) for e in rows(database, auth_events) if e["kind"] == "login"]
    assert logins == [("bob", True), ("bob", False), ("nobody", False), ("carol", False)]


def test_login_rate_limit_per_name_and_per_address(accounts: Accounts, database: Database) -> None:
    accounts.add_user("bob", PASSWORD)
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            accounts.authenticate("bob", "wrong password!", remote="10.0.0.1")
    with pytest.raises(RateLimitedError, match="too many failed logins for user 'bob'") as refused:
        accounts.authenticate("bob", PASSWORD, remote="10.0.0.2")  # the right password, from elsewhere: refused
    assert 890 <= refused.value.retry_after <= 901

    # The window passes: bob logs in again.
    set_column(database, auth_events, created_at=datetime.now(UTC) - timedelta(seconds=901))
    assert accounts.authenticate("bob", PASSWORD, remote="10.0.0.1").name == "bob"

    # One address may fail 4 times as often as one name, over any names; then it is refused, others are not.
    for number in range(12):
        with pytest.raises(AuthenticationError):
            accounts.authenticate(f"guess{number}", "wrong password!", remote="10.6.6.6")
    with pytest.raises(RateLimitedError, match=r"10\.6\.6\.6"):
        accounts.authenticate("bob", PASSWORD, remote="10.6.6.6")
    assert accounts.authenticate("bob", PASSWORD, remote="10.0.0.1").name == "bob"


def test_sessions(accounts: Accounts, database: Database) -> None:
    bob = accounts.add_user("bob", PASSWORD)
    new = accounts.start_session(bob)
    assert accounts.session(new.cookie) == (bob, new.csrf_token)

    session_id, _, signature = new.cookie.rpartition(".")
    [row] = rows(database, sessions)
    assert row["token_hash"] == sha256(session_id) and not appears(session_id, database, sessions)

    tampered = session_id + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    forged = Signer("another key", salt="fondation-session").sign(session_id).decode()
    unknown = Signer(SECRET, salt="fondation-session").sign("no-such-session").decode()  # well signed, not in the DB
    for cookie in (tampered, forged, unknown, session_id, "", "é.ü"):
        assert accounts.session(cookie) is None, cookie

    accounts.end_session(new.cookie)
    assert accounts.session(new.cookie) is None

    expiring = accounts.start_session(bob)
    set_column(database, sessions, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert accounts.session(expiring.cookie) is None

    first, second = accounts.start_session(bob), accounts.start_session(bob)
    accounts.set_password("bob", "another good password")  # a new password ends every session
    assert accounts.session(first.cookie) is None and accounts.session(second.cookie) is None
    assert accounts.authenticate("bob", "another good password", remote=None) == bob


def test_api_tokens_are_stored_hashed_and_can_be_revoked(accounts: Accounts, database: Database) -> None:
    bob = accounts.add_user("bob", PASSWORD)
    alice = accounts.add_user("alice", PASSWORD)
    value = accounts.issue_api_token("bob", "ci")
    other = accounts.issue_api_token("alice")
    assert value.startswith("fdn_") and len(value) > 40

    assert accounts.api_user(value) == bob
    assert accounts.api_user(value + "x") is None and accounts.api_user("") is None

    bob_rows = [row for row in rows(database, api_tokens) if row["user_id"] == bob.id]
    assert [(row["token_hash"], row["purpose"], row["name"]) for row in bob_rows] == [(sha256(value), "api", "ci")]
    assert not appears(value, database, api_tokens) and not appears(value, database, auth_events)
    [info] = accounts.store.tokens(bob.id)
    assert (info.name, info.revoked_at) == ("ci", None) and info.last_used_at is not None

    assert accounts.revoke_tokens("bob") == 1
    assert accounts.api_user(value) is None
    assert accounts.revoke_tokens("bob") == 0
    assert accounts.api_user(other) == alice  # another user's token is untouched

    [alice_token] = accounts.store.tokens(alice.id)
    assert accounts.revoke_tokens("bob", alice_token.id) == 0  # one user cannot revoke another's token by id
    assert accounts.revoke_tokens("alice", alice_token.id) == 1
    assert accounts.api_user(other) is None


def test_login_links_work_once_and_expire(accounts: Accounts, database: Database) -> None:
    carol = accounts.add_user("carol")
    value = accounts.login_link(carol)
    assert accounts.api_user(value) is None  # a login link is no API token
    assert accounts.use_login_link(value, remote="10.0.0.1") == carol
    assert accounts.use_login_link(value, remote="10.0.0.1") is None

    late = accounts.login_link(carol)
    set_column(database, api_tokens, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert accounts.use_login_link(late, remote=None) is None

    assert accounts.use_login_link(accounts.issue_api_token("carol"), remote=None) is None  # nor the reverse
    assert not appears(value, database, api_tokens)
    events = [(e["user_name"], e["success"]) for e in rows(database, auth_events) if e["kind"] == "login_link"]
    assert events == [("carol", True), (None, False), (None, False), (None, False)]


def test_first_admin_only_on_an_empty_database(accounts: Accounts) -> None:
    found = accounts.first_admin()
    assert found is not None
    admin, link = found
    assert (admin.name, admin.is_admin, admin.has_password) == ("admin", True, False)
    assert accounts.use_login_link(link, remote=None) == admin
    assert accounts.first_admin() is None


def test_first_admin_not_when_a_user_exists(accounts: Accounts) -> None:
    accounts.add_user("bob", PASSWORD)
    assert accounts.first_admin() is None
    assert [user.name for user in accounts.users()] == ["bob"]


def test_github_token_set_check_clear(accounts: Accounts, database: Database, fake_github: FakeGitHub) -> None:
    token = fake_github.add_user("octocat")
    bob = accounts.add_user("bob", PASSWORD)

    identity = accounts.set_github_token("bob", token)
    assert identity is not None and identity.login == "octocat"
    user = accounts.user("bob")
    assert (user.has_github_token, user.github_login) == (True, "octocat")
    assert [r.headers["authorization"] for r in fake_github.requests_to("/api/user")] == [f"Bearer {token}"]

    for table in (users, auth_events):
        assert not appears(token, database, table)
    [stored] = [row["github_token"] for row in rows(database, users)]
    assert stored and accounts.box.decrypt(stored) == token
    assert accounts.github_token(bob.id) == token
    assert accounts.check_github_token("bob").login == "octocat"

    del fake_github.tokens[token]  # revoked on GitHub's side
    with pytest.raises(GitHubError, match="refused the token") as refused:
        accounts.check_github_token("bob")
    assert refused.value.kind is ErrorKind.AUTH

    assert accounts.clear_github_token("bob") is True
    assert accounts.clear_github_token("bob") is False
    assert not accounts.user("bob").has_github_token and accounts.github_token(bob.id) is None
    with pytest.raises(AccountError, match="has no GitHub token"):
        accounts.check_github_token("bob")


def test_github_token_refused_or_unchecked(accounts: Accounts, fake_github: FakeGitHub) -> None:
    fake_github.add_user("octocat")
    accounts.add_user("bob", PASSWORD)
    with pytest.raises(GitHubError) as refused:
        accounts.set_github_token("bob", "ghp_not_a_token_github_knows")
    assert refused.value.kind is ErrorKind.AUTH
    assert not accounts.user("bob").has_github_token

    calls = len(fake_github.requests)
    assert accounts.set_github_token("bob", "ghp_stored_unchecked", check=False) is None
    assert len(fake_github.requests) == calls  # GitHub was not asked
    assert accounts.github_token(accounts.user("bob").id) == "ghp_stored_unchecked"


def test_a_changed_secret_key_is_a_clear_config_error(
    accounts: Accounts, database: Database, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts.add_user("bob", PASSWORD)
    accounts.set_github_token("bob", fake_github.add_user("octocat"))
    monkeypatch.setenv("FONDATION_SECRET_KEY", "a different key")
    changed = Accounts(database, load_settings())
    with pytest.raises(ConfigError, match="cannot be decrypted with FONDATION_SECRET_KEY"):
        changed.check_github_token("bob")
    with pytest.raises(ConfigError):
        changed.github_token(accounts.user("bob").id)


def test_repositories_are_listed_across_pages(accounts: Accounts, fake_github: FakeGitHub) -> None:
    token = fake_github.add_user("octocat", repositories=250)
    accounts.add_user("bob", PASSWORD)
    assert accounts.github_repositories(accounts.user("bob")) == []  # no token, no call
    accounts.set_github_token("bob", token, check=False)

    found = accounts.github_repositories(accounts.user("bob"))
    assert [r.full_name for r in found] == [f"octocat/repo-{n:03d}" for n in range(1, 251)]
    third = found[2]
    assert (third.private, third.default_branch) == (True, "main")
    assert third.clone_url == f"{fake_github.url}/octocat/repo-003.git"

    pages = fake_github.requests_to("/api/user/repos")
    queries = [parse_qs(urlsplit(r.path).query) for r in pages]
    assert [q.get("page", ["1"]) for q in queries] == [["1"], ["2"], ["3"]]
    assert all(q["per_page"] == ["100"] for q in queries)
    assert {r.headers["authorization"] for r in pages} == {f"Bearer {token}"}


def test_sign_in_with_github(accounts: Accounts, database: Database, fake_github: FakeGitHub) -> None:
    fake_github.add_user("OctoCat")
    accounts.add_user("octocat", PASSWORD)  # a local user of that name: GitHub must not log anyone in as them
    oauth = accounts.github_oauth(CALLBACK)

    code = authorization_code(oauth)
    [authorize] = fake_github.requests_to("/login/oauth/authorize")
    asked = {name: values[0] for name, values in parse_qs(urlsplit(authorize.path).query).items()}
    assert asked == {
        "response_type": "code",
        "client_id": fake_github.client_id,
        "redirect_uri": CALLBACK,
        "scope": "read:user repo",
        "state": "st4te-1",
    }

    user = accounts.sign_in_with_github(oauth, code, remote="10.0.0.1")
    assert (user.name, user.github_login) == ("octocat-2", "OctoCat")
    assert user.has_github_token and not user.has_password
    [exchange] = fake_github.requests_to("/login/oauth/access_token")
    assert exchange.headers["accept"].startswith("application/json")
    assert "authorization" not in exchange.headers
    assert exchange.form == {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": fake_github.client_id,
        "client_secret": fake_github.client_secret,
    }
    first_token = accounts.github_token(user.id)
    assert first_token is not None and first_token.startswith("gho_")
    assert not appears(first_token, database, users) and not appears(first_token, database, auth_events)

    again = accounts.sign_in_with_github(oauth, authorization_code(oauth, "st4te-2"), remote="10.0.0.1")
    assert again.id == user.id
    assert accounts.github_token(user.id) not in (None, first_token)  # the newer token replaces the older
    assert [u.name for u in accounts.users()] == ["octocat", "octocat-2"]

    with pytest.raises(GitHubError, match="refused the sign-in: The code passed is incorrect or expired") as used:
        accounts.sign_in_with_github(oauth, code, remote="10.0.0.1")  # a code works once
    assert used.value.kind is ErrorKind.AUTH
    events = [(e["user_name"], e["detail"]) for e in rows(database, auth_events) if e["kind"] == "github_login"]
    assert events == [("octocat-2", "OctoCat")] * 2


@pytest.mark.usefixtures("settings")
def test_github_sign_in_needs_an_oauth_app(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_CLIENT_SECRET")
    with pytest.raises(ConfigError, match="set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET"):
        Accounts(database, load_settings()).github_oauth(CALLBACK)


def test_unreachable_github_is_transient(database: Database, settings: Settings) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    accounts = Accounts(database, settings.model_copy(update={"github_url": closed, "github_api_url": closed}))
    accounts.add_user("bob", PASSWORD)
    with pytest.raises(GitHubError, match="GitHub could not be reached") as exchange:
        accounts.github_oauth(CALLBACK).exchange("some-code")
    with pytest.raises(GitHubError, match="GitHub could not be reached") as check:
        accounts.set_github_token("bob", "ghp_whatever")
    assert exchange.value.kind is check.value.kind is ErrorKind.TRANSIENT


def test_key_file_without_secret_key(database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FONDATION_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("FONDATION_SECRET_KEY", raising=False)
    settings = load_settings()
    assert settings.secret_key is None

    first = Accounts(database, settings)
    key_file = tmp_path / "data" / "fondation" / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert len(key_file.read_text().strip()) >= 40

    bob = first.add_user("bob", PASSWORD)
    first.set_github_token("bob", "ghp_kept_with_the_file_key", check=False)
    assert Accounts(database, settings).github_token(bob.id) == "ghp_kept_with_the_file_key"  # the same key, reread

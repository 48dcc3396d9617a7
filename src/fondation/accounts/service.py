"""The rules of accounts, shared by the web app, the JSON API, the CLI and the worker.

Who may log in (argon2 hashes, a rate limit on failures), how a login is remembered (a random session
id, stored hashed, in a signed cookie), API tokens and one-time login links (shown once, stored
hashed), GitHub sign-in (its token encrypted at rest), and the auth event log every one of these
writes to.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import platformdirs
from itsdangerous import BadSignature, Signer

from fondation.accounts.github import GitHubApi, GitHubEndpoints, GitHubOAuth, GitHubRepository, GitHubUser
from fondation.accounts.passwords import hash_password, needs_rehash, verify_password
from fondation.accounts.secretbox import KEY_FILE_NAME, SecretBox, load_or_create_key
from fondation.accounts.tokens import new_token, token_hash
from fondation.config import Settings
from fondation.domain.errors import ConfigError
from fondation.domain.users import (
    LANGUAGES,
    AccountError,
    AuthenticationError,
    RateLimitedError,
    User,
    check_password,
    check_user_name,
)
from fondation.store.accounts import AccountStore, utcnow
from fondation.store.database import Database

#: How long a one-time login link (printed by `fondation up`, or `fondation users link`) stays valid.
LOGIN_LINK_LIFETIME = timedelta(minutes=15)
#: Failures from one address may be this many times those allowed for one name (a shared NAT).
_ADDRESS_FACTOR = 4


def secret_key(settings: Settings) -> str:
    """`FONDATION_SECRET_KEY`, else the key file in the data directory (created on first use)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    return load_or_create_key(Path(platformdirs.user_data_dir("fondation", appauthor=False)) / KEY_FILE_NAME)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A login: the value to put in the cookie, and the token every form of this session must carry."""

    cookie: str
    csrf_token: str
    user: User


class Accounts:
    """Account operations over one database, under one configuration."""

    def __init__(self, database: Database, settings: Settings, *, secret: str | None = None) -> None:
        self.settings = settings
        self.store = AccountStore(database)
        key = secret if secret is not None else secret_key(settings)
        self.box = SecretBox(key)
        self._signer = Signer(key, salt="fondation-session")
        self.github = GitHubEndpoints(settings.effective_github_url, settings.effective_github_api_url)

    # ------------------------------------------------------------------ users

    def add_user(self, name: str, password: str | None = None, *, admin: bool = False) -> User:
        check_user_name(name)
        password_hash = None if password is None else hash_password(check_password(password))
        user = self.store.create_user(name, password_hash=password_hash, is_admin=admin)
        self.store.record("user_added", user_name=name, remote=None, success=True, detail="admin" if admin else None)
        return user

    def user(self, name: str) -> User:
        user = self.store.user_by_name(name)
        if user is None:
            raise AccountError(f"no user named {name!r} (see `fondation users list`)")
        return user

    def users(self) -> list[User]:
        return self.store.users()

    def set_password(self, name: str, password: str) -> User:
        user = self.user(name)
        self.store.update_user(user.id, password_hash=hash_password(check_password(password)))
        ended = self.store.delete_sessions(user_id=user.id)
        self.store.record("password_set", user_name=name, remote=None, success=True, detail=f"{ended} sessions ended")
        return user

    def set_admin(self, name: str, admin: bool) -> User:
        user = self.user(name)
        self.store.update_user(user.id, is_admin=admin)
        return self.user(name)

    def set_language(self, user: User, language: str | None) -> None:
        if language is not None and language not in LANGUAGES:
            raise AccountError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
        self.store.update_user(user.id, language=language)

    # ------------------------------------------------------------------ logging in

    def authenticate(self, name: str, password: str, *, remote: str | None) -> User:
        """The user with this name and password; refused while too many recent failures stand."""
        self._check_rate(name, remote)
        found = self.store.password_hash(name)
        user, stored = found if found is not None else (None, None)
        if user is None or not verify_password(stored, password):
            self.store.record("login", user_name=name, remote=remote, success=False, detail="wrong name or password")
            raise AuthenticationError("wrong user name or password")
        if stored is not None and needs_rehash(stored):
            self.store.update_user(user.id, password_hash=hash_password(password))
        self.store.record("login", user_name=name, remote=remote, success=True)
        return user

    def _check_rate(self, name: str, remote: str | None) -> None:
        window = timedelta(seconds=self.settings.login_window_seconds)
        since = utcnow() - window
        limit = self.settings.login_max_failures
        checks = [(self.store.recent_failures("login", since, user_name=name), limit, f"user {name!r}")]
        if remote:
            checks.append((self.store.recent_failures("login", since, remote=remote), limit * _ADDRESS_FACTOR, remote))
        for (failures, oldest), allowed, who in checks:
            if failures >= allowed and oldest is not None:
                retry_after = max(1, int((oldest + window - utcnow()).total_seconds()) + 1)
                # Not a "login" failure: refused attempts must not push the announced retry time further.
                self.store.record("login_refused", user_name=name, remote=remote, success=False, detail="rate limited")
                raise RateLimitedError(
                    f"too many failed logins for {who}: try again in {retry_after} s", retry_after=retry_after
                )

    def start_session(self, user: User) -> NewSession:
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        self.store.create_session(token_hash(session_id), user.id, csrf, timedelta(hours=self.settings.session_hours))
        return NewSession(cookie=self._signer.sign(session_id).decode("ascii"), csrf_token=csrf, user=user)

    def session(self, cookie: str) -> tuple[User, str] | None:
        """The user and CSRF token of a live session, from the cookie's value (None if forged or ended)."""
        session_id = self._unsign(cookie)
        return None if session_id is None else self.store.session(token_hash(session_id))

    def end_session(self, cookie: str) -> None:
        session_id = self._unsign(cookie)
        if session_id is not None:
            self.store.delete_sessions(token_hash=token_hash(session_id))

    def _unsign(self, cookie: str) -> str | None:
        try:
            return self._signer.unsign(cookie.encode("ascii")).decode("ascii")
        except (BadSignature, UnicodeError):
            return None

    # ------------------------------------------------------------------ API tokens and login links

    def issue_api_token(self, name: str, label: str | None = None) -> str:
        """A new bearer token for the user: returned once, stored only as its hash."""
        user = self.user(name)
        value = new_token()
        self.store.create_token(token_hash(value), user.id, "api", name=label)
        self.store.record("token_issued", user_name=name, remote=None, success=True, detail=label)
        return value

    def api_user(self, bearer: str) -> User | None:
        return self.store.use_token(token_hash(bearer), "api")

    def revoke_tokens(self, name: str, token_id: int | None = None) -> int:
        user = self.user(name)
        count = self.store.revoke_tokens(user_id=user.id, token_id=token_id)
        self.store.record("token_revoked", user_name=name, remote=None, success=True, detail=f"{count} revoked")
        return count

    def login_link(self, user: User) -> str:
        """A one-time login token (valid `LOGIN_LINK_LIFETIME`), for the URL `/login/link/<token>`."""
        value = new_token()
        self.store.create_token(token_hash(value), user.id, "login", lifetime=LOGIN_LINK_LIFETIME)
        return value

    def use_login_link(self, value: str, *, remote: str | None) -> User | None:
        user = self.store.use_token(token_hash(value), "login", spend=True)
        self.store.record("login_link", user_name=user.name if user else None, remote=remote, success=user is not None)
        return user

    def first_admin(self) -> tuple[User, str] | None:
        """On a database without users: an `admin` user and a one-time login link for it."""
        if self.store.count_users() > 0:
            return None
        try:
            user = self.add_user("admin", admin=True)
        except AccountError:  # another process created it at the same moment
            return None
        return user, self.login_link(user)

    # ------------------------------------------------------------------ GitHub

    def github_oauth(self, redirect_uri: str) -> GitHubOAuth:
        if not self.settings.github_oauth_enabled:
            raise ConfigError("GitHub sign-in is off: set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET")
        assert self.settings.github_client_secret is not None
        return GitHubOAuth(
            self.github,
            self.settings.github_client_id,
            self.settings.github_client_secret.get_secret_value(),
            redirect_uri,
        )

    def sign_in_with_github(self, oauth: GitHubOAuth, code: str, *, remote: str | None) -> User:
        """Exchange the code, find or create the user it belongs to, and keep their token encrypted."""
        token = oauth.exchange(code)
        with GitHubApi(self.github, token) as api:
            identity = api.user()
        user = self.store.user_by_github_id(identity.id)
        if user is None:
            user = self.store.create_user(
                self._free_name(identity.login), password_hash=None, github_id=identity.id, github_login=identity.login
            )
        self.store.update_user(user.id, github_login=identity.login, github_token=self.box.encrypt(token))
        self.store.record("github_login", user_name=user.name, remote=remote, success=True, detail=identity.login)
        return self.store.user(user.id) or user

    def _free_name(self, login: str) -> str:
        base = "".join(c if c.isalnum() or c in "._-" else "-" for c in login.lower()).strip("-._")[:56] or "user"
        name, number = base, 1
        while self.store.user_by_name(name) is not None:
            number += 1
            name = f"{base}-{number}"
        return name

    def set_github_token(self, name: str, token: str, *, check: bool = True) -> GitHubUser | None:
        """Store a user's GitHub token (encrypted); checked against GitHub first unless told not to."""
        user = self.user(name)
        identity = None
        if check:
            with GitHubApi(self.github, token) as api:
                identity = api.user()
        values = {"github_token": self.box.encrypt(token)}
        if identity is not None:
            values["github_login"] = identity.login
        self.store.update_user(user.id, **values)
        self.store.record("github_token_set", user_name=name, remote=None, success=True)
        return identity

    def clear_github_token(self, name: str) -> bool:
        user = self.user(name)
        self.store.update_user(user.id, github_token=None)
        self.store.record("github_token_cleared", user_name=name, remote=None, success=True)
        return user.has_github_token

    def github_token(self, user_id: int) -> str | None:
        """The user's GitHub token in clear, for a clone or an API call: never for display."""
        stored = self.store.github_token(user_id)
        return None if stored is None else self.box.decrypt(stored)

    def check_github_token(self, name: str) -> GitHubUser:
        """Who GitHub says the stored token belongs to; a `GitHubError` (kind auth) when it is refused."""
        user = self.user(name)
        token = self.github_token(user.id)
        if token is None:
            raise AccountError(
                f"user {name!r} has no GitHub token (set one with `fondation users github-token {name} --set`)"
            )
        with GitHubApi(self.github, token) as api:
            return api.user()

    def github_repositories(self, user: User) -> list[GitHubRepository]:
        token = self.github_token(user.id)
        if token is None:
            return []
        with GitHubApi(self.github, token) as api:
            return api.repositories()

"""A local fake GitHub speaking GitHub's wire protocol, for the accounts tests (`pytest_plugins = ["fake_github"]`).

What Fondation uses of GitHub, answered as github.com answers it:

- `GET /login/oauth/authorize?client_id&redirect_uri&state&scope`: the user at the browser (`signed_in`)
  approves at once: a 302 to `redirect_uri?code=…&state=…`;
- `POST /login/oauth/access_token` (form body `client_id`, `client_secret`, `code`, `redirect_uri`): the
  token as JSON when `Accept: application/json`, form-encoded otherwise; a wrong client or a bad, used
  or expired code gets GitHub's `{"error": …, "error_description": …}` with status 200;
- `GET /api/user` with `Authorization: Bearer TOKEN` (or `token TOKEN`): `{"id", "login", …}`, or a 401
  `{"message": "Bad credentials"}`;
- `GET /api/user/repos?per_page&page`: one page of the user's repositories with GitHub's `Link` header
  (`rel="next"`, `rel="last"`, `rel="prev"`, `rel="first"`), other query parameters kept in its URLs.

Users, their tokens and repositories are configured by the test (`add_user`); every request is recorded
(`requests`: method, path with query, headers, form body) so a test can assert what was sent. Point
Fondation at it with `env()` (FONDATION_GITHUB_URL, FONDATION_GITHUB_API_URL) or `settings()`.

PYTEST_DONT_REWRITE: test modules import this one before pytest loads it as a plugin.
"""

from __future__ import annotations

import itertools
import json
import math
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

CLIENT_ID = "Iv1.fakeclient0001"
CLIENT_SECRET = "fake-client-secret-0123456789abcdef"
#: How long an authorization code stays valid (GitHub: 10 minutes).
CODE_LIFETIME = 600.0
_DOCS = "https://docs.github.com/rest"
_FORM = "application/x-www-form-urlencoded"
#: What the fake sends back: status, headers, body.
Answer = tuple[int, dict[str, str], bytes]
_ERROR_URI = "/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str  # with its query string
    headers: dict[str, str]  # header names lowercased
    form: dict[str, str]  # the url-encoded body of a POST, else empty


@dataclass
class Account:
    id: int
    login: str
    repositories: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Grant:
    login: str
    redirect_uri: str
    expires: float


class FakeGitHub:
    """The fake server; a context manager that starts it on 127.0.0.1 and a free port."""

    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.accounts: dict[str, Account] = {}
        #: Live tokens: value → login. Remove one to play a token revoked on GitHub.
        self.tokens: dict[str, str] = {}
        #: The GitHub user whose browser goes through the authorization page (default: the first added).
        self.signed_in: str | None = None
        self.requests: list[Recorded] = []
        self._grants: dict[str, _Grant] = {}
        self._ids = itertools.count(583231)
        self._lock = threading.Lock()
        self._server = _Server(self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def env(self) -> dict[str, str]:
        """The environment that points Fondation at this server."""
        return {"FONDATION_GITHUB_URL": self.url, "FONDATION_GITHUB_API_URL": self.api_url}

    def settings(self) -> dict[str, Any]:
        """The same, as `Settings` field overrides, with this server's OAuth app."""
        return {
            "github_url": self.url,
            "github_api_url": self.api_url,
            "github_client_id": self.client_id,
            "github_client_secret": self.client_secret,
        }

    def add_user(self, login: str, *, repositories: int = 0) -> str:
        """Create a GitHub user with `repositories` repositories; returns a personal access token of theirs."""
        account = Account(id=next(self._ids), login=login)
        for number in range(1, repositories + 1):
            full_name = f"{login}/repo-{number:03d}"
            account.repositories.append(
                {
                    "id": next(self._ids),
                    "name": f"repo-{number:03d}",
                    "full_name": full_name,
                    "private": number % 3 == 0,
                    "owner": {"login": login, "id": account.id, "type": "User"},
                    "html_url": f"{self.url}/{full_name}",
                    "clone_url": f"{self.url}/{full_name}.git",
                    "default_branch": "main",
                    "description": None if number % 2 else f"Repository number {number}",
                }
            )
        with self._lock:
            self.accounts[login] = account
            if self.signed_in is None:
                self.signed_in = login
            value = "ghp_" + secrets.token_hex(18)
            self.tokens[value] = login
        return value

    def requests_to(self, path: str) -> list[Recorded]:
        """The recorded requests whose path (without query) is `path`."""
        return [r for r in self.requests if urlsplit(r.path).path == path]

    # ------------------------------------------------------------------ answers, called by the handler

    def authorize(self, query: dict[str, str]) -> Answer:
        if query.get("client_id") != self.client_id:
            return 404, {"Content-Type": "text/html"}, b"<h1>404: this OAuth application does not exist</h1>"
        redirect_uri = query.get("redirect_uri")
        if not redirect_uri:
            return 400, {"Content-Type": "text/html"}, b"<h1>redirect_uri is missing</h1>"
        if self.signed_in is None:
            return 200, {"Content-Type": "text/html"}, b"<h1>Sign in to GitHub</h1>"
        code = secrets.token_hex(10)
        with self._lock:
            self._grants[code] = _Grant(self.signed_in, redirect_uri, time.monotonic() + CODE_LIFETIME)
        back = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        separator = "&" if "?" in redirect_uri else "?"
        return 302, {"Location": f"{redirect_uri}{separator}{urlencode(back)}"}, b""

    def access_token(self, form: dict[str, str], accept: str) -> Answer:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            answer = _oauth_error(
                "incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect."
            )
        else:
            with self._lock:
                grant = self._grants.pop(form.get("code", ""), None)  # a code works once
            if grant is None or grant.expires < time.monotonic():
                answer = _oauth_error("bad_verification_code", "The code passed is incorrect or expired.")
            elif form.get("redirect_uri") not in (None, grant.redirect_uri):
                answer = _oauth_error(
                    "redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this app."
                )
            else:
                token = "gho_" + secrets.token_hex(18)
                with self._lock:
                    self.tokens[token] = grant.login
                answer = {"access_token": token, "token_type": "bearer", "scope": "read:user,repo"}
        if "application/json" in accept:
            return _json(200, answer)
        return 200, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, urlencode(answer).encode()

    def api(self, path: str, query: dict[str, str], authorization: str | None) -> Answer:
        if authorization is None:
            return _json(401, {"message": "Requires authentication", "documentation_url": _DOCS})
        scheme, _, value = authorization.partition(" ")
        login = self.tokens.get(value) if scheme.lower() in ("bearer", "token") else None
        if login is None:
            return _json(401, {"message": "Bad credentials", "documentation_url": _DOCS})
        account = self.accounts[login]
        if path == "/api/user":
            return _json(200, {"login": login, "id": account.id, "type": "User", "name": login.title()})
        if path == "/api/user/repos":
            return self._repositories(account, query)
        return _json(404, {"message": "Not Found", "documentation_url": _DOCS})

    def _repositories(self, account: Account, query: dict[str, str]) -> Answer:
        per_page = max(1, min(100, int(query.get("per_page", "30"))))
        page = max(1, int(query.get("page", "1")))
        repositories = sorted(account.repositories, key=lambda r: r["full_name"].lower())
        last = max(1, math.ceil(len(repositories) / per_page))

        def link(number: int) -> str:
            return f"{self.api_url}/user/repos?{urlencode({**query, 'page': str(number)})}"

        relations = []
        if page < last:
            relations += [("next", page + 1), ("last", last)]
        if page > 1:
            relations += [("prev", page - 1), ("first", 1)]
        headers = {"Link": ", ".join(f'<{link(n)}>; rel="{rel}"' for rel, n in relations)} if relations else {}
        return _json(200, repositories[(page - 1) * per_page : page * per_page], headers)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, json.dumps(body).encode()


def _oauth_error(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description, "error_uri": f"{_ERROR_URI}#{error.replace('_', '-')}"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, github: FakeGitHub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.github = github


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read the recorded requests instead."""

    def do_GET(self) -> None:
        github = self.server.github
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        self._record({})
        if parts.path == "/login/oauth/authorize":
            self._send(*github.authorize(query))
        elif parts.path.startswith("/api/"):
            self._send(*github.api(parts.path, query, self.headers.get("Authorization")))
        else:
            self._send(404, {"Content-Type": "text/html"}, b"<h1>404</h1>")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = dict(parse_qsl(body)) if self.headers.get("Content-Type", "").startswith(_FORM) else {}
        self._record(form)
        if urlsplit(self.path).path == "/login/oauth/access_token":
            self._send(*self.server.github.access_token(form, self.headers.get("Accept", "")))
        else:
            self._send(*_json(404, {"message": "Not Found", "documentation_url": _DOCS}))

    def _record(self, form: dict[str, str]) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.github.requests.append(Recorded(self.command, self.path, headers, form))

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as github:
        yield github

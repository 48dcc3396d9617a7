"""GitHub as an identity provider and a repository lister: OAuth sign-in, the user, their repositories.

The OAuth dance goes through authlib's client (built on httpx2, loaded only when a sign-in happens);
the REST calls are plain httpx2 with the token in the Authorization header, sent to the API's own
host only (a `Link` page URL pointing elsewhere is refused). Nothing here stores a token or returns it
to a caller that would show it: `fondation.accounts.service` encrypts it straight away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2

from fondation.domain.errors import ClassifiedError
from fondation.domain.jobs import ErrorKind
from fondation.domain.secrets import mask_secrets

#: Scope asked for at sign-in: the user's identity and read access to their private repositories.
SCOPE = "read:user repo"
#: Seconds for every call to GitHub.
_TIMEOUT = 15.0
#: Repositories are listed 100 per page; a user with more than this many pages is cut off here.
MAX_REPOSITORY_PAGES = 100


class GitHubError(ClassifiedError):
    """GitHub refused or failed a request; `kind` is `auth` for a bad or expired token."""


@dataclass(frozen=True, slots=True)
class GitHubUser:
    id: int
    login: str


@dataclass(frozen=True, slots=True)
class GitHubRepository:
    full_name: str
    private: bool
    clone_url: str
    html_url: str
    default_branch: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class GitHubEndpoints:
    """Where GitHub is: github.com, or a GitHub Enterprise server (web and API base URLs)."""

    web_url: str
    api_url: str

    @property
    def authorize_url(self) -> str:
        return f"{self.web_url}/login/oauth/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.web_url}/login/oauth/access_token"


class GitHubOAuth:
    """The authorization-code flow for one OAuth app."""

    def __init__(self, endpoints: GitHubEndpoints, client_id: str, client_secret: str, redirect_uri: str) -> None:
        from authlib.integrations.httpx_client import OAuth2Client  # its import costs every other command

        self.endpoints = endpoints
        self._client = OAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            scope=SCOPE,
            redirect_uri=redirect_uri,
            # GitHub documents client_id and client_secret as form parameters (authlib's default is Basic auth).
            token_endpoint_auth_method="client_secret_post",
            timeout=_TIMEOUT,
            trust_env=False,
        )

    def authorization_url(self, state: str) -> str:
        url, _ = self._client.create_authorization_url(self.endpoints.authorize_url, state=state)
        return str(url)

    def exchange(self, code: str) -> str:
        """The access token for an authorization code, or a `GitHubError` saying why not."""
        from authlib.integrations.base_client.errors import OAuthError

        try:
            token = self._client.fetch_token(self.endpoints.token_url, code=code)
        except OAuthError as error:  # GitHub answers 200 with {"error": ...} for a bad or used code
            raise GitHubError(
                ErrorKind.AUTH, f"GitHub refused the sign-in: {error.description or error.error}"
            ) from None
        except httpx2.HTTPError as error:  # authlib's client is httpx2's, whose errors are not httpx's
            raise GitHubError(ErrorKind.TRANSIENT, f"GitHub could not be reached: {mask_secrets(str(error))}") from None
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise GitHubError(ErrorKind.AUTH, "GitHub's answer to the sign-in held no access token")
        return access


class GitHubApi:
    """REST calls made with one user's token."""

    def __init__(self, endpoints: GitHubEndpoints, token: str) -> None:
        self._api = urlsplit(endpoints.api_url)
        self._client = httpx2.Client(
            base_url=endpoints.api_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "fondation",
            },
            timeout=_TIMEOUT,
            trust_env=False,
            follow_redirects=False,
        )

    def __enter__(self) -> GitHubApi:
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()

    def user(self) -> GitHubUser:
        data = self._get("/user").json()
        try:
            return GitHubUser(id=int(data["id"]), login=str(data["login"]))
        except (KeyError, TypeError, ValueError):
            raise GitHubError(ErrorKind.TRANSIENT, "GitHub's /user answer has no id and login") from None

    def repositories(self) -> list[GitHubRepository]:
        """Every repository the user can read, following GitHub's `Link: rel="next"` pages to the end."""
        found: list[GitHubRepository] = []
        url: str | None = "/user/repos?per_page=100&sort=full_name"
        for _ in range(MAX_REPOSITORY_PAGES):
            if url is None:
                break
            response = self._get(url)
            page = response.json()
            if not isinstance(page, list):
                raise GitHubError(ErrorKind.TRANSIENT, "GitHub's /user/repos answer is not a list")
            found.extend(_repository(item) for item in page if isinstance(item, dict) and "full_name" in item)
            url = response.links.get("next", {}).get("url")
            if url is not None and urlsplit(url)[:2] != self._api[:2]:
                raise GitHubError(ErrorKind.TRANSIENT, f"GitHub's next page is on another host: {urlsplit(url).netloc}")
        return found

    def _get(self, url: str) -> httpx2.Response:
        try:
            response = self._client.get(url)
        except httpx2.HTTPError as error:
            raise GitHubError(ErrorKind.TRANSIENT, f"GitHub could not be reached: {mask_secrets(str(error))}") from None
        if response.status_code == 401:
            raise GitHubError(ErrorKind.AUTH, "GitHub refused the token (401): it is wrong, expired or revoked")
        if response.status_code in (403, 429) and response.headers.get("x-ratelimit-remaining") == "0":
            raise GitHubError(ErrorKind.TRANSIENT, "GitHub's rate limit for this token is spent: try again later")
        if response.status_code >= 400:
            raise GitHubError(
                ErrorKind.TRANSIENT if response.status_code >= 500 else ErrorKind.PERMANENT,
                f"GitHub answered {response.status_code} to {response.request.url.path}",
            )
        return response


def _repository(item: dict[str, Any]) -> GitHubRepository:
    return GitHubRepository(
        full_name=str(item["full_name"]),
        private=bool(item.get("private")),
        clone_url=str(item.get("clone_url") or ""),
        html_url=str(item.get("html_url") or ""),
        default_branch=item.get("default_branch"),
        description=item.get("description"),
    )

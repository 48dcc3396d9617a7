"""Users and what they may see: the vocabulary of accounts and ownership.

Every job, repository and course belongs to a user; an admin sees everything. The rule lives here so
that the web pages, the JSON API and the CLI apply the same one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from fondation.domain.errors import FondationError

#: User names: what a login form, a URL and a log line can all carry unescaped.
USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
LANGUAGES = ("en", "fr")
MIN_PASSWORD_LENGTH = 10


class AccountError(FondationError):
    """A user-management request cannot be done (unknown user, name taken, weak password...)."""


class AuthenticationError(FondationError):
    """The credentials given do not identify a user (wrong password, unknown or revoked token)."""


class RateLimitedError(AuthenticationError):
    """Too many failed logins lately for this name or address; the message says when to try again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class User:
    """A user as every face sees it; secrets (password hash, GitHub token) never leave the store."""

    id: int
    name: str
    is_admin: bool
    language: str | None
    has_password: bool
    github_login: str | None
    has_github_token: bool
    created_at: datetime

    def may_see(self, owner_id: int | None) -> bool:
        """Whether this user may see a thing owned by `owner_id` (None: an operator's, admins only)."""
        return self.is_admin or (owner_id is not None and owner_id == self.id)


@dataclass(frozen=True, slots=True)
class ApiTokenInfo:
    """An API token as listed: never its value, which is shown once at creation and stored hashed."""

    id: int
    user_id: int
    name: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def check_user_name(name: str) -> str:
    """The name if it is acceptable; an `AccountError` that says what is allowed otherwise."""
    if not USER_NAME.match(name):
        raise AccountError(
            f"invalid user name {name!r}: use 1 to 64 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    """The password if it is long enough; length is what matters, so nothing else is demanded."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters, got {len(password)}")
    return password

"""Who is asking: a bearer token (API clients) or a session cookie (browsers), and what they may do.

Every route depends on one of `api_user`, `api_admin`, `page_user` or `page_admin`; a route without
one is refused by the route-coverage test. Requests authenticated by cookie must also prove they come
from our own pages (CSRF): a form field or an `X-CSRF-Token` header equal to the session's token.
Bearer-token requests need no such proof: a browser never attaches them by itself.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from fondation.domain.users import User
from fondation.web.context import WebContext, web_context

SESSION_COOKIE = "fondation_session"
#: Double-submit token of the forms shown before a login (the login form itself).
LOGIN_CSRF_COOKIE = "fondation_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user and how they authenticated."""

    user: User
    via: str  # "session" or "token"
    csrf_token: str | None = None


class LoginRequired(Exception):
    """A page needs a logged-in user: the handler redirects to the login page, then back."""


class PageForbidden(Exception):
    """A page an ordinary user may not open (admin pages)."""


def _principal(request: Request) -> Principal | None:
    if "principal" in request.state._state:
        return request.state.principal
    context: WebContext = request.app.state.context
    found: Principal | None = None
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        user = context.accounts.api_user(credentials.strip())
        found = None if user is None else Principal(user, "token")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        session = context.accounts.session(cookie) if cookie else None
        if session is not None:
            found = Principal(session[0], "session", session[1])
    request.state.principal = found
    return found


async def optional_principal(request: Request) -> Principal | None:
    """For the few pages that anyone may open (login): who is there, if anyone."""
    return await run_in_threadpool(_principal, request)


async def _check_csrf(request: Request, principal: Principal) -> None:
    """Refuse a state-changing request by cookie that does not carry the session's CSRF token."""
    if principal.via != "session" or request.method in _SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # cached by Starlette: the route's Form() parameters read it again
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not principal.csrf_token or not hmac.compare_digest(sent, principal.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


async def api_user(request: Request) -> Principal:
    principal = await run_in_threadpool(_principal, request)
    if principal is None:
        raise HTTPException(
            401, "authentication required: send 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"}
        )
    await _check_csrf(request, principal)
    return principal


async def api_admin(principal: Annotated[Principal, Depends(api_user)]) -> Principal:
    if not principal.user.is_admin:
        raise HTTPException(403, "this needs an admin account")
    return principal


async def page_user(request: Request) -> Principal:
    principal = await run_in_threadpool(_principal, request)
    if principal is None:
        raise LoginRequired()
    await _check_csrf(request, principal)
    return principal


async def page_admin(principal: Annotated[Principal, Depends(page_user)]) -> Principal:
    if not principal.user.is_admin:
        raise PageForbidden()
    return principal


def login_csrf(request: Request) -> str:
    """The pre-login form token: the cookie's value if there is one, else a new one (set by the caller)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


def check_login_csrf(request: Request, sent: str | None) -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(cookie and sent and hmac.compare_digest(cookie, sent))


ApiUser = Annotated[Principal, Depends(api_user)]
ApiAdmin = Annotated[Principal, Depends(api_admin)]
PageUser = Annotated[Principal, Depends(page_user)]
PageAdmin = Annotated[Principal, Depends(page_admin)]
Context = Annotated[WebContext, Depends(web_context)]

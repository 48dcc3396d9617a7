"""Logging in and out: the password form, one-time login links, and GitHub sign-in (OAuth).

The session cookie is HttpOnly, SameSite=Lax, and Secure when the app is reached over https
(`FONDATION_PUBLIC_URL`). The login form is protected by a double-submit CSRF cookie, since there
is no session yet to bind a token to; the OAuth `state` is such a cookie too.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from fondation.accounts.github import GitHubError
from fondation.domain.errors import ConfigError
from fondation.domain.users import AuthenticationError, RateLimitedError, User
from fondation.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Context,
    PageUser,
    check_login_csrf,
    login_csrf,
    optional_principal,
)
from fondation.web.rendering import render

router = APIRouter(include_in_schema=False)
_STATE_COOKIE = "fondation_oauth_state"


def _secure(request: Request) -> bool:
    return request.app.state.context.settings.effective_public_url.startswith("https://")


def _safe_next(target: str | None) -> str:
    """Only a path of this site: an open redirect would let a link send a fresh login anywhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _logged_in(request: Request, context: Context, user: User, target: str) -> RedirectResponse:
    session = context.accounts.start_session(user)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.cookie,
        max_age=int(context.settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


def _login_form(request: Request, context: Context, *, error: str | None = None, status_code: int = 200) -> Response:
    token = login_csrf(request)
    response = render(
        request,
        "login.html",
        status_code=status_code,
        login_token=token,
        error=error,
        next=_safe_next(request.query_params.get("next")),
        github=context.settings.github_oauth_enabled,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/")
    return response


@router.get("/login")
async def login_page(request: Request, context: Context) -> Response:
    if await optional_principal(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_form(request, context)


@router.post("/login")
def login(
    request: Request,
    context: Context,
    name: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if not check_login_csrf(request, csrf_token):
        return _login_form(request, context, error="The form expired: please log in again.", status_code=403)
    remote = request.client.host if request.client else None
    if "\x00" in name:  # no user name holds NUL, and PostgreSQL refuses it in a query (503 instead of 401)
        return _login_form(request, context, error="login.failed", status_code=401)
    try:
        user = context.accounts.authenticate(name.strip(), password, remote=remote)
    except RateLimitedError as error:
        response = _login_form(request, context, error=str(error), status_code=429)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    except AuthenticationError:
        return _login_form(request, context, error="login.failed", status_code=401)
    return _logged_in(request, context, user, _safe_next(next))


@router.post("/logout")
def logout(request: Request, principal: PageUser, context: Context) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        context.accounts.end_session(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/login/link/{token}")
def login_link(token: str, request: Request, context: Context) -> Response:
    """A one-time login link (from `fondation up` or `fondation users link`): works once, then is spent."""
    user = context.accounts.use_login_link(token, remote=request.client.host if request.client else None)
    if user is None:
        return _login_form(request, context, error="login.link_invalid", status_code=401)
    return _logged_in(request, context, user, "/" if user.has_password else "/settings")


def _callback_url(context: Context) -> str:
    return f"{context.settings.effective_public_url}/auth/github/callback"


@router.get("/auth/github")
def github_start(request: Request, context: Context) -> Response:
    try:
        oauth = context.accounts.github_oauth(_callback_url(context))
    except ConfigError as error:
        raise HTTPException(404, str(error)) from None
    state = secrets.token_urlsafe(32)
    response = RedirectResponse(oauth.authorization_url(state), status_code=303)
    response.set_cookie(_STATE_COOKIE, state, max_age=600, httponly=True, samesite="lax", secure=_secure(request))
    return response


@router.get("/auth/github/callback")
def github_callback(request: Request, context: Context, code: str = "", state: str = "", error: str = "") -> Response:
    expected = request.cookies.get(_STATE_COOKIE)
    if error or not code or not expected or not secrets.compare_digest(expected, state):
        reason = error or "the sign-in was not started here, or it expired"
        return _login_form(request, context, error=f"GitHub sign-in failed: {reason}", status_code=400)
    try:
        oauth = context.accounts.github_oauth(_callback_url(context))
        user = context.accounts.sign_in_with_github(oauth, code, remote=request.client.host if request.client else None)
    except ConfigError as failure:
        raise HTTPException(404, str(failure)) from None
    except GitHubError as failure:
        return _login_form(request, context, error=failure.message, status_code=400)
    response = _logged_in(request, context, user, "/")
    response.delete_cookie(_STATE_COOKIE)
    return response

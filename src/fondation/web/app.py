"""The web app: `create_app()` assembles the pages, the JSON API, static files, security headers and errors.

Stateless beyond its database: any number of these can run behind a load balancer against one
PostgreSQL, provided they share `FONDATION_SECRET_KEY`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from fondation import __version__
from fondation.config import Settings
from fondation.domain.errors import DatabaseError, FondationError
from fondation.logs import get_logger
from fondation.render.vendor import VENDOR_DIR
from fondation.store import open_database
from fondation.store.database import Database
from fondation.web import api, login, pages
from fondation.web.access import NotVisible
from fondation.web.auth import LoginRequired, PageForbidden
from fondation.web.context import WebContext
from fondation.web.rendering import render
from fondation.web.schemas import HealthOut

_log = get_logger(component="web")
_STATIC = Path(__file__).parent / "static"
#: The static site's diagram script, served as is: the viewer draws diagrams exactly as an export does.
_COURSE_STATIC = Path(__file__).parent.parent / "render" / "static"
#: Scripts and styles from this origin only: no inline script, no eval (htmx's eval is off, see base.html).
#: Inline styles stay allowed because mermaid writes a <style> into each SVG it draws.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def create_app(
    settings: Settings, *, database: Database | None = None, secret: str | None = None, hub_interval: float = 0.2
) -> FastAPI:
    """The app on `database` (or the configured one, opened and migrated here and closed on shutdown)."""
    owned = database is None
    db = database or open_database(
        settings.database_url,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        sqlite_synchronous=settings.sqlite_synchronous,
        pool_size=16,
    )
    context = WebContext.build(settings, db, secret=secret)
    context.hub.interval = hub_interval

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await context.hub.start()
        try:
            yield
        finally:
            await context.hub.stop()
            if owned:
                db.dispose()

    app = FastAPI(
        title="Fondation",
        version=__version__,
        description="Turn a code repository into a course. Every /api/v1 route needs `Authorization: Bearer "
        "<token>` (`fondation users token NAME`) or a logged-in session with its CSRF token.",
        lifespan=lifespan,
        # No Swagger UI: it needs a CDN script and an inline one, which the CSP refuses. The schema is
        # served for clients and tools (schemathesis, code generators) at openapi_url.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.context = context
    app.mount("/static/vendor", StaticFiles(directory=VENDOR_DIR, check_dir=False), name="vendor")
    app.mount("/static/course", StaticFiles(directory=_COURSE_STATIC), name="course-static")
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    app.include_router(api.router)
    app.include_router(login.router)
    app.include_router(pages.router)
    app.add_api_route(
        "/health",
        _health,
        methods=["GET"],
        response_model=HealthOut,
        tags=["health"],
        responses={503: {"model": HealthOut}},
    )
    app.middleware("http")(_security_headers)
    _add_error_handlers(app)
    return app


async def _health(request: Request) -> Response:
    """Liveness and readiness: 200 when the database answers, 503 when it does not. No authentication."""
    context: WebContext = request.app.state.context
    try:
        await run_in_threadpool(context.db.ping)
        body = HealthOut(status="ok", database="ok", version=__version__)
        return JSONResponse(body.model_dump(), status_code=200)
    except DatabaseError as error:
        # Anyone may call /health: the database's address stays in the log, not in the answer.
        _log.warning("health check: database unavailable", error=str(error))
        body = HealthOut(status="unhealthy", database="unreachable", version=__version__)
        return JSONResponse(body.model_dump(), status_code=503)


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.url.path.startswith(("/api/", "/jobs/", "/courses/", "/admin", "/settings")):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _add_error_handlers(app: FastAPI) -> None:
    """API errors as `{"detail": "..."}` JSON; page errors as a page in the user's language."""

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _error: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":  # back to the page the form was on, not to a URL that only takes POST
            referer = urlsplit(request.headers.get("referer", ""))
            target = referer.path if referer.netloc == request.url.netloc and referer.path else "/"
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(PageForbidden)
    async def forbidden(request: Request, _error: PageForbidden) -> Response:
        return render(request, "error.html", status_code=403, message_key="error.forbidden", message=None)

    @app.exception_handler(NotVisible)
    async def not_visible(request: Request, error: NotVisible) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(error)}, status_code=404)
        return render(request, "error.html", status_code=404, message_key="error.not_found", message=None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if _is_api(request) or request.url.path == "/health":
            return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)
        key = {404: "error.not_found", 403: "error.forbidden"}.get(error.status_code)
        # A 403 raised as an HTTPException is a refused CSRF token: say so, the user can reload and retry.
        message = None if error.status_code == 404 else str(error.detail)
        return render(
            request, "error.html", status_code=error.status_code, message_key=key or "error.title", message=message
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> Response:
        # FastAPI's own handler echoes each input back, and fails (500) on a lone surrogate such as the
        # JSON string "\ud800", which UTF-8 cannot encode: ASCII-escaped JSON carries any input.
        body = json.dumps({"detail": jsonable_encoder(error.errors())}, ensure_ascii=True, separators=(",", ":"))
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(DatabaseError)
    async def database_error(request: Request, error: DatabaseError) -> Response:
        _log.warning("request failed: database unavailable", path=request.url.path, error=str(error))
        detail = "the database is unavailable: try again in a moment"
        if _is_api(request):
            return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})
        return render(request, "error.html", status_code=503, message_key="error.title", message=detail)

    @app.exception_handler(FondationError)
    async def fondation_error(request: Request, error: FondationError) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(error)}, status_code=400)
        return render(request, "error.html", status_code=400, message_key="error.title", message=str(error))

"""Every route of the web app is in the table below, with who may call it and the test that covers it.

A route added to the app without an entry here fails this suite with its name, so nobody adds a page
or an API route without deciding its access class and testing it. The table is also checked against
the code (the auth dependency each route declares) and against the running app (an anonymous request
to each non-public route is refused; an ordinary user is refused each admin route).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, Literal

from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from fondation.web.auth import api_admin, api_user, page_admin, page_user
from web_harness import WebApp, endpoints, sign_in

pytest_plugins = ["web_harness"]

Access = Literal["public", "user", "admin"]
API = "test_web_api"
PAGES = "test_web_pages"

#: (method, path) -> (who may call it, the test that covers it).
ROUTES: dict[tuple[str, str], tuple[Access, str]] = {
    # JSON API
    ("POST", "/api/v1/jobs"): (
        "user",
        f"{API}::test_create_job_then_the_same_request_returns_it_and_force_makes_a_new_one",
    ),
    ("GET", "/api/v1/jobs"): ("user", f"{API}::test_list_filters_and_pages"),
    ("GET", "/api/v1/jobs/{job_id}"): ("user", f"{API}::test_the_owner_gets_the_documented_body"),
    ("POST", "/api/v1/jobs/{job_id}/cancel"): ("user", f"{API}::test_cancel_and_retry"),
    ("POST", "/api/v1/jobs/{job_id}/retry"): ("user", f"{API}::test_cancel_and_retry"),
    ("GET", "/api/v1/jobs/{job_id}/events"): ("user", f"{API}::test_events_list_the_whole_history"),
    ("GET", "/api/v1/jobs/{job_id}/events/stream"): (
        "user",
        f"{API}::test_the_stream_sends_the_job_then_its_events_then_end",
    ),
    ("GET", "/api/v1/repositories"): ("user", f"{API}::test_repositories"),
    ("GET", "/api/v1/repositories/{repository_id}"): ("user", f"{API}::test_repositories"),
    ("GET", "/api/v1/github/repositories"): (
        "user",
        f"{API}::test_github_repositories_are_empty_without_a_github_token",
    ),
    ("GET", "/api/v1/courses"): ("user", f"{API}::test_courses_and_documents"),
    ("GET", "/api/v1/courses/{course_id}"): ("user", f"{API}::test_courses_and_documents"),
    ("GET", "/api/v1/courses/{course_id}/documents"): ("user", f"{API}::test_courses_and_documents"),
    ("GET", "/api/v1/courses/{course_id}/documents/{path:path}"): ("user", f"{API}::test_courses_and_documents"),
    ("GET", "/api/v1/courses/{course_id}/export"): ("user", f"{API}::test_exports_are_zips_of_the_course"),
    ("GET", "/api/v1/admin/workers"): ("admin", f"{API}::test_admin_workers"),
    ("GET", "/api/v1/admin/queue"): ("admin", f"{API}::test_admin_queue_reclaim_and_requeue"),
    ("POST", "/api/v1/admin/reclaim-expired"): ("admin", f"{API}::test_admin_queue_reclaim_and_requeue"),
    ("POST", "/api/v1/admin/requeue"): ("admin", f"{API}::test_admin_queue_reclaim_and_requeue"),
    ("GET", "/api/v1/admin/users"): ("admin", f"{API}::test_admin_users_and_me"),
    ("GET", "/api/v1/me"): ("user", f"{API}::test_admin_users_and_me"),
    ("GET", "/health"): ("public", f"{API}::test_health_is_503_when_the_database_is_unreachable"),
    # Logging in and out
    ("GET", "/login"): ("public", f"{API}::test_the_session_cookie_is_httponly_and_lax"),
    ("POST", "/login"): ("public", f"{API}::test_logins_are_rate_limited"),
    ("POST", "/logout"): ("user", f"{API}::test_logout_ends_the_session"),
    ("GET", "/login/link/{token}"): ("public", f"{API}::test_a_login_link_works_once"),
    ("GET", "/auth/github"): ("public", f"{API}::test_github_sign_in_and_repositories"),
    ("GET", "/auth/github/callback"): ("public", f"{API}::test_github_sign_in_and_repositories"),
    # Pages
    ("GET", "/"): ("user", f"{PAGES}::test_the_dashboard_lists_repositories_and_jobs"),
    ("POST", "/jobs"): ("user", f"{PAGES}::test_submit_errors_are_shown_beside_the_field"),
    ("GET", "/jobs/{job_id}"): ("user", f"{PAGES}::test_the_job_page"),
    ("GET", "/jobs/{job_id}/live"): ("user", f"{PAGES}::test_the_live_view_follows_the_job_to_its_end"),
    ("POST", "/jobs/{job_id}/cancel"): ("user", f"{PAGES}::test_job_actions_from_the_page"),
    ("POST", "/jobs/{job_id}/retry"): ("user", f"{PAGES}::test_job_actions_from_the_page"),
    ("POST", "/jobs/{job_id}/regenerate"): ("user", f"{PAGES}::test_job_actions_from_the_page"),
    ("GET", "/repositories/{repository_id}"): ("user", f"{PAGES}::test_the_repository_history"),
    ("GET", "/courses/{course_id}/download/{export_format}"): ("user", f"{PAGES}::test_downloads"),
    ("GET", "/courses/{course_id}/"): (
        "user",
        f"{PAGES}::test_the_course_overview_links_code_references_to_the_commit",
    ),
    ("GET", "/courses/{course_id}"): ("user", f"{PAGES}::test_the_course_overview_links_code_references_to_the_commit"),
    ("GET", "/courses/{course_id}/{path:path}"): (
        "user",
        f"{PAGES}::test_a_chapter_page_carries_its_diagram_and_highlighted_code",
    ),
    ("GET", "/admin"): ("admin", f"{PAGES}::test_the_admin_page_and_its_actions"),
    ("POST", "/admin/reclaim-expired"): ("admin", f"{PAGES}::test_the_admin_page_and_its_actions"),
    ("POST", "/admin/requeue"): ("admin", f"{PAGES}::test_the_admin_page_and_its_actions"),
    ("GET", "/settings"): ("user", f"{PAGES}::test_french_by_the_users_setting"),
    ("POST", "/settings"): ("user", f"{PAGES}::test_a_new_password_ends_the_sessions"),
}
#: FastAPI's own route: the OpenAPI document (public, and tested by test_web_schemathesis). No Swagger UI:
#: it needs scripts the CSP refuses.
DOCS = {("GET", "/api/v1/openapi.json")}
#: What a dummy request puts in each path parameter.
DUMMY = {"path": "index.md", "export_format": "md", "token": "not-a-login-token"}


def _url(path: str) -> str:
    """The path with every parameter filled: ids as 1, the others from DUMMY."""

    def fill(match: re.Match[str]) -> str:
        name = match[1]
        return "1" if name.endswith("_id") else DUMMY[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", fill, path)


def _declared_access(route: BaseRoute) -> Access:
    """The access class a route's dependencies give it (admin > user > public)."""
    calls: set[Callable[..., Any]] = set()
    pending = list(getattr(route, "dependant").dependencies)  # noqa: B009 - APIRoute only, checked by caller
    while pending:
        dependency = pending.pop()
        calls.add(dependency.call)
        pending.extend(dependency.dependencies)
    if calls & {api_admin, page_admin}:
        return "admin"
    if calls & {api_user, page_user}:
        return "user"
    return "public"


def test_every_route_is_in_the_table(web: WebApp) -> None:
    in_app = set(endpoints(web.app)) - DOCS
    missing = sorted(in_app - set(ROUTES))
    assert not missing, "routes without an entry in tests/test_web_routes.py ROUTES (add access + test): " + ", ".join(
        f"{method} {path}" for method, path in missing
    )
    stale = sorted(set(ROUTES) - in_app)
    assert not stale, "ROUTES entries for routes the app no longer has: " + ", ".join(f"{m} {p}" for m, p in stale)


def test_the_covering_tests_exist() -> None:
    for (method, path), (_access, test) in ROUTES.items():
        module, name = test.split("::")
        assert callable(getattr(importlib.import_module(module), name, None)), f"{method} {path}: no test {test}"


def test_the_table_matches_the_declared_dependencies(web: WebApp) -> None:
    routes = endpoints(web.app)
    wrong = {
        key: (access, _declared_access(routes[key]))
        for key, (access, _test) in ROUTES.items()
        if key in routes and _declared_access(routes[key]) != access
    }
    assert wrong == {}, "(table, code) access classes differ"


def test_every_non_public_route_refuses_anonymous_requests(web: WebApp, client: TestClient) -> None:
    for (method, path), (access, _test) in ROUTES.items():
        url = _url(path)
        response = client.request(method, url)
        if access == "public":
            assert response.status_code < 500, (method, path, response.status_code)
            assert not response.headers.get("location", "").startswith("/login?next="), (method, path)
            assert response.status_code != 401 or path == "/login/link/{token}", (method, path)
        elif path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["detail"].startswith("authentication required")
        else:
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next="), (method, path)


def test_every_admin_route_refuses_ordinary_users(web: WebApp, client: TestClient) -> None:
    token = sign_in(client, web, web.alice)
    admin_routes = [(method, path) for (method, path), (access, _) in ROUTES.items() if access == "admin"]
    assert len(admin_routes) == 8
    for method, path in admin_routes:
        if path.startswith("/api/"):
            response = client.request(method, _url(path), headers=web.alice.headers, json={})
        else:
            response = client.request(method, _url(path), data={"csrf_token": token} if method == "POST" else None)
        assert response.status_code == 403, (method, path, response.status_code)

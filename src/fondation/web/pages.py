"""The server-rendered pages: dashboard, submit, job (live over SSE), course viewer, history, admin, settings.

Every page works without JavaScript (forms post and redirect); htmx with its SSE extension only makes
the job page update itself, and mermaid only draws the diagrams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from fondation.accounts.github import GitHubError
from fondation.domain.jobs import EventKind, Job, JobEvent, JobStatus
from fondation.domain.users import LANGUAGES, AccountError
from fondation.pipeline.model import PROVIDER_NAMES
from fondation.store.courses import CourseNotFoundError
from fondation.web.access import change_job, owner_filter, visible_course, visible_job, visible_repository
from fondation.web.api import FAILURE_WINDOW_SECONDS, Id
from fondation.web.auth import Context, PageAdmin, PageUser
from fondation.web.exports import export_response
from fondation.web.i18n import negotiate, translator
from fondation.web.rendering import TEMPLATES, course_page_html, render
from fondation.web.submission import Submission, SubmissionError, submit

router = APIRouter(include_in_schema=False)
_SECTIONS = (("chapter", "course.chapters"), ("tutorial", "course.tutorials"))


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------------- dashboard and submit


@router.get("/")
def dashboard(request: Request, principal: PageUser, context: Context) -> Response:
    return _dashboard(request, principal, context)


def _dashboard(
    request: Request, principal: Any, context: Any, *, errors: dict[str, str] | None = None, form: Any = None
) -> Response:
    user = principal.user
    github_repositories: list[Any] = []
    github_error = None
    if user.has_github_token:
        try:
            github_repositories = context.accounts.github_repositories(user)
        except GitHubError as error:
            github_error = error.message
    return render(
        request,
        "dashboard.html",
        status_code=422 if errors else 200,
        repositories=context.repositories.list(owner_id=owner_filter(user)),
        jobs=context.queue.list(owner_id=owner_filter(user), limit=10),
        providers=PROVIDER_NAMES,
        default_provider=context.settings.provider,
        errors=errors or {},
        form=form or {},
        github_repositories=github_repositories,
        github_error=github_error,
    )


@router.post("/jobs")
def submit_form(
    request: Request,
    principal: PageUser,
    context: Context,
    source: Annotated[str, Form(max_length=2000)] = "",
    ref: Annotated[str, Form(max_length=256)] = "",
    language: Annotated[str, Form(max_length=8)] = "en",
    provider: Annotated[str, Form(max_length=32)] = "",
    max_chapters: Annotated[str, Form(max_length=8)] = "10",
) -> Response:
    form = {"source": source, "ref": ref, "language": language, "provider": provider, "max_chapters": max_chapters}
    if not max_chapters.strip().isdigit():
        return _dashboard(
            request, principal, context, errors={"max_chapters": "a whole number from 1 to 50"}, form=form
        )
    try:
        result = submit(
            context, principal.user, Submission(source, ref or None, language, provider or None, int(max_chapters))
        )
    except SubmissionError as error:
        return _dashboard(request, principal, context, errors={error.field: error.message}, form=form)
    return _redirect(f"/jobs/{result.job.id}" + ("" if result.created else "?existing=1"))


# ---------------------------------------------------------------------- jobs


def _job_view(context: Any, job: Job) -> dict[str, Any]:
    events = context.queue.events(job.id)
    course = None
    if job.status is JobStatus.SUCCEEDED:
        try:
            course = context.courses.for_job(job.id)
        except CourseNotFoundError:  # a job run by a handler that makes no course
            course = None
    return {"job": job, "events": events, "course": course, "figures": _figures(job, events)}


def _figures(job: Job, events: list[JobEvent]) -> dict[str, Any]:
    """Chapter i/n, tokens and cost: from the last progress event while running, the result once done."""
    latest = next((e.data for e in reversed(events) if e.kind is EventKind.PROGRESS and e.data), {})
    usage = (job.result or {}).get("usage") if job.result else None
    figures: dict[str, Any] = {}
    if latest.get("chapter") is not None:
        figures["chapter"] = f"{latest['chapter']}/{latest.get('chapters') or '?'}"
    source = usage if isinstance(usage, dict) else latest
    if "input_tokens" in source:
        figures["tokens"] = int(source.get("input_tokens", 0)) + int(source.get("output_tokens", 0))
        figures["cost"] = float(source.get("cost_usd", 0.0))
    return figures


@router.get("/jobs/{job_id}")
def job_page(job_id: Id, request: Request, principal: PageUser, context: Context) -> Response:
    job = visible_job(context, principal.user, job_id)
    return render(request, "job.html", **_job_view(context, job), existing="existing" in request.query_params)


@router.get("/jobs/{job_id}/live")
async def job_live(job_id: Id, request: Request, principal: PageUser, context: Context) -> EventSourceResponse:
    """HTML fragments for the job page over SSE: `progress` (the panel), `timeline` (new rows), `done`."""
    await run_in_threadpool(visible_job, context, principal.user, job_id)
    return EventSourceResponse(_live(request, context, job_id), ping=15)


def _fragment(request: Request, template: str, **values: Any) -> str:
    principal = request.state.principal
    language = negotiate(request.headers.get("accept-language"), principal.user)
    return TEMPLATES.get_template(template).render(
        t=translator(language), csrf_token=principal.csrf_token, user=principal.user, **values
    )


async def _live(request: Request, context: Any, job_id: int) -> AsyncIterator[dict[str, str]]:
    async with context.hub.subscribe(job_id) as updates:
        view = await run_in_threadpool(_job_view, context, await run_in_threadpool(context.queue.get, job_id))
        seen = view["events"][-1].id if view["events"] else 0
        yield {"event": "progress", "data": _fragment(request, "job_progress.html", **view)}
        while not view["job"].status.is_terminal:
            try:
                update = await asyncio.wait_for(updates.get(), timeout=5.0)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                continue
            view = await run_in_threadpool(_job_view, context, update.job)
            # The view's history is read after the job, so it reaches the job's state; `update.events` may
            # stop short of it (the hub reads a tick's jobs after its events), and a job that ended has no
            # later tick to bring the rest.
            fresh = [event for event in view["events"] if event.id > seen]
            if fresh:
                seen = fresh[-1].id
                yield {"event": "timeline", "data": _fragment(request, "job_events.html", events=fresh)}
            yield {"event": "progress", "data": _fragment(request, "job_progress.html", **view)}
        yield {"event": "done", "data": _fragment(request, "job_done.html", **view)}


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: Id, principal: PageUser, context: Context) -> Response:
    change_job(context, principal.user, job_id, "cancel")
    return _redirect(f"/jobs/{job_id}")


@router.post("/jobs/{job_id}/retry")
def retry_job(job_id: Id, principal: PageUser, context: Context) -> Response:
    change_job(context, principal.user, job_id, "retry")
    return _redirect(f"/jobs/{job_id}")


@router.post("/jobs/{job_id}/regenerate")
def regenerate_job(job_id: Id, principal: PageUser, context: Context) -> Response:
    """A new generation of the same source, ref and options (a new course; the old one is kept)."""
    job = visible_job(context, principal.user, job_id)
    options = job.options
    submission = Submission(
        job.source, job.ref, options.get("language", "en"), options.get("provider"), options.get("max_chapters", 10)
    )
    try:
        result = submit(context, principal.user, submission, force=True)
    except SubmissionError as error:
        raise HTTPException(422, error.message) from None
    return _redirect(f"/jobs/{result.job.id}")


# ---------------------------------------------------------------------- repositories and courses


@router.get("/repositories/{repository_id}")
def repository_page(repository_id: Id, request: Request, principal: PageUser, context: Context) -> Response:
    repository = visible_repository(context, principal.user, repository_id)
    owner = owner_filter(principal.user)
    return render(
        request,
        "repository.html",
        repository=repository,
        courses=context.courses.list(owner_id=owner, repository_id=repository_id, limit=200),
        jobs=context.queue.list(owner_id=owner, repository_id=repository_id, limit=50),
    )


@router.get("/courses/{course_id}/download/{export_format}")
def download_course(export_format: str, course_id: Id, principal: PageUser, context: Context) -> Response:
    if export_format not in ("md", "html"):
        raise HTTPException(404, "no such download: md or html")
    course = visible_course(context, principal.user, course_id)
    return export_response(course, context.courses.documents(course_id), export_format)


@router.get("/courses/{course_id}/")
def course_overview(course_id: Id, request: Request, principal: PageUser, context: Context) -> Response:
    return _course_page(request, principal, context, course_id, "index.md")


@router.get("/courses/{course_id}")
def course_root(course_id: Id, principal: PageUser) -> Response:
    return _redirect(f"/courses/{course_id}/")


@router.get("/courses/{course_id}/{path:path}")
def course_document(course_id: Id, path: str, request: Request, principal: PageUser, context: Context) -> Response:
    return _course_page(request, principal, context, course_id, path)


def _course_page(request: Request, principal: Any, context: Any, course_id: Id, path: str) -> Response:
    course = visible_course(context, principal.user, course_id)
    # No document path holds NUL, and PostgreSQL refuses it in a query (a 503 instead of this 404).
    document = None if "\x00" in path else context.courses.document(course_id, path)
    if document is None or not path.endswith(".md"):
        raise HTTPException(404, f"course {course_id} has no page {path!r}")
    outline = context.courses.outline(course_id)
    sections = [(label, [(p, title) for p, kind, title in outline if kind == section]) for section, label in _SECTIONS]
    return render(
        request,
        "course.html",
        course=course,
        path=path,
        title=document.title,
        body=course_page_html(course, path, document.content),
        sections=[(label, pages) for label, pages in sections if pages],
        quality={k: v for k, v in course.quality.items() if isinstance(v, int | float)},
    )


# ---------------------------------------------------------------------- admin and settings


@router.get("/admin")
def admin_page(request: Request, principal: PageAdmin, context: Context) -> Response:
    now = datetime.now(UTC)
    lease = context.settings.lease_seconds
    return render(
        request,
        "admin.html",
        workers=[(info, info.is_up(now, lease)) for info in context.workers.list()],
        counts=context.queue.counts(),
        oldest_pending=context.queue.oldest_ready_age(),
        stuck=context.stats.stuck(),
        failures=context.stats.failures_by_kind(FAILURE_WINDOW_SECONDS),
        users=context.accounts.users(),
        moved=request.query_params.get("moved"),
    )


@router.post("/admin/reclaim-expired")
def admin_reclaim(principal: PageAdmin, context: Context) -> Response:
    moved = context.queue.reclaim_expired(actor=f"web:{principal.user.name}")
    return _redirect(f"/admin?moved={len(moved)}")


@router.post("/admin/requeue")
def admin_requeue(
    principal: PageAdmin, context: Context, status: Annotated[str, Form(max_length=16)] = "running"
) -> Response:
    if status not in ("running", "failed", "dead"):
        raise HTTPException(422, "status must be running, failed or dead")
    moved = context.queue.requeue(
        status=JobStatus(status), dead_after_seconds=context.settings.lease_seconds, actor=f"web:{principal.user.name}"
    )
    return _redirect(f"/admin?moved={len(moved)}")


@router.get("/settings")
def settings_page(request: Request, principal: PageUser) -> Response:
    return render(request, "settings.html", languages=LANGUAGES, saved="saved" in request.query_params, error=None)


@router.post("/settings")
def save_settings(
    request: Request,
    principal: PageUser,
    context: Context,
    language: Annotated[str, Form(max_length=8)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    try:
        context.accounts.set_language(principal.user, language or None)
        if password:
            context.accounts.set_password(principal.user.name, password)
    except AccountError as error:
        return render(request, "settings.html", status_code=422, languages=LANGUAGES, saved=False, error=str(error))
    if password:  # a new password ends every session, this one too: log in again with it
        return _redirect("/login")
    return _redirect("/settings?saved=1")

"""The JSON API under /api/v1: jobs, their events (also as a live SSE stream), repositories, courses,
exports and administration. Every route needs a bearer token or a session (see `fondation.web.auth`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from fondation.accounts.github import GitHubError
from fondation.domain.jobs import JobStatus
from fondation.web.access import change_job, owner_filter, visible_course, visible_job, visible_repository
from fondation.web.auth import ApiAdmin, ApiUser, Context
from fondation.web.exports import EXPORT_FORMATS, export_response
from fondation.web.schemas import (
    CourseOut,
    DocumentOut,
    DocumentSummary,
    ErrorBody,
    EventOut,
    FailureOut,
    GitHubRepositoryOut,
    JobCreate,
    JobCreated,
    JobOut,
    MovedJobs,
    QueueOut,
    RepositoryOut,
    RequeueRequest,
    UserOut,
    WorkerOut,
)
from fondation.web.submission import Submission, SubmissionError, submit

#: Failures shown on the admin views: the last day's.
FAILURE_WINDOW_SECONDS = 24 * 3600.0

_AUTH = {401: {"model": ErrorBody, "description": "Not authenticated."}}
_SEEN = {**_AUTH, 404: {"model": ErrorBody, "description": "No such thing, or not yours."}}
_ADMIN = {**_AUTH, 403: {"model": ErrorBody, "description": "Admins only."}}
_STATE = {**_SEEN, 409: {"model": ErrorBody, "description": "The job is in a state that does not allow this."}}

#: Database ids: positive 64-bit integers (a larger number cannot name anything, and is refused as such).
Id = Annotated[int, Path(ge=1, le=2**62)]

#: What any route may answer: 400 for a body that cannot be read (not UTF-8) or a request the app refuses
#: (`FondationError`), 403 for a session request without its CSRF token.
router = APIRouter(
    prefix="/api/v1",
    tags=["api"],
    responses={
        400: {"model": ErrorBody, "description": "The body cannot be read, or the request cannot be done."},
        403: {"model": ErrorBody, "description": "CSRF."},
    },
)


# ---------------------------------------------------------------------- jobs


@router.post("/jobs", response_model=JobCreated, status_code=201, responses={**_AUTH, 200: {"model": JobCreated}})
def create_job(body: JobCreate, principal: ApiUser, context: Context) -> Any:
    """Queue a course generation; an active job for the same request is returned instead (200)."""
    submission = Submission(body.source, body.ref, body.language, body.provider, body.max_chapters)
    try:
        result = submit(context, principal.user, submission, force=body.force)
    except SubmissionError as error:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", error.field), "msg": error.message, "input": None}]
        ) from None
    payload = JobCreated(job=JobOut.of(result.job), created=result.created)
    if not result.created:
        return JSONResponse(payload.model_dump(mode="json"), status_code=200)
    return payload


@router.get("/jobs", response_model=list[JobOut], responses=_AUTH)
def list_jobs(
    principal: ApiUser,
    context: Context,
    status: JobStatus | None = None,
    repository_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62, description="Page backwards from this job id.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[JobOut]:
    """The user's jobs (an admin's: everyone's), newest first."""
    jobs = context.queue.list(
        status=status,
        limit=limit,
        owner_id=owner_filter(principal.user),
        repository_id=repository_id,
        before_id=before_id,
    )
    return [JobOut.of(job) for job in jobs]


@router.get("/jobs/{job_id}", response_model=JobOut, responses=_SEEN)
def get_job(job_id: Id, principal: ApiUser, context: Context) -> JobOut:
    return JobOut.of(visible_job(context, principal.user, job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, responses=_STATE)
def cancel_job(job_id: Id, principal: ApiUser, context: Context) -> JobOut:
    """Cancel: at once if the job waits, within seconds if it runs (its worker stops it)."""
    return JobOut.of(change_job(context, principal.user, job_id, "cancel"))


@router.post("/jobs/{job_id}/retry", response_model=JobOut, responses=_STATE)
def retry_job(job_id: Id, principal: ApiUser, context: Context) -> JobOut:
    """Run a failed, dead or canceled job again now."""
    return JobOut.of(change_job(context, principal.user, job_id, "retry"))


@router.get("/jobs/{job_id}/events", response_model=list[EventOut], responses=_SEEN)
def job_events(job_id: Id, principal: ApiUser, context: Context) -> list[EventOut]:
    """The job's whole history, oldest first: transitions and progress messages."""
    visible_job(context, principal.user, job_id)
    return [EventOut.of(event) for event in context.queue.events(job_id)]


@router.get(
    "/jobs/{job_id}/events/stream",
    responses={**_SEEN, 200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."}},
)
async def job_event_stream(job_id: Id, principal: ApiUser, context: Context, request: Request) -> EventSourceResponse:
    """Server-sent events: `job` (the job as it is now) then one `event` per new job event, until the job
    ends (succeeded, dead or canceled)."""
    await run_in_threadpool(visible_job, context, principal.user, job_id)
    return EventSourceResponse(_stream(context, job_id, request), ping=15)


async def _stream(context: Any, job_id: int, request: Request) -> AsyncIterator[dict[str, str]]:
    async with context.hub.subscribe(job_id) as updates:
        job = await run_in_threadpool(context.queue.get, job_id)
        events = await run_in_threadpool(context.queue.events, job_id)
        seen = events[-1].id if events else 0
        yield {"event": "job", "data": JobOut.of(job).model_dump_json()}
        while not job.status.is_terminal:
            try:
                update = await asyncio.wait_for(updates.get(), timeout=5.0)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                continue
            events = update.events
            if update.job.status.is_terminal:
                # The hub reads a tick's jobs after its events: a job that ended meanwhile is ahead of
                # `update.events`, and no later tick would bring the rest (the stream ends here).
                events = tuple(await run_in_threadpool(context.queue.events, job_id))
            for event in events:
                if event.id > seen:
                    seen = event.id
                    yield {"event": "event", "id": str(event.id), "data": EventOut.of(event).model_dump_json()}
            job = update.job
            yield {"event": "job", "data": JobOut.of(job).model_dump_json()}
        yield {"event": "end", "data": json.dumps({"status": job.status.value})}


# ---------------------------------------------------------------------- repositories


@router.get("/repositories", response_model=list[RepositoryOut], responses=_AUTH)
def list_repositories(principal: ApiUser, context: Context) -> list[RepositoryOut]:
    """The repositories the user asked courses for (an admin: all), each with its latest job."""
    return [RepositoryOut.of(info) for info in context.repositories.list(owner_id=owner_filter(principal.user))]


@router.get("/repositories/{repository_id}", response_model=RepositoryOut, responses=_SEEN)
def get_repository(repository_id: Id, principal: ApiUser, context: Context) -> RepositoryOut:
    return RepositoryOut.of(visible_repository(context, principal.user, repository_id))


@router.get(
    "/github/repositories",
    response_model=list[GitHubRepositoryOut],
    responses={**_AUTH, 502: {"model": ErrorBody, "description": "GitHub refused or failed."}},
)
def github_repositories(principal: ApiUser, context: Context) -> list[GitHubRepositoryOut]:
    """The user's GitHub repositories (every page), when they signed in with GitHub; else empty."""
    try:
        found = context.accounts.github_repositories(principal.user)
    except GitHubError as error:
        raise HTTPException(502, error.message) from None
    return [
        GitHubRepositoryOut(
            full_name=r.full_name,
            private=r.private,
            html_url=r.html_url,
            default_branch=r.default_branch,
            description=r.description,
        )
        for r in found
    ]


# ---------------------------------------------------------------------- courses


@router.get("/courses", response_model=list[CourseOut], responses=_AUTH)
def list_courses(
    principal: ApiUser,
    context: Context,
    repository_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[CourseOut]:
    """Stored courses, newest first: every generation is kept."""
    found = context.courses.list(owner_id=owner_filter(principal.user), repository_id=repository_id, limit=limit)
    return [CourseOut.of(course) for course in found]


@router.get("/courses/{course_id}", response_model=CourseOut, responses=_SEEN)
def get_course(course_id: Id, principal: ApiUser, context: Context) -> CourseOut:
    return CourseOut.of(visible_course(context, principal.user, course_id))


@router.get("/courses/{course_id}/documents", response_model=list[DocumentSummary], responses=_SEEN)
def list_documents(course_id: Id, principal: ApiUser, context: Context) -> list[DocumentSummary]:
    """The course's pages and artifacts in reading order."""
    visible_course(context, principal.user, course_id)
    return [DocumentSummary(path=p, kind=k, title=t) for p, k, t in context.courses.outline(course_id)]


@router.get("/courses/{course_id}/documents/{path:path}", response_model=DocumentOut, responses=_SEEN)
def get_document(course_id: Id, path: str, principal: ApiUser, context: Context) -> DocumentOut:
    visible_course(context, principal.user, course_id)
    # No document path holds NUL, and PostgreSQL refuses it in a query (a 503 instead of this 404).
    document = None if "\x00" in path else context.courses.document(course_id, path)
    if document is None:
        raise HTTPException(404, f"course {course_id} has no document {path!r}")
    return DocumentOut(path=document.path, kind=document.kind, title=document.title, content=document.content)


@router.get(
    "/courses/{course_id}/export",
    response_class=FileResponse,
    responses={**_SEEN, 200: {"content": {"application/zip": {}}, "description": "A zip archive."}},
)
def export_course(
    course_id: Id,
    principal: ApiUser,
    context: Context,
    export_format: Annotated[Literal["md", "html"], Query(alias="format")] = "md",
) -> FileResponse:
    """The course as a zip: `md` (the markdown folder) or `html` (a static site that works offline)."""
    assert export_format in EXPORT_FORMATS
    course = visible_course(context, principal.user, course_id)
    return export_response(course, context.courses.documents(course_id), export_format)


# ---------------------------------------------------------------------- administration


@router.get("/admin/workers", response_model=list[WorkerOut], responses=_ADMIN)
def admin_workers(principal: ApiAdmin, context: Context) -> list[WorkerOut]:
    """Every registered worker, up or down (silent for longer than the lease time)."""
    now = datetime.now(UTC)
    lease = context.settings.lease_seconds
    return [WorkerOut.of(info, up=info.is_up(now, lease)) for info in context.workers.list()]


@router.get("/admin/queue", response_model=QueueOut, responses=_ADMIN)
def admin_queue(principal: ApiAdmin, context: Context) -> QueueOut:
    """Depth by status, the oldest pending job's age, stuck jobs, and the last day's failures by kind."""
    return QueueOut(
        counts={status.value: count for status, count in context.queue.counts().items()},
        oldest_pending_seconds=context.queue.oldest_ready_age(),
        stuck=[JobOut.of(job) for job in context.stats.stuck()],
        failures_last_24h=[
            FailureOut(kind=f.kind, count=f.count) for f in context.stats.failures_by_kind(FAILURE_WINDOW_SECONDS)
        ],
    )


@router.post("/admin/reclaim-expired", response_model=MovedJobs, responses=_ADMIN)
def admin_reclaim(principal: ApiAdmin, context: Context) -> MovedJobs:
    """Take back every running job whose lease has expired (its worker is gone)."""
    moved = context.queue.reclaim_expired(actor=f"web:{principal.user.name}")
    return MovedJobs(count=len(moved), jobs=[JobOut.of(job) for job in moved])


@router.post("/admin/requeue", response_model=MovedJobs, responses=_ADMIN)
def admin_requeue(body: RequeueRequest, principal: ApiAdmin, context: Context) -> MovedJobs:
    """Put jobs of one status back to pending now (running ones only when their worker is gone, unless forced)."""
    moved = context.queue.requeue(
        status=JobStatus(body.status),
        force=body.force,
        dead_after_seconds=context.settings.lease_seconds,
        actor=f"web:{principal.user.name}",
    )
    return MovedJobs(count=len(moved), jobs=[JobOut.of(job) for job in moved])


@router.get("/admin/users", response_model=list[UserOut], responses=_ADMIN)
def admin_users(principal: ApiAdmin, context: Context) -> list[UserOut]:
    return [UserOut.of(user) for user in context.accounts.users()]


@router.get("/me", response_model=UserOut, responses=_AUTH)
def me(principal: ApiUser) -> UserOut:
    """The authenticated user."""
    return UserOut.of(principal.user)

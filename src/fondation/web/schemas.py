"""The JSON API's request and response bodies: the OpenAPI schema is generated from these."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from fondation.queue.workers import WorkerInfo


class FromDomain(BaseModel):
    """A response body read straight from the domain object of the same shape (a dataclass): its
    fields are picked by name, enums become their values."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, thing: object) -> Self:
        return cls.model_validate(thing)


class ErrorBody(BaseModel):
    """Every error the API answers itself: one sentence saying what is wrong and what to do."""

    detail: str


class JobCreate(BaseModel):
    # Strict: a body the schema refuses (`"force": 1.0`, `"max_chapters": "5"`) is refused, not coerced.
    model_config = ConfigDict(strict=True)

    source: str = Field(min_length=1, max_length=2000, description="A git URL, owner/repo, or (admins) a local path.")
    ref: str | None = Field(default=None, max_length=256, description="Branch, tag or commit.")
    language: Literal["en", "fr"] = "en"
    provider: Literal["offline", "claude-cli", "anthropic", "openai"] | None = None
    max_chapters: int = Field(default=10, ge=1, le=50)
    force: bool = Field(default=False, description="Queue a new job even if one is active for the same request.")


class JobOut(FromDomain):
    id: int
    repository_id: int
    source: str
    ref: str | None
    options: dict[str, Any]
    status: str
    attempts: int
    max_attempts: int
    worker_id: str | None
    cancel_requested: bool
    phase: str | None
    step: int | None
    total_steps: int | None
    message: str | None
    percent: float | None
    error_kind: str | None
    error_message: str | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    owner_id: int | None


class JobCreated(BaseModel):
    job: JobOut
    created: bool = Field(description="False when an active job already stood for the same request.")


class EventOut(FromDomain):
    id: int
    job_id: int
    created_at: datetime
    kind: str
    from_status: str | None
    to_status: str | None
    actor: str
    reason: str | None
    attempt: int
    data: dict[str, Any]


class RepositoryOut(FromDomain):
    id: int
    source: str
    kind: str
    name: str
    web_url: str | None
    latest_job_id: int | None
    latest_status: str | None
    latest_percent: float | None
    courses: int
    latest_course_id: int | None


class GitHubRepositoryOut(BaseModel):
    full_name: str
    private: bool
    html_url: str
    default_branch: str | None
    description: str | None


class CourseOut(FromDomain):
    id: int
    job_id: int
    repository_id: int
    repository: str
    source: str
    web_url: str | None
    commit_sha: str | None
    language: str
    title: str
    provider: str
    options: dict[str, Any]
    quality: dict[str, Any]
    created_at: datetime
    documents: int


class DocumentSummary(BaseModel):
    path: str
    kind: str
    title: str


class DocumentOut(DocumentSummary):
    content: str = Field(description="The page's markdown, as generated (render it sanitised).")


class WorkerOut(BaseModel):
    id: str
    hostname: str
    pid: int
    version: str
    status: str
    state: Literal["up", "down"]
    concurrency: int
    active_jobs: int
    started_at: datetime
    last_seen_at: datetime

    @classmethod
    def of(cls, info: WorkerInfo, *, up: bool) -> WorkerOut:
        return cls(
            id=info.id,
            hostname=info.hostname,
            pid=info.pid,
            version=info.version,
            status=info.status,
            state="up" if up else "down",
            concurrency=info.concurrency,
            active_jobs=info.active_jobs,
            started_at=info.started_at,
            last_seen_at=info.last_seen_at,
        )


class FailureOut(BaseModel):
    kind: str
    count: int


class QueueOut(BaseModel):
    counts: dict[str, int]
    oldest_pending_seconds: float
    stuck: list[JobOut]
    failures_last_24h: list[FailureOut]


class RequeueRequest(BaseModel):
    model_config = ConfigDict(strict=True)  # as JobCreate: what the schema refuses is refused

    status: Literal["running", "failed", "dead"] = "running"
    force: bool = Field(default=False, description="Also take running jobs whose worker may still be alive.")


class MovedJobs(BaseModel):
    count: int
    jobs: list[JobOut]


class UserOut(FromDomain):
    id: int
    name: str
    is_admin: bool
    language: str | None
    has_password: bool
    github_login: str | None
    has_github_token: bool
    created_at: datetime


class HealthOut(BaseModel):
    status: Literal["ok", "unhealthy"]
    database: str
    version: str

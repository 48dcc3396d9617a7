"""The job, its states, error kinds and events: the vocabulary of the job protocol.

The state machine itself (which transition is allowed when) is enforced by the queue layer; this
module only names things, so that the worker, the web app and the CLI all speak the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """Where a job is in its life. `failed` means "this attempt failed, a retry is scheduled"."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        """True for states no worker will ever move the job out of (only a manual retry can)."""
        return self in TERMINAL_STATUSES

    @property
    def is_active(self) -> bool:
        """True while the job still holds its place in the queue (used for de-duplication)."""
        return self in ACTIVE_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.DEAD, JobStatus.CANCELED})
ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.RUNNING, JobStatus.FAILED})
#: States a worker may claim from once `run_at` has come.
READY_STATUSES = (JobStatus.PENDING, JobStatus.FAILED)


class ErrorKind(StrEnum):
    """Why an attempt ended badly; decides between a retry and `dead`."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"
    AUTH = "auth"
    RESOURCE = "resource"
    BUDGET = "budget"
    CANCELED = "canceled"
    LEASE_EXPIRED = "lease_expired"
    DEADLINE = "deadline"

    @property
    def is_retryable(self) -> bool:
        """Transient trouble is retried with backoff; a permanent cause goes straight to `dead`."""
        return self in RETRYABLE_ERROR_KINDS


RETRYABLE_ERROR_KINDS = frozenset(
    {ErrorKind.TRANSIENT, ErrorKind.RESOURCE, ErrorKind.LEASE_EXPIRED, ErrorKind.DEADLINE}
)


class EventKind(StrEnum):
    """What a job_event row records. Every status change writes exactly one of these."""

    ENQUEUED = "enqueued"
    CLAIMED = "claimed"
    PROGRESS = "progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    CANCEL_REQUESTED = "cancel_requested"
    CANCELED = "canceled"
    RELEASED = "released"
    RECLAIMED = "reclaimed"
    REQUEUED = "requeued"
    RETRIED = "retried"


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a running job is: the phase name, the step k of n, a message and a percentage."""

    phase: str
    step: int | None = None
    total_steps: int | None = None
    message: str | None = None
    percent: float | None = None
    #: Figures a live view shows beside the position (chapter i of n, tokens, cost), kept in the event.
    details: dict[str, int | float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if any(not isinstance(value, int | float) or isinstance(value, bool) for value in self.details.values()):
            raise ValueError("progress details must be numbers")
        if not self.phase:
            raise ValueError("progress needs a phase")
        if self.percent is not None and not 0.0 <= self.percent <= 100.0:
            raise ValueError(f"percent must be within 0..100, got {self.percent}")
        if self.step is not None and self.step < 0:
            raise ValueError(f"step must not be negative, got {self.step}")
        if self.total_steps is not None and self.total_steps < 0:
            raise ValueError(f"total_steps must not be negative, got {self.total_steps}")


@dataclass(frozen=True, slots=True)
class Job:
    """One row of the jobs table, as every layer above the store sees it."""

    id: int
    repository_id: int
    source: str
    ref: str | None
    options: dict[str, Any]
    status: JobStatus
    priority: int
    run_at: datetime
    attempts: int
    max_attempts: int
    lease_token: int
    lease_expires_at: datetime | None
    worker_id: str | None
    cancel_requested: bool
    phase: str | None
    step: int | None
    total_steps: int | None
    message: str | None
    percent: float | None
    error_kind: ErrorKind | None
    error_message: str | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: The user who asked for it (None: an operator, from the command line).
    owner_id: int | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """A claimed job and the fencing token every later write must present."""

    job: Job

    @property
    def job_id(self) -> int:
        return self.job.id

    @property
    def token(self) -> int:
        return self.job.lease_token


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One append-only entry of a job's history: a transition or a progress message."""

    id: int
    job_id: int
    created_at: datetime
    kind: EventKind
    from_status: JobStatus | None
    to_status: JobStatus | None
    actor: str
    reason: str | None
    attempt: int
    lease_token: int
    data: dict[str, Any] = field(default_factory=dict)

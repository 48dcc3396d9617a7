"""What an operator asks of the queue as a whole: stuck jobs, failures by kind, depth by status.

Read-only, judged by the database's clock like the protocol itself. The admin page, the JSON API and
(later) the monitor read the same figures from here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import literal_column, select, text

from fondation.domain.jobs import ErrorKind, EventKind, Job
from fondation.queue.jobs import job_from_row
from fondation.queue.sql import JOB_SELECT
from fondation.store.database import Database
from fondation.store.schema import job_events, jobs

#: The event kinds that end an attempt badly, and the error kind each implies when its reason names none.
_FAILURE_EVENTS = {EventKind.FAILED.value: None, EventKind.DEAD.value: None, EventKind.RECLAIMED.value: "lease_expired"}


@dataclass(frozen=True, slots=True)
class FailureCount:
    kind: str
    count: int


class QueueStats:
    """Figures over every job (the callers decide who may see them)."""

    def __init__(self, database: Database) -> None:
        self.db = database
        self._now = literal_column(database.dialect.now)

    def stuck(self, limit: int = 100) -> list[Job]:
        """Running jobs whose lease has expired: their worker is gone, `reclaim-expired` takes them back."""
        query = (
            JOB_SELECT.where(jobs.c.status == "running", jobs.c.lease_expires_at < self._now)
            .order_by(jobs.c.lease_expires_at)
            .limit(limit)
        )
        return self.db.read(lambda conn: [job_from_row(row) for row in conn.execute(query).mappings()])

    def failures_by_kind(self, window_seconds: float) -> list[FailureCount]:
        """Attempts that ended badly within the window, by error kind, most frequent first."""
        recent = text(f"job_events.created_at > {self.db.dialect.now_plus('neg_window')}").bindparams(
            neg_window=-window_seconds
        )
        query = select(job_events.c.kind, job_events.c.reason).where(
            job_events.c.kind.in_(list(_FAILURE_EVENTS)), recent
        )
        rows = self.db.read(lambda conn: conn.execute(query).all())
        counts: Counter[str] = Counter()
        for event_kind, reason in rows:
            counts[_FAILURE_EVENTS[event_kind] or _kind_of(reason)] += 1
        return [FailureCount(kind, count) for kind, count in counts.most_common()]


def _kind_of(reason: str | None) -> str:
    """The error kind a failure event's reason starts with (`transient: clone timed out`).

    A holder's own failure always names its kind; a reason that names none was written for a holder
    that is gone (the reaper or a requeue ending a job whose attempts are spent), whose kind is
    lease_expired.
    """
    head = (reason or "").split(":", 1)[0].strip()
    return head if head in ErrorKind.__members__.values() else ErrorKind.LEASE_EXPIRED.value

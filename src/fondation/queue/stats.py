"""What an operator asks of the queue as a whole: stuck jobs, failures by kind, error rate, slow jobs.

Read-only, judged by the database's clock like the protocol itself. The admin page, the JSON API and
the monitor read the same figures from here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import TextClause, func, literal_column, select, text, type_coerce

from fondation.domain.jobs import ErrorKind, EventKind, Job, JobStatus
from fondation.queue.jobs import job_from_row
from fondation.queue.sql import JOB_SELECT
from fondation.store.database import Database
from fondation.store.schema import job_events, jobs
from fondation.store.types import Timestamp

#: The event kinds that end an attempt badly, and the error kind each implies when its reason names none.
_FAILURE_EVENTS = {EventKind.FAILED.value: None, EventKind.DEAD.value: None, EventKind.RECLAIMED.value: "lease_expired"}


#: The event kinds that end a running attempt, and whether each means it went badly. A release (graceful
#: shutdown) hands the attempt back uncounted, and a cancel is what someone asked for: neither is an error.
_ATTEMPT_ENDINGS = {
    EventKind.SUCCEEDED.value: False,
    EventKind.CANCELED.value: False,
    EventKind.FAILED.value: True,
    EventKind.DEAD.value: True,
    EventKind.RECLAIMED.value: True,
}


@dataclass(frozen=True, slots=True)
class FailureCount:
    kind: str
    count: int


@dataclass(frozen=True, slots=True)
class AttemptOutcomes:
    """How the attempts that ended within a window ended: `rate` is failed ÷ ended, None when none ended."""

    window_seconds: float
    ended: int
    failed: int
    rate: float | None


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

    def running_longer_than(self, seconds: float, limit: int = 100) -> list[Job]:
        """Running jobs whose current attempt started more than `seconds` ago, longest-running first."""
        query = (
            JOB_SELECT.where(jobs.c.status == "running", self._before("jobs.started_at", seconds))
            .order_by(jobs.c.started_at)
            .limit(limit)
        )
        return self.db.read(lambda conn: [job_from_row(row) for row in conn.execute(query).mappings()])

    def attempt_outcomes(self, window_seconds: float) -> AttemptOutcomes:
        """The attempts that ended within the window, and how many of them ended badly (failed, dead, reclaimed)."""
        query = (
            select(job_events.c.kind, func.count())
            .where(
                job_events.c.kind.in_(list(_ATTEMPT_ENDINGS)),
                job_events.c.from_status == JobStatus.RUNNING.value,
                self._within("job_events.created_at", window_seconds),
            )
            .group_by(job_events.c.kind)
        )
        rows = self.db.read(lambda conn: conn.execute(query).all())
        ended = sum(count for _, count in rows)
        failed = sum(count for kind, count in rows if _ATTEMPT_ENDINGS[kind])
        return AttemptOutcomes(window_seconds, ended, failed, failed / ended if ended else None)

    def database_now(self) -> datetime:
        """The database's clock, which judges leases and `last seen`: compare registry times with this."""
        now = self.db.read(lambda conn: conn.execute(select(type_coerce(self._now, Timestamp()))).scalar_one())
        assert now is not None
        return now

    def _within(self, column: str, seconds: float) -> TextClause:
        """`column` is less than `seconds` old by the database's clock."""
        return text(f"{column} > {self.db.dialect.now_plus('neg_window')}").bindparams(neg_window=-seconds)

    def _before(self, column: str, seconds: float) -> TextClause:
        """`column` is more than `seconds` old by the database's clock."""
        return text(f"{column} < {self.db.dialect.now_plus('neg_window')}").bindparams(neg_window=-seconds)

    def failures_by_kind(self, window_seconds: float) -> list[FailureCount]:
        """Attempts that ended badly within the window, by error kind, most frequent first."""
        query = select(job_events.c.kind, job_events.c.reason).where(
            job_events.c.kind.in_(list(_FAILURE_EVENTS)), self._within("job_events.created_at", window_seconds)
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

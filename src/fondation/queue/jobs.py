"""The job queue: enqueue, claim, heartbeat, progress, complete, fail, release, cancel, reclaim, requeue.

Every status change happens here, in one transaction with the job_event that records it. Writes by a
worker are *fenced*: they match `id + lease_token + status = 'running'`, and a write that matches no
row raises `LeaseLostError` and changes nothing. Lease expiry is judged by the database's clock.
See docs/ARCHITECTURE.md for the state machine and the guarantees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fondation.domain.courses import NewCourse
from fondation.domain.errors import JobNotFoundError, JobStateError, LeaseLostError
from fondation.domain.jobs import (
    ErrorKind,
    EventKind,
    Job,
    JobEvent,
    JobStatus,
    Lease,
    Progress,
)
from fondation.domain.sources import SourceSpec
from fondation.queue.retry import RetryPolicy
from fondation.queue.sql import JOB_SELECT, HolderWrite, QueueStatements
from fondation.store.courses import insert_course
from fondation.store.database import Database
from fondation.store.schema import checkpoints, job_events, jobs
from fondation.store.system_state import CLAIMS_PAUSED, StateEntry, SystemState
from fondation.store.types import canonical_json

_MAX_MESSAGE = 2000


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    """The job that now stands for the request, and whether this call created it."""

    job: Job
    created: bool


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    """The extended lease, and whether someone asked for the job to stop."""

    lease_expires_at: datetime
    cancel_requested: bool


def dedupe_key(repository_id: int, ref: str | None, options: dict[str, Any], owner_id: int | None = None) -> str:
    """Jobs with equal keys would produce the same course for the same owner: only one may be active
    unless forced. Two users asking for the same course each get their own job (each owns its course)."""
    identity: list[Any] = [repository_id, ref, options] if owner_id is None else [repository_id, ref, options, owner_id]
    return hashlib.sha256(canonical_json(identity).encode()).hexdigest()


def _clip(message: str | None) -> str | None:
    return None if message is None else message[:_MAX_MESSAGE]


def job_from_row(row: RowMapping | Mapping[str, Any]) -> Job:
    """Build the domain Job from a row of `JOB_SELECT` (or any statement with the same columns)."""
    return Job(
        id=row["id"],
        repository_id=row["repository_id"],
        source=row["source"],
        ref=row["ref"],
        options=row["options"],
        status=JobStatus(row["status"]),
        priority=row["priority"],
        run_at=row["run_at"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_token=row["lease_token"],
        lease_expires_at=row["lease_expires_at"],
        worker_id=row["worker_id"],
        cancel_requested=bool(row["cancel_requested"]),
        phase=row["phase"],
        step=row["step"],
        total_steps=row["total_steps"],
        message=row["message"],
        percent=row["percent"],
        error_kind=ErrorKind(row["error_kind"]) if row["error_kind"] else None,
        error_message=row["error_message"],
        result=row["result"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        owner_id=row["owner_id"],
    )


def _event_from_row(row: RowMapping) -> JobEvent:
    return JobEvent(
        id=row["id"],
        job_id=row["job_id"],
        created_at=row["created_at"],
        kind=EventKind(row["kind"]),
        from_status=JobStatus(row["from_status"]) if row["from_status"] else None,
        to_status=JobStatus(row["to_status"]) if row["to_status"] else None,
        actor=row["actor"],
        reason=row["reason"],
        attempt=row["attempt"],
        lease_token=row["lease_token"],
        data=row["data"] or {},
    )


class JobQueue:
    """The job protocol over one database. Thread-safe; one instance per process is enough."""

    def __init__(self, database: Database, policy: RetryPolicy | None = None) -> None:
        self.db = database
        self.policy = policy or RetryPolicy()
        self.sql = QueueStatements.for_database(database)
        self._now = literal_column(database.dialect.now)
        self._enqueue_listeners: list[Callable[[], None]] = []
        # Built once: a statement rebuilt per call costs SQLAlchemy a cache-key walk every time.
        self._insert_event = insert(job_events).values(created_at=self._now)
        self._select_job = JOB_SELECT.where(jobs.c.id == bindparam("job_id"))
        self._select_job_locked = self._select_job if database.is_sqlite else self._select_job.with_for_update(of=jobs)

    # ------------------------------------------------------------------ producers

    def enqueue(
        self,
        source: SourceSpec,
        *,
        ref: str | None = None,
        options: dict[str, Any] | None = None,
        priority: int = 0,
        max_attempts: int | None = None,
        force: bool = False,
        actor: str = "cli",
        claim_as: str | None = None,
        lease_seconds: float = 300.0,
        owner_id: int | None = None,
    ) -> EnqueueResult:
        """Add a job for `source`, or return the active job that already stands for the same request.

        `claim_as` names a worker that takes the new job in the same transaction (`fondation generate`
        runs its job in the foreground, and no other worker may grab it first); it implies `force`.
        `owner_id` is the user the job and its course belong to (None: an operator's job).
        """
        force = force or claim_as is not None
        options = dict(options or {})
        attempts_allowed = max_attempts or self.policy.max_attempts
        if attempts_allowed < 1:
            raise ValueError("max_attempts must be at least 1")

        def work(conn: Connection) -> EnqueueResult:
            repository_id = conn.execute(
                self.sql.upsert_repository,
                {
                    "source": source.canonical,
                    "kind": source.kind.value,
                    "name": source.name,
                    "web_url": source.web_url,
                },
            ).scalar_one()
            key = dedupe_key(repository_id, ref, options, owner_id)
            if self.sql.dedupe_lock is not None:
                conn.execute(self.sql.dedupe_lock, {"key": int(key[:15], 16)})
            existing = conn.execute(self.sql.active_by_dedupe, {"key": key}).scalar()
            if existing is not None and not force:
                return EnqueueResult(self._get(conn, existing), created=False)
            job_id = conn.execute(
                self.sql.insert_job,
                {
                    "repository_id": repository_id,
                    "ref": ref,
                    "options": canonical_json(options),
                    "key": key,
                    "priority": priority,
                    "max_attempts": attempts_allowed,
                    "owner_id": owner_id,
                },
            ).scalar_one()
            reason = f"forced while job {existing} is active" if existing is not None else None
            self._record(
                conn,
                job_id,
                EventKind.ENQUEUED,
                None,
                JobStatus.PENDING,
                actor,
                reason,
                0,
                0,
                {"priority": priority, "ref": ref},
            )
            if claim_as is not None:
                conn.execute(self.sql.claim_one, {"id": job_id, "worker": claim_as, "lease": lease_seconds})
                self._record(
                    conn, job_id, EventKind.CLAIMED, JobStatus.PENDING, JobStatus.RUNNING, claim_as, None, 1, 1
                )
            elif self.sql.notify is not None:  # delivered at commit, so a listener never sees an uncommitted job
                conn.execute(self.sql.notify)
            return EnqueueResult(self._get(conn, job_id), created=True)

        result = self.db.write(work)
        if result.created:
            for listener in self._enqueue_listeners:
                listener()
        return result

    # ------------------------------------------------------------------ the pause switch

    def pause(self, *, actor: str, reason: str) -> None:
        """Stop every worker from claiming (running jobs go on); `resume` lifts it. Idempotent."""
        SystemState(self.db).set(CLAIMS_PAUSED, {"reason": reason}, by=actor)

    def resume(self) -> bool:
        """Let workers claim again; False when the queue was not paused."""
        return SystemState(self.db).delete(CLAIMS_PAUSED)

    def pause_state(self) -> StateEntry | None:
        """Who paused the queue, when and why; None while workers may claim."""
        return SystemState(self.db).get(CLAIMS_PAUSED)

    def add_enqueue_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each enqueue through this instance (wakes a worker in the same process)."""
        self._enqueue_listeners.append(listener)

    # ------------------------------------------------------------------ worker side (fenced)

    def claim(self, worker_id: str, *, lease_seconds: float, limit: int = 1) -> list[Lease]:
        """Take up to `limit` ready jobs, highest priority first, each with a fresh fencing token."""
        if limit < 1:
            return []
        params = {"worker": worker_id, "lease": lease_seconds, "limit": limit}
        rows = self.db.write_driver(lambda cursor: self.sql.claim.run(cursor, params))
        return [Lease(job_from_row(row)) for row in rows]

    def heartbeat(self, lease: Lease, *, lease_seconds: float) -> HeartbeatReply:
        """Extend the lease; the reply says whether a cancel was requested."""
        row = self._holder_write(self.sql.heartbeat, lease, {"lease": lease_seconds})
        return HeartbeatReply(lease_expires_at=row["lease_expires_at"], cancel_requested=bool(row["cancel_requested"]))

    def progress(self, lease: Lease, progress: Progress, *, actor: str | None = None) -> None:
        """Record where the job is (phase, step k/n, message, percent) and log it as an event."""
        position = {
            "phase": progress.phase,
            "step": progress.step,
            "total_steps": progress.total_steps,
            "percent": progress.percent,
        }
        params = {**position, "message": _clip(progress.message), "actor": actor or None}
        data = {**progress.details, **position}
        self._holder_write(self.sql.progress, lease, {**params, "data": canonical_json(data)})

    def complete(self, lease: Lease, result: dict[str, Any] | None = None, *, course: NewCourse | None = None) -> Job:
        """Finish the job successfully. Exactly one holder can do this, once.

        With a `course`, the course and its documents are stored in the same transaction as the
        fenced completion: a stale holder stores nothing, and a job never succeeds without them.
        """
        params = {"result": None if result is None else canonical_json(result)}
        if course is None:
            return job_from_row(self._holder_write(self.sql.complete, lease, params))

        def work(conn: Connection) -> Job:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            row = self.sql.complete.run(cursor, {**params, "id": lease.job_id, "token": lease.token})
            if row is None:
                raise LeaseLostError(lease.job_id, lease.token)
            job = job_from_row(row)
            insert_course(conn, self.db, job.id, job.repository_id, course)
            return job

        return self.db.write(work)

    def checkpoint(self, lease: Lease, step: str, key: str, data: Any) -> bool:
        """Store a step's validated output under its content key, if the lease is still held.

        Returns False when a checkpoint with that key exists already (an earlier attempt, or another
        job with the same inputs, stored the same output): checkpoints are immutable once written.
        """

        def work(conn: Connection) -> bool:
            fence = (
                update(jobs)
                .where(jobs.c.id == lease.job_id, jobs.c.lease_token == lease.token, jobs.c.status == "running")
                .values(updated_at=self._now)
            )
            if conn.execute(fence).rowcount != 1:
                raise LeaseLostError(lease.job_id, lease.token)
            insert_checkpoint = sqlite_insert if self.db.is_sqlite else postgresql_insert
            statement = (
                insert_checkpoint(checkpoints)
                .values(key=key, job_id=lease.job_id, step=step, data=data, created_at=self._now)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(checkpoints.c.id)
            )
            return conn.execute(statement).scalar() is not None

        return self.db.write(work)

    def reusable_checkpoints(self, job_id: int) -> dict[str, Any]:
        """Step outputs a job may reuse, by key: its own earlier attempts', and those of the last job of
        the same repository that succeeded (an incremental regeneration reuses what did not change)."""
        job = jobs.alias("job")
        repository_id = select(job.c.repository_id).where(job.c.id == job_id).scalar_subquery()
        previous = (
            select(func.max(jobs.c.id))
            .where(jobs.c.repository_id == repository_id, jobs.c.status == "succeeded", jobs.c.id != job_id)
            .scalar_subquery()
        )
        query = (
            select(checkpoints.c.key, checkpoints.c.data)
            .where((checkpoints.c.job_id == job_id) | (checkpoints.c.job_id == previous))
            .order_by(checkpoints.c.id)
        )
        return self.db.read(lambda conn: {row.key: row.data for row in conn.execute(query)})

    def checkpoints(self, job_id: int) -> list[tuple[str, str, Any]]:
        """The job's stored checkpoints as (step, key, data), in the order they were written."""
        query = (
            select(checkpoints.c.step, checkpoints.c.key, checkpoints.c.data)
            .where(checkpoints.c.job_id == job_id)
            .order_by(checkpoints.c.id)
        )
        return self.db.read(lambda conn: [tuple(row) for row in conn.execute(query)])

    def fail(self, lease: Lease, kind: ErrorKind, message: str) -> Job:
        """End this attempt with an error: retry later (`failed`), give up (`dead`), or `canceled`.

        A job whose cancel was requested is canceled whatever the error; a retryable error with
        attempts left schedules a retry after a jittered backoff; anything else is dead.
        """

        def work(conn: Connection) -> Job:
            row = conn.execute(self.sql.lock_held, {"id": lease.job_id, "token": lease.token}).first()
            if row is None:
                raise LeaseLostError(lease.job_id, lease.token)
            if row.cancel_requested or kind is ErrorKind.CANCELED:
                status, event, delay = JobStatus.CANCELED, EventKind.CANCELED, 0.0
            elif kind.is_retryable and row.attempts < row.max_attempts:
                status, event, delay = JobStatus.FAILED, EventKind.FAILED, self.policy.delay(row.attempts)
            else:
                status, event, delay = JobStatus.DEAD, EventKind.DEAD, 0.0
            conn.execute(
                self.sql.finish_attempt,
                {
                    "id": lease.job_id,
                    "status": status.value,
                    "kind": kind.value,
                    "message": _clip(message),
                    "delay": delay,
                    "finished": status is not JobStatus.FAILED,
                },
            )
            reason = f"{kind.value}: {message}"
            data = {"retry_in_seconds": round(delay, 3)} if status is JobStatus.FAILED else {}
            self._record(
                conn,
                lease.job_id,
                event,
                JobStatus.RUNNING,
                status,
                row.worker_id,
                _clip(reason),
                row.attempts,
                lease.token,
                data,
            )
            return self._get(conn, lease.job_id)

        return self.db.write(work)

    def release(self, lease: Lease, reason: str = "worker shutting down") -> Job:
        """Hand the job back untouched (graceful shutdown): pending now, the attempt not counted."""
        return job_from_row(self._holder_write(self.sql.release, lease, {"reason": reason}))

    # ------------------------------------------------------------------ operator side

    def cancel(self, job_id: int, *, actor: str = "cli", reason: str | None = None) -> Job:
        """Cancel a job: at once if it waits, at its next heartbeat if it runs. Idempotent."""

        def work(conn: Connection) -> Job:
            job = self._get(conn, job_id, lock=True)
            if job.status is JobStatus.CANCELED or (job.status is JobStatus.RUNNING and job.cancel_requested):
                return job
            if job.status in (JobStatus.SUCCEEDED, JobStatus.DEAD):
                raise JobStateError(f"job {job_id} is already {job.status.value}: there is nothing to cancel")
            if job.status is JobStatus.RUNNING:
                conn.execute(self.sql.request_cancel, {"id": job_id})
                if self.sql.notify_cancel is not None:  # the holder stops it now, not at its next heartbeat
                    conn.execute(self.sql.notify_cancel, {"id": job_id})
                self._record(
                    conn,
                    job_id,
                    EventKind.CANCEL_REQUESTED,
                    None,
                    None,
                    actor,
                    reason,
                    job.attempts,
                    job.lease_token,
                )
            else:
                conn.execute(self.sql.cancel_waiting, {"id": job_id})
                self._record(
                    conn,
                    job_id,
                    EventKind.CANCELED,
                    job.status,
                    JobStatus.CANCELED,
                    actor,
                    reason,
                    job.attempts,
                    job.lease_token,
                )
            return self._get(conn, job_id)

        return self.db.write(work)

    def retry(self, job_id: int, *, actor: str = "cli") -> Job:
        """Run a failed, dead or canceled job again now, with a fresh allowance of attempts."""

        def work(conn: Connection) -> Job:
            job = self._get(conn, job_id, lock=True)
            if job.status not in (JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELED):
                hint = (
                    " (submit it again with --force for a new generation)" if job.status is JobStatus.SUCCEEDED else ""
                )
                raise JobStateError(
                    f"job {job_id} is {job.status.value}: only failed, dead or canceled jobs can be retried{hint}"
                )
            self._back_to_pending(conn, job, EventKind.RETRIED, actor, "manual retry")
            return self._get(conn, job_id)

        return self.db.write(work)

    def reclaim_expired(self, *, actor: str = "reaper", batch: int = 500) -> list[Job]:
        """Take back every running job whose lease has expired by the database's clock.

        Each goes back to `pending` after a backoff, or to `dead` when its attempts are spent (the
        attempt was counted at claim), or to `canceled` when a cancel was waiting for it.
        """
        reclaimed: list[Job] = []
        while True:
            chunk = self.db.write(lambda conn: self._reclaim_chunk(conn, actor, batch))
            reclaimed.extend(chunk)
            if len(chunk) < batch:
                return reclaimed

    def _reclaim_chunk(self, conn: Connection, actor: str, batch: int) -> list[Job]:
        done = []
        for row in conn.execute(self.sql.expired_running, {"limit": batch}).mappings():
            job = job_from_row(row)
            reason = f"lease expired at {job.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC (worker {job.worker_id})"
            if job.cancel_requested:
                self._finish_taken(conn, job, JobStatus.CANCELED, EventKind.CANCELED, actor, reason)
            elif job.attempts >= job.max_attempts:
                self._finish_taken(
                    conn,
                    job,
                    JobStatus.DEAD,
                    EventKind.DEAD,
                    actor,
                    f"{reason}; attempts exhausted ({job.attempts}/{job.max_attempts})",
                )
            else:
                delay = self.policy.delay(job.attempts)
                conn.execute(
                    self.sql.to_pending,
                    {"id": job.id, "delay": delay, "kind": "lease_expired", "message": reason},
                )
                self._record(
                    conn,
                    job.id,
                    EventKind.RECLAIMED,
                    JobStatus.RUNNING,
                    JobStatus.PENDING,
                    actor,
                    reason,
                    job.attempts,
                    job.lease_token,
                    {"retry_in_seconds": round(delay, 3)},
                )
            done.append(self._get(conn, job.id))
        return done

    def requeue(
        self,
        *,
        status: JobStatus = JobStatus.RUNNING,
        force: bool = False,
        dead_after_seconds: float,
        actor: str = "cli",
    ) -> list[Job]:
        """Put jobs back to `pending` now: the runbook's "set running jobs back to pending".

        Running jobs are taken only when their lease expired or their worker is known dead (stopped,
        or not seen for `dead_after_seconds`), unless `force` — forcing can run a job twice, which
        at-least-once execution allows but costs work. Failed jobs run now instead of after their
        backoff; dead jobs get a fresh allowance of attempts.
        """
        if status not in (JobStatus.RUNNING, JobStatus.FAILED, JobStatus.DEAD):
            raise JobStateError(f"requeue applies to running, failed or dead jobs, not {status.value}")

        def work(conn: Connection) -> list[Job]:
            if status is JobStatus.RUNNING:
                rows = conn.execute(
                    self.sql.requeue_candidates_running,
                    {"force": force, "neg_dead_after": -dead_after_seconds},
                ).mappings()
            else:
                rows = conn.execute(self.sql.requeue_candidates, {"status": status.value}).mappings()
            done = []
            for row in list(rows):
                job = job_from_row(row)
                if job.status is JobStatus.RUNNING and job.attempts >= job.max_attempts:
                    self._finish_taken(
                        conn,
                        job,
                        JobStatus.DEAD,
                        EventKind.DEAD,
                        actor,
                        f"requeued with attempts exhausted ({job.attempts}/{job.max_attempts})",
                    )
                else:
                    self._back_to_pending(
                        conn,
                        job,
                        EventKind.REQUEUED,
                        actor,
                        "forced requeue" if force else f"requeue of {status.value} job",
                    )
                done.append(self._get(conn, job.id))
            return done

        return self.db.write(work)

    # ------------------------------------------------------------------ reads

    def get(self, job_id: int) -> Job:
        return self.db.read(lambda conn: self._get(conn, job_id))

    def list(
        self,
        *,
        status: JobStatus | None = None,
        limit: int = 50,
        owner_id: int | None = None,
        repository_id: int | None = None,
        before_id: int | None = None,
    ) -> list[Job]:
        """The most recent jobs first, optionally of one status, one owner, one repository; `before_id`
        pages backwards (the jobs older than that one)."""
        query = JOB_SELECT.order_by(jobs.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        if owner_id is not None:
            query = query.where(jobs.c.owner_id == owner_id)
        if repository_id is not None:
            query = query.where(jobs.c.repository_id == repository_id)
        if before_id is not None:
            query = query.where(jobs.c.id < before_id)
        return self.db.read(lambda conn: [job_from_row(r) for r in conn.execute(query).mappings()])

    def events(self, job_id: int) -> list[JobEvent]:
        """The job's whole history, oldest first."""

        def work(conn: Connection) -> list[JobEvent]:
            self._get(conn, job_id)
            query = select(job_events).where(job_events.c.job_id == job_id).order_by(job_events.c.id)
            return [_event_from_row(r) for r in conn.execute(query).mappings()]

        return self.db.read(work)

    def events_after(self, after_id: int, *, limit: int = 1000) -> list[JobEvent]:
        """Every job's events with an id above `after_id`, oldest first: what a live view has not seen yet."""
        query = select(job_events).where(job_events.c.id > after_id).order_by(job_events.c.id).limit(limit)
        return self.db.read(lambda conn: [_event_from_row(r) for r in conn.execute(query).mappings()])

    def last_event_id(self) -> int:
        return int(self.db.read(lambda conn: conn.execute(select(func.max(job_events.c.id))).scalar()) or 0)

    def get_many(self, job_ids: Collection[int]) -> list[Job]:
        if not job_ids:
            return []
        query = JOB_SELECT.where(jobs.c.id.in_(list(job_ids)))
        return self.db.read(lambda conn: [job_from_row(r) for r in conn.execute(query).mappings()])

    def cancel_requested_among(self, job_ids: Collection[int]) -> set[int]:
        """Which of these running jobs have a cancel waiting (the worker's short cancel poll)."""
        if not job_ids:
            return set()
        rows = self.db.read(lambda conn: conn.execute(self.sql.cancel_requested_among, {"ids": list(job_ids)}).all())
        return {job_id for (job_id,) in rows}

    def running_attempts(self) -> set[tuple[int, int]]:
        """(job id, attempt) of every job running anywhere: their temp dirs must be left alone."""
        rows = self.db.read(lambda conn: conn.execute(self.sql.running_attempts).all())
        return {(job_id, attempts) for job_id, attempts in rows}

    def oldest_ready_age(self) -> float:
        """Seconds the longest-waiting claimable job has waited (0 when none waits)."""
        age = self.db.read(lambda conn: conn.execute(self.sql.oldest_ready_age).scalar())
        return max(float(age or 0.0), 0.0)

    def counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each status (every status present, zero included)."""
        rows = self.db.read(lambda conn: conn.execute(self.sql.counts).all())
        counts = dict.fromkeys(JobStatus, 0)
        counts.update({JobStatus(status): n for status, n in rows})
        return counts

    # ------------------------------------------------------------------ helpers

    def _get(self, conn: Connection, job_id: int, *, lock: bool = False) -> Job:
        query = self._select_job_locked if lock else self._select_job
        row = conn.execute(query, {"job_id": job_id}).mappings().first()
        if row is None:
            raise JobNotFoundError(f"no job with id {job_id}")
        return job_from_row(row)

    def _holder_write(self, write: HolderWrite, lease: Lease, params: dict[str, Any]) -> dict[str, Any]:
        """Run a fenced write of the lease's holder; `LeaseLostError` (nothing changed) when it matched no row."""
        params = {**params, "id": lease.job_id, "token": lease.token}
        row = self.db.write_driver(lambda cursor: write.run(cursor, params))
        if row is None:
            raise LeaseLostError(lease.job_id, lease.token)
        return row

    def _back_to_pending(self, conn: Connection, job: Job, event: EventKind, actor: str, reason: str) -> None:
        """Make a job claimable now; a job out of attempts gets a fresh allowance of them."""
        max_attempts = (
            max(job.max_attempts, job.attempts + self.policy.max_attempts)
            if job.attempts >= job.max_attempts
            else job.max_attempts
        )
        conn.execute(self.sql.back_to_pending, {"id": job.id, "max_attempts": max_attempts})
        self._record(
            conn,
            job.id,
            event,
            job.status,
            JobStatus.PENDING,
            actor,
            reason,
            job.attempts,
            job.lease_token,
            {"max_attempts": max_attempts},
        )

    def _finish_taken(
        self, conn: Connection, job: Job, status: JobStatus, event: EventKind, actor: str, reason: str
    ) -> None:
        """End a running job on behalf of a holder that is gone (reaper, requeue)."""
        kind = ErrorKind.CANCELED if status is JobStatus.CANCELED else ErrorKind.LEASE_EXPIRED
        conn.execute(
            self.sql.finish_attempt,
            {
                "id": job.id,
                "status": status.value,
                "kind": kind.value,
                "message": reason,
                "delay": 0.0,
                "finished": True,
            },
        )
        self._record(conn, job.id, event, job.status, status, actor, reason, job.attempts, job.lease_token)

    def _record(
        self,
        conn: Connection,
        job_id: int,
        kind: EventKind,
        from_status: JobStatus | None,
        to_status: JobStatus | None,
        actor: str,
        reason: str | None,
        attempt: int,
        lease_token: int,
        data: dict[str, Any] | None = None,
    ) -> None:
        conn.execute(
            self._insert_event,
            {
                "job_id": job_id,
                "kind": kind.value,
                "from_status": from_status.value if from_status else None,
                "to_status": to_status.value if to_status else None,
                "actor": actor or "unknown",
                "reason": reason,
                "attempt": attempt,
                "lease_token": lease_token,
                "data": data or None,
            },
        )

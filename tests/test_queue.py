"""The job protocol, one suite run against every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import text

from fondation.domain.errors import DatabaseError, JobNotFoundError, JobStateError, LeaseLostError
from fondation.domain.jobs import ErrorKind, EventKind, JobStatus, Lease, Progress
from fondation.queue import JobQueue, RetryPolicy, WorkerRegistry
from fondation.store import Database
from helpers import advance_clock, source

LEASE = 30.0


def claim_one(queue: JobQueue, worker: str = "w1") -> Lease:
    leases = queue.claim(worker, lease_seconds=LEASE)
    assert len(leases) == 1, leases
    return leases[0]


def kinds(queue: JobQueue, job_id: int) -> list[EventKind]:
    return [event.kind for event in queue.events(job_id)]


# ---------------------------------------------------------------- enqueue and dedupe


def test_enqueue_creates_pending_job_and_event(queue: JobQueue) -> None:
    result = queue.enqueue(source(), ref="main", options={"language": "fr"}, priority=3, actor="cli:alice")
    job = result.job
    assert result.created
    assert (job.status, job.ref, job.options, job.priority, job.attempts) == (
        JobStatus.PENDING,
        "main",
        {"language": "fr"},
        3,
        0,
    )
    assert job.source == source().canonical
    assert job.max_attempts == queue.policy.max_attempts
    [event] = queue.events(job.id)
    assert (event.kind, event.from_status, event.to_status, event.actor) == (
        EventKind.ENQUEUED,
        None,
        JobStatus.PENDING,
        "cli:alice",
    )


def test_enqueue_dedupes_active_job_unless_forced(queue: JobQueue) -> None:
    first = queue.enqueue(source(), ref="main", options={"a": 1, "b": 2})
    again = queue.enqueue(source(), ref="main", options={"b": 2, "a": 1})
    assert not again.created and again.job.id == first.job.id
    other_ref = queue.enqueue(source(), ref="dev", options={"a": 1, "b": 2})
    other_options = queue.enqueue(source(), ref="main", options={"a": 2, "b": 2})
    forced = queue.enqueue(source(), ref="main", options={"a": 1, "b": 2}, force=True)
    assert other_ref.created and other_options.created and forced.created
    assert len({first.job.id, other_ref.job.id, other_options.job.id, forced.job.id}) == 4
    assert "forced while job" in (queue.events(forced.job.id)[0].reason or "")


def test_dedupe_covers_running_jobs_but_not_finished_ones(queue: JobQueue) -> None:
    first = queue.enqueue(source()).job
    lease = claim_one(queue)
    assert queue.enqueue(source()).job.id == first.id
    queue.complete(lease)
    assert queue.enqueue(source()).created


def test_enqueue_reuses_repository_row(queue: JobQueue) -> None:
    a = queue.enqueue(source(1)).job
    b = queue.enqueue(source(1), ref="v1").job
    c = queue.enqueue(source(2)).job
    assert a.repository_id == b.repository_id != c.repository_id


# ---------------------------------------------------------------- claim


def test_claim_takes_priority_then_age_and_counts_attempts(queue: JobQueue) -> None:
    low = queue.enqueue(source(1), priority=0).job
    high = queue.enqueue(source(2), priority=10).job
    low2 = queue.enqueue(source(3), priority=0).job
    leases = queue.claim("w1", lease_seconds=LEASE, limit=5)
    assert [lease.job_id for lease in leases] == [high.id, low.id, low2.id]
    for lease in leases:
        assert lease.job.status is JobStatus.RUNNING
        assert (lease.job.attempts, lease.token, lease.job.worker_id) == (1, 1, "w1")
        assert lease.job.lease_expires_at is not None
        assert lease.job.lease_expires_at - lease.job.started_at == pytest.approx(
            timedelta(seconds=LEASE), abs=timedelta(seconds=2)
        )
    assert queue.claim("w2", lease_seconds=LEASE) == []
    event = queue.events(high.id)[-1]
    assert (
        event.kind,
        event.from_status,
        event.to_status,
        event.actor,
        event.attempt,
        event.lease_token,
    ) == (EventKind.CLAIMED, JobStatus.PENDING, JobStatus.RUNNING, "w1", 1, 1)


def test_claim_limit_and_empty_queue(queue: JobQueue) -> None:
    assert queue.claim("w1", lease_seconds=LEASE) == []
    for n in range(5):
        queue.enqueue(source(n))
    assert len(queue.claim("w1", lease_seconds=LEASE, limit=2)) == 2
    assert len(queue.claim("w1", lease_seconds=LEASE, limit=0)) == 0
    assert len(queue.claim("w2", lease_seconds=LEASE, limit=10)) == 3


def test_retry_waits_for_its_backoff(queue: JobQueue, database: Database) -> None:
    job = queue.enqueue(source()).job
    failed = queue.fail(claim_one(queue), ErrorKind.TRANSIENT, "network down")
    assert failed.status is JobStatus.FAILED
    delay = (failed.run_at - failed.updated_at).total_seconds()
    assert 0 <= delay <= queue.policy.ceiling(1) + 0.01
    if delay > 0.05:
        assert queue.claim("w1", lease_seconds=LEASE) == []
    advance_clock(database, queue.policy.cap_seconds + 1)
    lease = claim_one(queue)
    assert (lease.job_id, lease.job.attempts, lease.token) == (job.id, 2, 2)
    assert queue.events(job.id)[-1].from_status is JobStatus.FAILED


# ---------------------------------------------------------------- fenced writes


def test_heartbeat_extends_lease_and_reports_cancel(queue: JobQueue, database: Database) -> None:
    queue.enqueue(source())
    lease = claim_one(queue)
    advance_clock(database, 10)
    reply = queue.heartbeat(lease, lease_seconds=LEASE)
    assert reply.lease_expires_at > lease.job.lease_expires_at
    assert not reply.cancel_requested
    queue.cancel(lease.job_id, actor="cli:bob")
    assert queue.heartbeat(lease, lease_seconds=LEASE).cancel_requested


def test_progress_is_stored_and_logged(queue: JobQueue) -> None:
    queue.enqueue(source())
    lease = claim_one(queue)
    queue.progress(lease, Progress("chapters", step=4, total_steps=6, message="chapter 2/7", percent=55.5))
    job = queue.get(lease.job_id)
    assert (job.phase, job.step, job.total_steps, job.message, job.percent) == (
        "chapters",
        4,
        6,
        "chapter 2/7",
        55.5,
    )
    event = queue.events(job.id)[-1]
    assert event.kind is EventKind.PROGRESS and event.reason == "chapter 2/7"
    assert event.data == {"phase": "chapters", "step": 4, "total_steps": 6, "percent": 55.5}


@pytest.mark.parametrize("bad", [{"percent": 101.0}, {"percent": -1.0}, {"step": -1}, {"phase": ""}])
def test_progress_rejects_nonsense(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {"phase": "mapping", **bad}
    with pytest.raises(ValueError):
        Progress(**fields)  # type: ignore[arg-type]


def test_complete_is_exactly_once(queue: JobQueue) -> None:
    queue.enqueue(source())
    lease = claim_one(queue)
    job = queue.complete(lease, {"course_id": 7})
    assert (job.status, job.result, job.percent) == (JobStatus.SUCCEEDED, {"course_id": 7}, 100)
    assert job.finished_at is not None and job.lease_expires_at is None
    with pytest.raises(LeaseLostError):
        queue.complete(lease, {"course_id": 8})
    assert queue.get(job.id).result == {"course_id": 7}
    assert kinds(queue, job.id).count(EventKind.SUCCEEDED) == 1


def test_fenced_writes_return_what_a_read_returns(queue: JobQueue) -> None:
    """The hot path reads its rows on the driver's cursor: they must match the rows read through Core."""
    queue.enqueue(source(), ref="main", options={"language": "fr", "depth": 2}, priority=2)
    lease = claim_one(queue)
    assert lease.job == queue.get(lease.job_id)
    reply = queue.heartbeat(lease, lease_seconds=LEASE)
    assert reply.lease_expires_at == queue.get(lease.job_id).lease_expires_at
    assert reply.lease_expires_at.tzinfo is not None
    queue.progress(lease, Progress("chapters", step=1, total_steps=3, message=None, percent=None), actor="")
    assert queue.events(lease.job_id)[-1].actor == "w1"
    job = queue.complete(lease, {"course_id": 7, "files": ["a", "b"]})
    assert job == queue.get(lease.job_id)
    assert [(e.kind, e.attempt, e.lease_token) for e in queue.events(job.id)[1:]] == [
        (EventKind.CLAIMED, 1, lease.token),
        (EventKind.PROGRESS, 1, lease.token),
        (EventKind.SUCCEEDED, 1, lease.token),
    ]


def test_stale_holder_changes_nothing(queue: JobQueue, database: Database) -> None:
    """After a lease expires and another worker claims the job, every write of the old holder fails."""
    queue.enqueue(source())
    stale = claim_one(queue, "w1")
    advance_clock(database, LEASE + 1)
    assert [j.id for j in queue.reclaim_expired()] == [stale.job_id]
    advance_clock(database, queue.policy.cap_seconds + 1)
    current = claim_one(queue, "w2")
    assert current.token == stale.token + 1
    before = queue.get(stale.job_id)
    events_before = queue.events(stale.job_id)
    writes = [
        lambda: queue.heartbeat(stale, lease_seconds=LEASE),
        lambda: queue.progress(stale, Progress("late")),
        lambda: queue.complete(stale, {"from": "stale"}),
        lambda: queue.fail(stale, ErrorKind.TRANSIENT, "late"),
        lambda: queue.release(stale),
    ]
    for write in writes:
        with pytest.raises(LeaseLostError) as caught:
            write()
        assert caught.value.job_id == stale.job_id and caught.value.lease_token == stale.token
    assert queue.get(stale.job_id) == before
    assert queue.events(stale.job_id) == events_before
    assert queue.complete(current).status is JobStatus.SUCCEEDED


# ---------------------------------------------------------------- fail, release


def test_fail_retries_until_attempts_run_out(queue: JobQueue, database: Database) -> None:
    job = queue.enqueue(source(), max_attempts=2).job
    assert queue.fail(claim_one(queue), ErrorKind.TRANSIENT, "blip").status is JobStatus.FAILED
    advance_clock(database, 1000)
    dead = queue.fail(claim_one(queue), ErrorKind.DEADLINE, "hung")
    assert (dead.status, dead.attempts, dead.error_kind, dead.error_message) == (
        JobStatus.DEAD,
        2,
        ErrorKind.DEADLINE,
        "hung",
    )
    assert dead.finished_at is not None
    assert kinds(queue, job.id)[-1] is EventKind.DEAD
    assert queue.claim("w1", lease_seconds=LEASE) == []


@pytest.mark.parametrize("kind", [ErrorKind.PERMANENT, ErrorKind.AUTH, ErrorKind.BUDGET])
def test_permanent_errors_go_dead_at_once(queue: JobQueue, kind: ErrorKind) -> None:
    queue.enqueue(source())
    job = queue.fail(claim_one(queue), kind, "repository not found")
    assert (job.status, job.attempts, job.error_kind) == (JobStatus.DEAD, 1, kind)
    assert queue.events(job.id)[-1].reason == f"{kind.value}: repository not found"


def test_fail_message_is_clipped(queue: JobQueue) -> None:
    queue.enqueue(source())
    job = queue.fail(claim_one(queue), ErrorKind.PERMANENT, "x" * 10_000)
    assert job.error_message is not None and len(job.error_message) == 2000


def test_release_gives_the_attempt_back(queue: JobQueue) -> None:
    queue.enqueue(source())
    lease = claim_one(queue, "w1")
    queue.progress(lease, Progress("cloning"))
    released = queue.release(lease, "SIGTERM")
    assert (released.status, released.attempts, released.phase) == (JobStatus.PENDING, 0, None)
    again = claim_one(queue, "w2")
    assert (again.job.attempts, again.token) == (1, 2)
    event = next(e for e in queue.events(released.id) if e.kind is EventKind.RELEASED)
    assert (event.reason, event.actor) == ("SIGTERM", "w1")


# ---------------------------------------------------------------- cancel


def test_cancel_pending_is_immediate(queue: JobQueue) -> None:
    job = queue.enqueue(source()).job
    canceled = queue.cancel(job.id, actor="cli:bob", reason="wrong repo")
    assert (canceled.status, canceled.error_kind) == (JobStatus.CANCELED, ErrorKind.CANCELED)
    assert queue.claim("w1", lease_seconds=LEASE) == []
    assert queue.cancel(job.id).status is JobStatus.CANCELED  # idempotent
    assert kinds(queue, job.id) == [EventKind.ENQUEUED, EventKind.CANCELED]


def test_cancel_running_waits_for_the_worker(queue: JobQueue) -> None:
    queue.enqueue(source())
    lease = claim_one(queue)
    requested = queue.cancel(lease.job_id)
    assert (requested.status, requested.cancel_requested) == (JobStatus.RUNNING, True)
    assert queue.heartbeat(lease, lease_seconds=LEASE).cancel_requested
    # Whatever error the stopped job reports, a canceled job is never retried.
    done = queue.fail(lease, ErrorKind.TRANSIENT, "killed")
    assert done.status is JobStatus.CANCELED
    assert kinds(queue, done.id)[-2:] == [EventKind.CANCEL_REQUESTED, EventKind.CANCELED]


def test_cancel_finished_or_unknown_job_is_refused(queue: JobQueue) -> None:
    queue.enqueue(source())
    job = queue.complete(claim_one(queue))
    with pytest.raises(JobStateError, match="already succeeded"):
        queue.cancel(job.id)
    with pytest.raises(JobNotFoundError, match="no job with id 999"):
        queue.cancel(999)


# ---------------------------------------------------------------- reclaim


def test_reclaim_expired_respects_attempts_and_cancel(queue: JobQueue, database: Database) -> None:
    fresh = queue.enqueue(source(1)).job
    exhausted = queue.enqueue(source(2), max_attempts=1).job
    canceled = queue.enqueue(source(3)).job
    leases = {lease.job_id: lease for lease in queue.claim("w1", lease_seconds=LEASE, limit=3)}
    queue.cancel(canceled.id)
    queue.enqueue(source(4))
    alive = claim_one(queue, "w2")
    advance_clock(database, LEASE + 1)
    queue.heartbeat(alive, lease_seconds=LEASE)  # w2 is still alive and keeps its job
    reclaimed = {job.id: job for job in queue.reclaim_expired(actor="ops")}
    assert set(reclaimed) == set(leases)
    assert reclaimed[fresh.id].status is JobStatus.PENDING
    assert reclaimed[fresh.id].error_kind is ErrorKind.LEASE_EXPIRED
    assert reclaimed[exhausted.id].status is JobStatus.DEAD
    assert reclaimed[canceled.id].status is JobStatus.CANCELED
    event = queue.events(fresh.id)[-1]
    assert (event.kind, event.actor) == (EventKind.RECLAIMED, "ops")
    assert "lease expired" in (event.reason or "") and "w1" in (event.reason or "")
    assert "attempts exhausted" in (queue.events(exhausted.id)[-1].reason or "")
    assert queue.get(alive.job_id).status is JobStatus.RUNNING
    assert queue.reclaim_expired() == []


# ---------------------------------------------------------------- requeue and retry


def test_requeue_running_only_when_lease_expired_or_worker_dead(queue: JobQueue, database: Database) -> None:
    registry = WorkerRegistry(database)
    for worker in ("alive", "stopped"):
        registry.register(worker, concurrency=1, stale_after_seconds=LEASE)
    queue.enqueue(source(1))
    queue.enqueue(source(2))
    alive = claim_one(queue, "alive")
    gone = claim_one(queue, "stopped")
    assert queue.requeue(dead_after_seconds=LEASE) == []
    registry.stop("stopped")
    requeued = queue.requeue(dead_after_seconds=LEASE, actor="cli:ops")
    assert [job.id for job in requeued] == [gone.job_id]
    assert requeued[0].status is JobStatus.PENDING and requeued[0].attempts == 1
    assert queue.get(alive.job_id).status is JobStatus.RUNNING
    forced = queue.requeue(force=True, dead_after_seconds=LEASE)
    assert [job.id for job in forced] == [alive.job_id]
    assert queue.events(alive.job_id)[-1].reason == "forced requeue"
    with pytest.raises(LeaseLostError):
        queue.complete(alive)


def test_requeue_treats_silent_worker_as_dead(queue: JobQueue, database: Database) -> None:
    registry = WorkerRegistry(database)
    registry.register("silent", concurrency=1, stale_after_seconds=LEASE)
    queue.enqueue(source())
    lease = claim_one(queue, "silent")
    advance_clock(database, 20)
    queue.heartbeat(lease, lease_seconds=LEASE)  # the lease is fine, but the worker row went quiet
    assert [job.id for job in queue.requeue(dead_after_seconds=10)] == [lease.job_id]


def test_requeue_failed_and_dead_jobs(queue: JobQueue) -> None:
    queue.enqueue(source(1))
    queue.enqueue(source(2), max_attempts=1)
    failed = queue.fail(claim_one(queue), ErrorKind.TRANSIENT, "blip")
    dead = queue.fail(claim_one(queue), ErrorKind.TRANSIENT, "blip")
    assert (failed.status, dead.status) == (JobStatus.FAILED, JobStatus.DEAD)
    assert [j.id for j in queue.requeue(status=JobStatus.FAILED, dead_after_seconds=LEASE)] == [failed.id]
    [revived] = queue.requeue(status=JobStatus.DEAD, dead_after_seconds=LEASE)
    assert revived.id == dead.id and revived.max_attempts > revived.attempts
    with pytest.raises(JobStateError):
        queue.requeue(status=JobStatus.SUCCEEDED, dead_after_seconds=LEASE)


def test_retry_of_dead_failed_and_canceled(queue: JobQueue) -> None:
    queue.enqueue(source(1), max_attempts=1)
    dead = queue.fail(claim_one(queue), ErrorKind.PERMANENT, "no such repository")
    retried = queue.retry(dead.id, actor="cli:alice")
    assert (retried.status, retried.attempts) == (JobStatus.PENDING, 1)
    assert retried.max_attempts == 1 + queue.policy.max_attempts
    assert queue.events(dead.id)[-1].kind is EventKind.RETRIED
    lease = claim_one(queue)
    assert lease.job.attempts == 2
    canceled = queue.cancel(queue.enqueue(source(2)).job.id)
    assert queue.retry(canceled.id).status is JobStatus.PENDING
    assert not queue.get(canceled.id).cancel_requested
    done = queue.complete(lease)
    with pytest.raises(JobStateError, match="--force"):
        queue.retry(done.id)
    with pytest.raises(JobStateError, match="is pending"):
        queue.retry(canceled.id)
    with pytest.raises(JobNotFoundError):
        queue.retry(12345)


# ---------------------------------------------------------------- reads and the log


def test_list_get_counts(queue: JobQueue) -> None:
    ids = [queue.enqueue(source(n)).job.id for n in range(4)]
    queue.complete(claim_one(queue))
    assert [job.id for job in queue.list()] == sorted(ids, reverse=True)
    assert [job.id for job in queue.list(limit=2)] == sorted(ids, reverse=True)[:2]
    assert [job.id for job in queue.list(status=JobStatus.SUCCEEDED)] == [ids[0]]
    counts = queue.counts()
    assert counts[JobStatus.PENDING] == 3 and counts[JobStatus.SUCCEEDED] == 1 and counts[JobStatus.DEAD] == 0
    with pytest.raises(JobNotFoundError):
        queue.get(999)
    with pytest.raises(JobNotFoundError):
        queue.events(999)


def test_job_events_are_append_only(queue: JobQueue, database: Database) -> None:
    job = queue.enqueue(source()).job
    for statement in ("UPDATE job_events SET actor = 'forged'", "DELETE FROM job_events"):
        with pytest.raises(DatabaseError, match="append-only"):
            database.write(lambda conn, s=statement: conn.execute(text(s)))
    assert queue.events(job.id)[0].actor == "cli"


def test_every_transition_is_logged(queue: JobQueue, database: Database) -> None:
    """The last event that changed status always names the job's current status."""
    jobs = [queue.enqueue(source(n)).job.id for n in range(5)]
    a, b, c, *_ = queue.claim("w1", lease_seconds=LEASE, limit=5)
    queue.complete(a)
    queue.fail(b, ErrorKind.PERMANENT, "x")
    queue.release(c)
    queue.cancel(jobs[4])
    for job_id in jobs:
        transitions = [e for e in queue.events(job_id) if e.to_status is not None]
        assert transitions[-1].to_status is queue.get(job_id).status
        for before, after in pairwise(transitions):
            assert after.from_status is before.to_status


def test_retry_policy_full_jitter_is_capped() -> None:
    seen: list[tuple[float, float]] = []
    policy = RetryPolicy(base_seconds=5, cap_seconds=600, uniform=lambda lo, hi: seen.append((lo, hi)) or hi)
    assert [policy.delay(n) for n in (1, 2, 3, 8, 9, 500)] == [5, 10, 20, 600, 600, 600]
    assert all(lo == 0 for lo, _ in seen)

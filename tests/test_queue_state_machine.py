"""Random sequences of every queue operation, with the protocol's invariants checked after each step.

Hypothesis drives enqueue / claim / heartbeat / progress / complete / fail / release / cancel /
reclaim / requeue / clock advance on a real database, with both current and stale leases, and checks:
at most one live holder per job, stale-token writes change nothing, attempts never exceed the
maximum, a canceled or finished job is never revived, every job is in exactly one known state, and
nothing disappears.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conftest import new_database_url
from fondation.domain.errors import JobStateError, LeaseLostError
from fondation.domain.jobs import TERMINAL_STATUSES, ErrorKind, EventKind, Job, JobStatus, Lease, Progress
from fondation.queue import JobQueue, RetryPolicy
from fondation.store import open_database
from helpers import advance_clock, source

LEASE = 60.0
WORKERS = ("w1", "w2", "w3")
OPERATIONS = ["heartbeat", "progress", "complete", "fail", "release"]


class QueueMachine(RuleBasedStateMachine):
    """The model is small on purpose: the database is the truth, the machine checks its invariants."""

    make_url: Callable[[], str]

    def __init__(self) -> None:
        super().__init__()
        self.db = open_database(self.make_url())
        self.queue = JobQueue(self.db, RetryPolicy(base_seconds=1, cap_seconds=30, max_attempts=2))
        self.leases: list[Lease] = []  # every lease ever handed out, stale ones included
        self.known: dict[int, Job] = {}
        self.terminal: dict[int, JobStatus] = {}

    def teardown(self) -> None:
        self.db.dispose()

    @initialize()
    def start_with_one_job(self) -> None:
        self.enqueue(0, False)

    # ------------------------------------------------------------ operations

    @rule(n=st.integers(0, 2), force=st.booleans())
    def enqueue(self, n: int, force: bool) -> None:
        result = self.queue.enqueue(source(n), force=force)
        if not force and not result.created:
            assert result.job.status.is_active
        self.known[result.job.id] = result.job

    @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 3))
    def claim(self, worker: str, limit: int) -> None:
        before = self.snapshot()
        for lease in self.queue.claim(worker, lease_seconds=LEASE, limit=limit):
            previous = before[lease.job_id]
            assert previous.status in (JobStatus.PENDING, JobStatus.FAILED)
            assert lease.token == previous.lease_token + 1
            assert lease.job.attempts == previous.attempts + 1
            self.leases.append(lease)

    def holders(self) -> list[Lease]:
        """The leases that still hold their job (the newest token of a running job)."""
        jobs = self.snapshot()
        return [
            lease
            for lease in self.leases
            if jobs[lease.job_id].status is JobStatus.RUNNING and jobs[lease.job_id].lease_token == lease.token
        ]

    @rule(data=st.data(), op=st.sampled_from(OPERATIONS), kind=st.sampled_from(list(ErrorKind)))
    def write_as_holder(self, data: st.DataObject, op: str, kind: ErrorKind) -> None:
        holders = self.holders()
        if holders:
            self.fenced_write(data.draw(st.sampled_from(holders)), op, kind)

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), op=st.sampled_from(OPERATIONS), kind=st.sampled_from(list(ErrorKind)))
    def write_with_any_lease(self, data: st.DataObject, op: str, kind: ErrorKind) -> None:
        self.fenced_write(data.draw(st.sampled_from(self.leases)), op, kind)

    def fenced_write(self, lease: Lease, op: str, kind: ErrorKind) -> None:
        before = self.queue.get(lease.job_id)
        events_before = len(self.queue.events(lease.job_id))
        holds = before.status is JobStatus.RUNNING and before.lease_token == lease.token
        write = {
            "heartbeat": lambda: self.queue.heartbeat(lease, lease_seconds=LEASE),
            "progress": lambda: self.queue.progress(lease, Progress("chapters", 1, 6, "chapter 1/3", 10.0)),
            "complete": lambda: self.queue.complete(lease, {"ok": True}),
            "fail": lambda: self.queue.fail(lease, kind, "boom"),
            "release": lambda: self.queue.release(lease),
        }[op]
        if holds:
            write()
            after = self.queue.get(lease.job_id)
            if op == "complete":
                assert after.status is JobStatus.SUCCEEDED
            if op == "fail" and before.cancel_requested:
                assert after.status is JobStatus.CANCELED
            if op == "fail" and not kind.is_retryable and not before.cancel_requested:
                assert after.status in (JobStatus.DEAD, JobStatus.CANCELED)
        else:
            try:
                write()
            except LeaseLostError:
                pass
            else:
                raise AssertionError(f"stale {op} with token {lease.token} was accepted: {before}")
            assert self.queue.get(lease.job_id) == before
            assert len(self.queue.events(lease.job_id)) == events_before

    @precondition(lambda self: self.known)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.known)))
        before = self.queue.get(job_id)
        try:
            after = self.queue.cancel(job_id)
        except JobStateError:
            assert before.status in (JobStatus.SUCCEEDED, JobStatus.DEAD)
            return
        if before.status in (JobStatus.PENDING, JobStatus.FAILED):
            assert after.status is JobStatus.CANCELED
        elif before.status is JobStatus.RUNNING:
            assert after.status is JobStatus.RUNNING and after.cancel_requested

    @rule()
    def reclaim(self) -> None:
        for job in self.queue.reclaim_expired():
            assert job.status in (JobStatus.PENDING, JobStatus.DEAD, JobStatus.CANCELED)

    @rule(force=st.booleans())
    def requeue(self, force: bool) -> None:
        for job in self.queue.requeue(force=force, dead_after_seconds=LEASE):
            assert job.status in (JobStatus.PENDING, JobStatus.DEAD)

    @rule(seconds=st.sampled_from([1.0, LEASE / 2, LEASE + 1, 1000.0]))
    def advance(self, seconds: float) -> None:
        advance_clock(self.db, seconds)

    # ------------------------------------------------------------ invariants

    def snapshot(self) -> dict[int, Job]:
        return {job.id: job for job in self.queue.list(limit=10_000)}

    @invariant()
    def protocol_holds(self) -> None:
        jobs = self.snapshot()
        assert set(self.known) <= set(jobs), "a job disappeared"
        for job_id, job in jobs.items():
            assert job.status in JobStatus
            assert 0 <= job.attempts <= job.max_attempts
            if job_id in self.terminal:
                assert job.status is self.terminal[job_id], f"job {job_id} was revived: {job}"
            elif job.status in TERMINAL_STATUSES:
                self.terminal[job_id] = job.status
            # At most one live holder: only the newest lease of a running job can still write.
            held = [lease for lease in self.leases if lease.job_id == job_id]
            if job.status is JobStatus.RUNNING:
                assert held and max(lease.token for lease in held) == job.lease_token
            else:
                assert job.lease_expires_at is None
            events = self.queue.events(job_id)
            claims = sum(e.kind is EventKind.CLAIMED for e in events)
            releases = sum(e.kind is EventKind.RELEASED for e in events)
            assert claims - releases == job.attempts
            assert claims == job.lease_token
            transitions = [e for e in events if e.to_status is not None]
            assert transitions[-1].to_status is job.status
        self.known.update(jobs)


@pytest.mark.slow
def test_queue_protocol_state_machine(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    class Machine(QueueMachine):
        make_url = staticmethod(lambda: new_database_url(backend, tmp_path, request, migrated=True))

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=40 if backend == "postgresql" else 80,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

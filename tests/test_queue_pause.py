"""`fondation queue pause`: a database-wide switch every worker's claim obeys at once; running jobs go on."""

from __future__ import annotations

from fondation.domain.jobs import JobStatus
from fondation.queue import JobQueue
from helpers import source


def test_no_claim_while_paused_and_running_jobs_go_on(queue: JobQueue) -> None:
    running = queue.enqueue(source("o/running")).job
    [lease] = queue.claim("w1", lease_seconds=30)
    waiting = queue.enqueue(source("o/waiting")).job

    assert queue.pause_state() is None
    queue.pause(actor="cli:ops", reason="incident 42")
    queue.pause(actor="cli:ops", reason="incident 42")  # idempotent
    state = queue.pause_state()
    assert state is not None and state.value == {"reason": "incident 42"} and state.updated_by == "cli:ops"
    assert queue.claim("w2", lease_seconds=30, limit=5) == []
    assert queue.complete(lease).status is JobStatus.SUCCEEDED  # the job in flight finishes
    assert queue.get(waiting.id).status is JobStatus.PENDING

    assert queue.resume() is True and queue.resume() is False
    assert [claimed.job_id for claimed in queue.claim("w2", lease_seconds=30)] == [waiting.id]
    assert running.id != waiting.id

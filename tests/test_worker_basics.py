"""A real worker process on each backend: runs jobs in children, reports health and metrics."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fondation.domain.jobs import ErrorKind, JobStatus
from fondation.queue import JobQueue
from helpers import source
from worker_harness import WorkerProcess, wait_until


def test_worker_runs_jobs_and_reports(queue: JobQueue, start_worker: Callable[..., WorkerProcess]) -> None:
    ok = queue.enqueue(source(1), options={"do": "succeed"}).job
    auth = queue.enqueue(source(2), options={"do": "fail", "kind": "auth", "message": "token expired"}).job
    worker = start_worker("w1", concurrency=2)
    wait_until(
        lambda: queue.get(ok.id).status.is_terminal and queue.get(auth.id).status.is_terminal,
        what="both jobs to finish",
    )
    done = queue.get(ok.id)
    assert done.status is JobStatus.SUCCEEDED and done.result == {"ok": True, "attempt": 1}
    failed = queue.get(auth.id)
    assert (failed.status, failed.error_kind, failed.error_message) == (JobStatus.DEAD, ErrorKind.AUTH, "token expired")
    assert [e.kind.value for e in queue.events(ok.id)] == ["enqueued", "claimed", "progress", "succeeded"]

    code, health = worker.health()
    assert code == 200 and health["status"] == "ok" and health["worker_id"] == "w1"
    assert health["max_concurrent_jobs"] == 2 and health["active_jobs"] == 0
    assert health["checks"]["database"]["status"] == "ok"
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(worker.metrics())
        for sample in family.samples
    }
    assert samples[("fondation_jobs_claimed_total", ())] == 2
    assert samples[("fondation_jobs_succeeded_total", ())] == 1
    assert samples[("fondation_jobs_failed_total", (("kind", "auth"),))] == 1
    assert samples[("fondation_jobs_dead_total", ())] == 1
    assert samples[("fondation_queue_depth", (("status", "succeeded"),))] == 1
    assert samples[("fondation_worker_up", ())] == 1
    assert not list(worker.temp_dir.glob("job-*")), "attempt directories must be removed"


@pytest.mark.backends("sqlite")
def test_sigusr1_writes_every_threads_stack_and_the_worker_carries_on(
    queue: JobQueue, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker("w1")
    worker.send(signal.SIGUSR1)
    # written thread by thread after the main one ("Current thread"): wait for the lease keeper and the health
    # server at least, which a dump of the current thread alone would not show
    wait_until(lambda: worker.log().count("Thread 0x") >= 2, timeout=5, what="every thread's stack in the log")
    assert "most recent call first" in worker.log()
    job = queue.enqueue(source(1)).job
    assert wait_until(lambda: queue.get(job.id).status is JobStatus.SUCCEEDED, timeout=15, what="a job after it")

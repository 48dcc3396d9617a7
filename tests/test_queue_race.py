"""Eight OS processes race to claim and complete the same jobs: each must succeed exactly once."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
from sqlalchemy import text

from fondation.domain.jobs import JobStatus
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.queue import JobQueue
from fondation.store import Database

PROCESSES = 8
JOBS = {"postgresql": 5000, "sqlite": 2000}


def drain(url: str, worker_id: str, start: multiprocessing.synchronize.Event) -> int:  # type: ignore[name-defined]
    """What a worker's claim loop does, minus the work: claim one, complete it, until none is left."""
    queue = JobQueue(Database(url))
    start.wait()
    done = 0
    while leases := queue.claim(worker_id, lease_seconds=300):
        for lease in leases:
            queue.complete(lease, {"by": worker_id})
            done += 1
    queue.db.dispose()
    return done


@pytest.mark.slow
def test_processes_race_without_double_claims(backend: str, database: Database, queue: JobQueue) -> None:
    total = JOBS[backend]
    spec = SourceSpec(SourceKind.GITHUB, "https://github.com/example/race.git", "race")
    for _ in range(total):
        queue.enqueue(spec, force=True)
    database.dispose()

    context = multiprocessing.get_context("spawn")
    start = context.Manager().Event()
    with context.Pool(PROCESSES) as pool:
        results = [pool.apply_async(drain, (queue.db.url, f"racer-{n}", start)) for n in range(PROCESSES)]
        start.set()
        per_process = [result.get(timeout=300) for result in results]

    assert sum(per_process) == total
    assert queue.counts()[JobStatus.SUCCEEDED] == total

    def events(kind: str) -> Counter[int]:
        rows = database.read(
            lambda conn: conn.execute(text("SELECT job_id FROM job_events WHERE kind = :k"), {"k": kind}).all()
        )
        return Counter(job_id for (job_id,) in rows)

    claimed, succeeded = events("claimed"), events("succeeded")
    assert len(claimed) == total and set(claimed.values()) == {1}, "a job was claimed twice"
    assert len(succeeded) == total and set(succeeded.values()) == {1}, "a job succeeded twice"
    holders = database.read(
        lambda conn: conn.execute(text("SELECT worker_id, count(*) FROM jobs GROUP BY worker_id")).all()
    )
    assert sum(n for _, n in holders) == total
    assert len(holders) > 1, "only one process ever won a claim: the race did not happen"

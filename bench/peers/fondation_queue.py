"""Fondation's job queue, driven the way `fondation worker` drives it (see bench/peers/harness.py).

The claim loop is the worker's (`fondation.worker.runtime`): clear the wake-up event, claim as many jobs
as there are free slots (`JobQueue.claim(worker_id, lease_seconds=300, limit=free)`), hand each lease
to a slot thread, loop again at once when every free slot got a job, otherwise wait on the event for
at most the poll interval. A slot thread runs the no-op job and completes it with
`JobQueue.complete(lease, {})`: fenced by the lease token, its job_event written, committed durably,
then frees its slot and sets the event (the worker's supervisor thread does the same once its child
exits). On PostgreSQL the worker's own `PgListener` sets the event on each `NOTIFY` an enqueue sends.
What the worker adds around a real job (a temp directory, a child process, heartbeats) is left out:
the peers run their jobs in-process, so the queue is what is compared.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import enqueue_many, source
from bench.peers.harness import DrainClock, Starts, main, trickle
from fondation.config import Settings
from fondation.domain.jobs import JobStatus, Lease
from fondation.queue.jobs import JobQueue
from fondation.store.database import Database, open_database

LEASE_SECONDS = 300.0
WORKER_ID = "bench-peers-worker"
PRODUCERS = 4  # threads enqueueing the drain's jobs, one transaction per job (JobQueue has no bulk enqueue)
DEFAULT_POLL_MS = int(Settings.model_fields["poll_interval_ms"].default)


class ClaimLoop:
    """The worker's claim loop with `concurrency` slots, each job run and completed on a slot thread."""

    def __init__(
        self, queue: JobQueue, concurrency: int, poll_seconds: float, on_start: Callable[[int], None]
    ) -> None:
        self.queue = queue
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.on_start = on_start
        self.wake = threading.Event()
        self._lock = threading.Lock()
        self._running = 0
        self.completed = 0
        self._errors: list[BaseException] = []
        self._slots = ThreadPoolExecutor(concurrency, thread_name_prefix="slot")

    def _run(self, lease: Lease) -> None:
        try:
            self.on_start(lease.job_id)  # the no-op job
            self.queue.complete(lease, {})
        except BaseException as error:
            self._errors.append(error)
        finally:
            with self._lock:
                self._running -= 1
                self.completed += 1
            self.wake.set()

    def run(self, *, until_empty: bool = False, until_completed: int | None = None, deadline: float) -> None:
        """Claim and run jobs until the queue is empty and nothing runs, or `until_completed` jobs are done."""
        try:
            while time.monotonic() < deadline:
                if self._errors:
                    raise self._errors[0]
                self.wake.clear()
                with self._lock:
                    free = self.concurrency - self._running
                full = False
                if free > 0:
                    leases = self.queue.claim(WORKER_ID, lease_seconds=LEASE_SECONDS, limit=free)
                    with self._lock:
                        self._running += len(leases)
                        idle = self._running == 0
                    for lease in leases:
                        self._slots.submit(self._run, lease)
                    full = len(leases) == free
                    if until_empty and idle:
                        return
                if until_completed is not None and self.completed >= until_completed:
                    return
                if not full:
                    self.wake.wait(self.poll_seconds)
            raise SystemExit("fondation: the claim loop ran out of time")
        finally:
            self._slots.shutdown(wait=True)
            if self._errors:
                raise self._errors[0]


class Fondation:
    poll_ms = 0

    def _poll_seconds(self) -> float:
        return (self.poll_ms or DEFAULT_POLL_MS) / 1000

    def schema(self, url: str) -> None:
        open_database(url).dispose()

    def enqueue(self, url: str, jobs: int) -> dict[str, Any]:
        database = Database(url)
        try:
            seconds = enqueue_many(JobQueue(database), jobs, PRODUCERS)
        finally:
            database.dispose()
        return {"seconds": seconds, "how": f"`JobQueue.enqueue`, one transaction per job, {PRODUCERS} threads"}

    def drain(self, url: str, jobs: int, concurrency: int, clock: DrainClock) -> dict[str, Any]:
        database = Database(url)
        try:
            database.ping()  # connected before the clock starts
            loop = ClaimLoop(JobQueue(database), concurrency, self._poll_seconds(), lambda _job_id: clock.started())
            loop.run(until_empty=True, deadline=time.monotonic() + 3600)
        finally:
            database.dispose()
        return {}

    def verify(self, url: str, jobs: int) -> None:
        database = Database(url)
        try:
            counts = JobQueue(database).counts()
            claimed = database.scalar("SELECT count(*) FROM job_events WHERE kind = 'claimed'")
            succeeded = database.scalar("SELECT count(*) FROM job_events WHERE kind = 'succeeded'")
        finally:
            database.dispose()
        if counts[JobStatus.SUCCEEDED] != jobs or claimed != jobs or succeeded != jobs:
            raise SystemExit(
                f"fondation: {counts[JobStatus.SUCCEEDED]} jobs succeeded, {claimed} claimed and {succeeded} "
                f"succeeded events, for {jobs} jobs"
            )

    def consume(self, url: str, jobs: int, concurrency: int, starts: Starts, ready: Callable[[], None]) -> None:
        database = Database(url)
        listener = None
        try:
            database.ping()
            loop = ClaimLoop(JobQueue(database), concurrency, self._poll_seconds(), starts.record)
            if not database.is_sqlite:
                from fondation.worker.wakeup import PgListener  # (the worker imports it only for PostgreSQL)

                listener = PgListener(url, on_job=loop.wake.set, on_cancel=lambda _job_id: None)
                listener.start()
                if not listener.connected.wait(timeout=30):
                    raise SystemExit("fondation: the LISTEN connection did not come up")
            ready()
            loop.run(until_completed=jobs, deadline=time.monotonic() + 600)
        finally:
            if listener is not None:
                listener.stop()
            database.dispose()

    def produce(self, url: str, jobs: int, rate: float) -> list[tuple[int, float]]:
        database = Database(url)
        queue = JobQueue(database)
        run = uuid.uuid4().hex[:8]
        commits: list[tuple[int, float]] = []
        try:
            database.ping()
            for i, delay in trickle(jobs, rate):
                if delay > 0:
                    time.sleep(delay)
                job_id = queue.enqueue(source(run, i), actor="bench-producer").job.id
                commits.append((job_id, time.time()))  # enqueue() returns once its transaction committed
        finally:
            database.dispose()
        return commits


if __name__ == "__main__":
    raise SystemExit(main(Fondation()))

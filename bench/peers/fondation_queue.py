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

Variant `group-commit` (a prototype of a proposed change, not what ships): the slot threads' completions
go through `GroupCompleter`, which completes every lease that arrived while the previous statement was
in flight in one statement (one transaction, one WAL sync), each still fenced by its own token.
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
from fondation.domain.errors import LeaseLostError
from fondation.domain.jobs import JobStatus, Lease
from fondation.queue.jobs import JobQueue
from fondation.queue.sql import _JOB_COLUMNS, _log_event, _row_sql
from fondation.store.database import Database, DriverStatement, open_database
from fondation.store.types import canonical_json

LEASE_SECONDS = 300.0
WORKER_ID = "bench-peers-worker"
PRODUCERS = 4  # threads enqueueing the drain's jobs, one transaction per job (JobQueue has no bulk enqueue)
DEFAULT_POLL_MS = int(Settings.model_fields["poll_interval_ms"].default)
POOL_EXTRA = 4  # the worker opens its database with pool_size = concurrency + 4 (fondation.worker.runtime)


class _Entry:
    """One completion waiting in a `GroupCompleter`."""

    def __init__(self, lease: Lease, result: dict[str, Any]) -> None:
        self.lease = lease
        self.result = canonical_json(result)
        self.done = threading.Event()
        self.lead = False  # handed the lead: run the next batch
        self.error: BaseException | None = None


class GroupCompleter:
    """Group commit of fenced completions (a prototype of `JobQueue.complete_many` plus its caller).

    The first completion runs at once; those that arrive while its statement is in flight wait, and
    the next of them to be handed the lead completes them all in one statement: on PostgreSQL an
    `UPDATE jobs … FROM unnest(ids, tokens, results)` fenced on each row's id, token and status, with
    the events' INSERT … SELECT in the same CTE (as `complete` does for one); on SQLite each lease's
    UPDATE … RETURNING and event inside one BEGIN IMMEDIATE transaction. No timer: a lone completion
    waits for nobody. A lease whose row did not match raises `LeaseLostError` in its own caller.
    """

    def __init__(self, database: Database, queue: JobQueue) -> None:
        self.db = database
        self.queue = queue
        self._lock = threading.Lock()
        self._pending: list[_Entry] = []
        self._busy = False
        self.statements = 0
        if not database.is_sqlite:
            now = database.dialect.now
            log = _log_event(now, "changed", kind="succeeded", from_status="'running'", to_status="'succeeded'")
            sql = (
                "WITH input AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:tokens AS bigint[]), "
                "CAST(:results AS text[])) AS t(id, token, result)), "
                "changed AS (UPDATE jobs SET status = 'succeeded', result = input.result, percent = 100, "
                f"error_kind = NULL, error_message = NULL, lease_expires_at = NULL, finished_at = {now}, "
                f"updated_at = {now} FROM input WHERE jobs.id = input.id AND jobs.lease_token = input.token "
                f"AND jobs.status = 'running' RETURNING jobs.*), logged AS ({log}) "
                f"SELECT {_row_sql(_JOB_COLUMNS, 'changed')} FROM changed"
            )
            self._many: DriverStatement = database.driver_statement(sql, _JOB_COLUMNS)

    def complete(self, lease: Lease, result: dict[str, Any]) -> None:
        entry = _Entry(lease, result)
        with self._lock:
            self._pending.append(entry)
            lead = not self._busy
            self._busy = True
        if not lead:
            entry.done.wait()
            if not entry.lead:
                if entry.error is not None:
                    raise entry.error
                return
        with self._lock:
            batch, self._pending = self._pending, []
        try:
            self._run(batch)
        finally:
            with self._lock:
                if self._pending:
                    following = self._pending[0]
                    following.lead = True
                    following.done.set()
                else:
                    self._busy = False
        if entry.error is not None:
            raise entry.error

    def _run(self, batch: list[_Entry]) -> None:
        self.statements += 1
        try:
            if self.db.is_sqlite:
                matched = self.db.write_driver(lambda cursor: self._sqlite(cursor, batch))
            else:
                params = {
                    "ids": [e.lease.job_id for e in batch],
                    "tokens": [e.lease.token for e in batch],
                    "results": [e.result for e in batch],
                }
                rows = self.db.write_driver(lambda cursor: self._many.all(cursor, params))
                matched = {(row["id"], row["lease_token"]) for row in rows}
        except BaseException as error:
            for entry in batch:
                entry.error = error
        else:
            for entry in batch:
                if (entry.lease.job_id, entry.lease.token) not in matched:
                    entry.error = LeaseLostError(entry.lease.job_id, entry.lease.token)
        for entry in batch:
            if not entry.lead:
                entry.done.set()

    def _sqlite(self, cursor: Any, batch: list[_Entry]) -> set[tuple[int, int]]:
        matched = set()
        for entry in batch:
            params = {"result": entry.result, "id": entry.lease.job_id, "token": entry.lease.token}
            row = self.queue.sql.complete.run(cursor, params)
            if row is not None:
                matched.add((row["id"], row["lease_token"]))
        return matched


class ClaimLoop:
    """The worker's claim loop with `concurrency` slots, each job run and completed on a slot thread."""

    def __init__(
        self,
        queue: JobQueue,
        concurrency: int,
        poll_seconds: float,
        on_start: Callable[[int], None],
        completer: GroupCompleter | None = None,
    ) -> None:
        self.queue = queue
        self.complete: Callable[[Lease, dict[str, Any]], object] = (
            completer.complete if completer is not None else queue.complete
        )
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
            self.complete(lease, {})
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
    variant = ""
    completer: GroupCompleter | None = None

    def _poll_seconds(self) -> float:
        return (self.poll_ms or DEFAULT_POLL_MS) / 1000

    def _loop(self, database: Database, concurrency: int, on_start: Callable[[int], None]) -> ClaimLoop:
        if self.variant not in ("", "group-commit"):
            raise SystemExit(f"fondation: unknown variant {self.variant!r}")
        queue = JobQueue(database)
        self.completer = GroupCompleter(database, queue) if self.variant == "group-commit" else None
        return ClaimLoop(queue, concurrency, self._poll_seconds(), on_start, self.completer)

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
        database = Database(url, pool_size=concurrency + POOL_EXTRA)
        try:
            database.ping()  # connected before the clock starts
            loop = self._loop(database, concurrency, lambda _job_id: clock.started())
            loop.run(until_empty=True, deadline=time.monotonic() + 3600)
        finally:
            database.dispose()
        return {"complete_statements": self.completer.statements} if self.completer else {}

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
        database = Database(url, pool_size=concurrency + POOL_EXTRA)
        listener = None
        try:
            database.ping()
            loop = self._loop(database, concurrency, starts.record)
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

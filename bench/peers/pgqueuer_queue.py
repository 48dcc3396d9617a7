"""pgqueuer, used the way its documentation shows (see bench/peers/harness.py for the protocol).

The README's consumer: one asyncpg connection, `PgQueuer(AsyncpgDriver(connection))`, one async
entrypoint, `PgQueuer.run` (what `pgq run` calls); its schema from `Queries.install()` (what
`pgq install` runs) at its default durability, `durable` (every table logged: WAL, fsynced at commit).
The same total concurrency as the others: `max_concurrent_tasks = concurrency` with `batch_size =
concurrency // 2` (pgqueuer requires the cap to be at least twice the batch). pgqueuer dequeues a batch
per statement (`FOR UPDATE SKIP LOCKED`) and writes completions in batches (its status-log buffer
flushes every `batch_size` jobs or 0.1 s, one statement that deletes the jobs and logs them), every
statement committed durably. Its dequeue is not fenced: a completion matches the job id alone. The
drain is `mode=drain`, which returns once the queue is empty and the buffers are flushed. The jobs are
queued with `Queries.enqueue` given lists (1,000 per statement) for the drain, one by one for the
trickle; the default fallback poll (`dequeue_timeout`) is 30 s. Variant `defaults`: `PgQueuer.run`'s own
defaults instead (a batch of 10, no cap on the tasks in flight), for comparison.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
import psycopg
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

from bench.peers.harness import DrainClock, Starts, main, trickle

BATCH = 1000
ENTRYPOINT = "noop"


def make_queuer(connection: asyncpg.Connection, on_start: Callable[[int], None]) -> PgQueuer:
    pgq = PgQueuer(AsyncpgDriver(connection))

    @pgq.entrypoint(ENTRYPOINT)
    async def noop(job: Job) -> None:
        on_start(job.id)

    return pgq


def run_options(concurrency: int, mode: QueueExecutionMode, poll_ms: int, variant: str = "") -> dict[str, Any]:
    """`PgQueuer.run`'s options: the same total concurrency as the others, or (variant `defaults`) its own
    defaults, a batch of 10 and no cap on the tasks in flight."""
    if variant not in ("", "defaults"):
        raise SystemExit(f"pgqueuer: unknown variant {variant!r}")
    batch = max(1, concurrency // 2)
    options: dict[str, Any] = {
        "batch_size": batch,
        "max_concurrent_tasks": concurrency if concurrency >= 2 * batch else None,
        "mode": mode,
    }
    if variant == "defaults":
        options = {"mode": mode}
    if poll_ms:
        options["dequeue_timeout"] = timedelta(milliseconds=poll_ms)
    return options


class Pgqueuer:
    poll_ms = 0
    variant = ""

    def schema(self, url: str) -> None:
        async def run() -> None:
            connection = await asyncpg.connect(url)
            try:
                await Queries(AsyncpgDriver(connection)).install()
            finally:
                await connection.close()

        asyncio.run(run())

    def enqueue(self, url: str, jobs: int) -> dict[str, Any]:
        async def run() -> float:
            connection = await asyncpg.connect(url)
            try:
                queries = Queries(AsyncpgDriver(connection))
                start = time.perf_counter()
                for first in range(0, jobs, BATCH):
                    k = min(BATCH, jobs - first)
                    await queries.enqueue([ENTRYPOINT] * k, [None] * k, [0] * k)
                return time.perf_counter() - start
            finally:
                await connection.close()

        return {"seconds": asyncio.run(run()), "how": f"`Queries.enqueue` with lists, {BATCH:,} jobs per statement"}

    def drain(self, url: str, jobs: int, concurrency: int, clock: DrainClock) -> dict[str, Any]:
        async def run() -> None:
            connection = await asyncpg.connect(url)
            try:
                pgq = make_queuer(connection, lambda _job_id: clock.started())
                await pgq.run(**run_options(concurrency, QueueExecutionMode.drain, self.poll_ms, self.variant))
            finally:
                await connection.close()

        asyncio.run(run())
        return {}

    def verify(self, url: str, jobs: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            left = conn.execute("SELECT count(*) FROM pgqueuer").fetchone()
            logged = conn.execute(
                "SELECT count(*), count(DISTINCT job_id) FROM pgqueuer_log WHERE status = 'successful'"
            ).fetchone()
            folded = conn.execute(
                "SELECT COALESCE(sum(count), 0) FROM pgqueuer_statistics WHERE status = 'successful'"
            ).fetchone()
        assert left is not None and logged is not None and folded is not None
        if left[0] != 0 or logged[0] != logged[1] or logged[0] + folded[0] != jobs:
            raise SystemExit(
                f"pgqueuer: {left[0]} jobs left, {logged[0]} successful in the log ({logged[1]} distinct), "
                f"{folded[0]} folded into the statistics, for {jobs} jobs"
            )

    def consume(self, url: str, jobs: int, concurrency: int, starts: Starts, ready: Callable[[], None]) -> None:
        async def run() -> None:
            connection = await asyncpg.connect(url)
            try:
                pgq = make_queuer(connection, starts.record)
                worker = asyncio.create_task(
                    pgq.run(**run_options(concurrency, QueueExecutionMode.continuous, self.poll_ms, self.variant))
                )
                await asyncio.sleep(1.0)  # schema verified, LISTEN issued, first dequeue done
                ready()
                deadline = time.monotonic() + 600
                while len(starts) < jobs and not worker.done() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                pgq.shutdown.set()
                await worker
            finally:
                await connection.close()

        asyncio.run(run())

    def produce(self, url: str, jobs: int, rate: float) -> list[tuple[int, float]]:
        async def run() -> list[tuple[int, float]]:
            connection = await asyncpg.connect(url)
            commits: list[tuple[int, float]] = []
            try:
                queries = Queries(AsyncpgDriver(connection))
                for _i, delay in trickle(jobs, rate):
                    if delay > 0:
                        await asyncio.sleep(delay)
                    (job_id,) = await queries.enqueue(ENTRYPOINT, None)  # autocommit: committed on return
                    commits.append((int(job_id), time.time()))
            finally:
                await connection.close()
            return commits

        return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main(Pgqueuer()))

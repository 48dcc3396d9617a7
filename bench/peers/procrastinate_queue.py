"""procrastinate, used the way its documentation shows (see bench/peers/harness.py for the protocol).

An `App` over a `PsycopgConnector` (psycopg 3's async pool), one async task, and one worker
(`App.run_worker_async`) with `concurrency` sub-workers, LISTEN/NOTIFY on (its default) and the default
5 s fallback poll. Each sub-worker fetches one job (`procrastinate_fetch_job`: `FOR UPDATE SKIP
LOCKED`, one transaction) and finishes it (`procrastinate_finish_job`, another), each committed
durably; its triggers write the job's events. The pool holds `concurrency + 2` connections (one per
sub-worker, the listener's, and one for the worker's heartbeat and abort polls): the default of 4
would make sub-workers wait for a connection. The drain is `run_worker_async(wait=False)`, which
returns once no job is left and the running ones are done. The jobs are queued with
`batch_defer_async` (1,000 per statement) for the drain and `defer_async` one by one for the trickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import psycopg
from procrastinate import App, JobContext, PsycopgConnector

from bench.peers.harness import DrainClock, Starts, main, trickle

BATCH = 1000
_on_start: Callable[[int], None] = lambda _job_id: None  # noqa: E731  (set by drain and consume)


def make_app(url: str, concurrency: int = 1) -> tuple[App, Any]:
    size = concurrency + 2
    app = App(connector=PsycopgConnector(conninfo=url, min_size=size, max_size=size))

    @app.task(name="noop", pass_context=True)
    async def noop(context: JobContext) -> None:
        assert context.job.id is not None
        _on_start(context.job.id)

    return app, noop


class Procrastinate:
    poll_ms = 0
    variant = ""

    def _worker_options(self, concurrency: int) -> dict[str, Any]:
        options: dict[str, Any] = {"concurrency": concurrency, "install_signal_handlers": False}
        if self.poll_ms:
            options["fetch_job_polling_interval"] = self.poll_ms / 1000
        return options

    def schema(self, url: str) -> None:
        async def run() -> None:
            app, _ = make_app(url)
            async with app.open_async():
                await app.schema_manager.apply_schema_async()

        asyncio.run(run())

    def enqueue(self, url: str, jobs: int) -> dict[str, Any]:
        async def run() -> float:
            app, noop = make_app(url)
            async with app.open_async():
                start = time.perf_counter()
                for first in range(0, jobs, BATCH):
                    await noop.batch_defer_async(*({} for _ in range(min(BATCH, jobs - first))))
                return time.perf_counter() - start

        return {"seconds": asyncio.run(run()), "how": f"`batch_defer_async`, {BATCH:,} jobs per statement"}

    def drain(self, url: str, jobs: int, concurrency: int, clock: DrainClock) -> dict[str, Any]:
        global _on_start
        _on_start = lambda _job_id: clock.started()  # noqa: E731

        async def run() -> None:
            app, _ = make_app(url, concurrency)
            async with app.open_async():
                await app.run_worker_async(wait=False, **self._worker_options(concurrency))

        asyncio.run(run())
        return {}

    def verify(self, url: str, jobs: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            rows = dict(conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1").fetchall())
            started = conn.execute("SELECT count(*) FROM procrastinate_events WHERE type = 'started'").fetchone()
        if rows != {"succeeded": jobs} or started is None or started[0] != jobs:
            raise SystemExit(f"procrastinate: jobs by status {rows}, {started} started events, for {jobs} jobs")

    def consume(self, url: str, jobs: int, concurrency: int, starts: Starts, ready: Callable[[], None]) -> None:
        global _on_start
        _on_start = starts.record

        async def run() -> None:
            app, _ = make_app(url, concurrency)
            async with app.open_async():
                worker = asyncio.create_task(app.run_worker_async(**self._worker_options(concurrency)))
                await asyncio.sleep(1.0)  # registered, first fetch done, LISTEN issued
                ready()
                deadline = time.monotonic() + 600
                while len(starts) < jobs and not worker.done() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker

        asyncio.run(run())

    def produce(self, url: str, jobs: int, rate: float) -> list[tuple[int, float]]:
        async def run() -> list[tuple[int, float]]:
            app, noop = make_app(url)
            commits: list[tuple[int, float]] = []
            async with app.open_async():
                for _i, delay in trickle(jobs, rate):
                    if delay > 0:
                        await asyncio.sleep(delay)
                    job_id = await noop.defer_async()  # autocommit: committed when it returns
                    commits.append((job_id, time.time()))
            return commits

        return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main(Procrastinate()))

"""Benchmark of the job queue on SQLite and PostgreSQL.

    .venv/bin/python bench/queue.py [--backends sqlite,postgresql] [--jobs N] [--out docs/BENCHMARKS.md]

`make bench` runs it, with the worker benchmark, through `bench/run.py`, which writes both into
docs/BENCHMARKS.md; this command line writes the queue's section alone (to --out). PostgreSQL is found
in FONDATION_TEST_PG_URL (or --pg-url): run it beside a throwaway cluster with
`scripts/with-postgres.sh .venv/bin/python bench/queue.py`. Each measurement gets a fresh database
(a new SQLite file, a new PostgreSQL database, dropped afterwards).

What is measured, per backend:

1. claim+complete throughput: N no-op jobs (distinct sources, so de-duplication merges none) are
   enqueued one transaction each (timed separately), then drained by `JobQueue.claim` + `complete`
   exactly as a worker does, fencing included: one process with claim limit 1 (the headline), one
   process with limit 10 and 50, and 2 and 4 processes (multiprocessing spawn, each with its own
   `Database`) with limit 1. The drain is checked afterwards: N jobs succeeded, N claimed events.
2. enqueue→claim latency: a producer process enqueues at a steady trickle while the consumer (this
   process) claims; latency = claim return - enqueue commit, both read from `time.time()`. On SQLite
   the consumer polls every POLL_INTERVAL on a fixed cadence; on PostgreSQL it sleeps on
   LISTEN/NOTIFY with the poll interval as fallback timeout.
3. SQLite both with the shipped durability (synchronous=FULL, WAL) and with synchronous=NORMAL.

`run_benchmark` measures and `section` turns the figures into the document's part (see bench/common.py).
This is a benchmark, not a test: it prints PASS/MISS against the targets but always exits 0 unless
something actually broke.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a script (`python bench/queue.py`), not imported as `bench.queue`
    # Python put this folder first on sys.path, where this file would shadow the standard library's
    # `queue` (which multiprocessing imports): put the repository root there instead, so that the
    # `bench` package imports and the standard library's `queue` is the one found.
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [str(_HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != _HERE)]

import argparse
import cProfile
import io
import multiprocessing as mp
import pstats
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from queue import Empty  # (the standard library's: this folder is off sys.path)
from typing import Any

from bench.common import (
    POSTGRESQL,
    SQLITE_FULL,
    SQLITE_NORMAL,
    Backend,
    Databases,
    Machine,
    Section,
    TargetRow,
    add_backend_arguments,
    at_least,
    at_most,
    checked_backends,
    default_setting,
    enqueue_many,
    fmt_rate,
    open_queue,
    publish,
    source,
    table,
    verdict,
)
from fondation.domain.jobs import JobStatus
from fondation.queue.jobs import JobQueue
from fondation.queue.sql import NOTIFY_CHANNEL  # (JobQueue.enqueue notifies it on PostgreSQL)
from fondation.store.database import Database
from fondation.worker.wakeup import PgListener

LEASE_SECONDS = 300.0
TARGET_SQLITE_JOBS_PER_S = 2000.0
TARGET_PG_JOBS_PER_S = 1500.0
TARGET_PG_P50_MS = 20.0
DEFAULT_POLL_MS = int(default_setting("poll_interval_ms"))


@dataclass(frozen=True)
class QueueConfig:
    """What one run of the queue benchmark measures, and how big."""

    backends: tuple[str, ...] = ("sqlite", "postgresql")
    jobs: int = 5000  # per throughput measurement
    poll_interval_ms: int = 100  # POLL_INTERVAL of the latency run
    rate: float = 50.0  # producer rate (jobs/s) of the latency run
    latency_seconds: float = 10.0
    fill_producers: int = 4  # threads filling the queue for PostgreSQL rows after the first
    profile: Path | None = None  # write cProfile stats of the single-process drains here
    skip_latency: bool = False
    skip_throughput: bool = False

    def backend_list(self) -> list[Backend]:
        found: list[Backend] = []
        if "sqlite" in self.backends:
            found += [SQLITE_FULL, SQLITE_NORMAL]
        if "postgresql" in self.backends:
            found.append(POSTGRESQL)
        return found


# --------------------------------------------------------------------------- throughput


@dataclass
class Drain:
    jobs: int
    seconds: float
    claim_seconds: float = 0.0
    complete_seconds: float = 0.0
    claims: int = 0


def drain(queue: JobQueue, worker_id: str, limit: int) -> Drain:
    """What a worker's loop does with no-op jobs: claim up to `limit`, complete each, until none is ready."""
    done = claims = 0
    in_claim = in_complete = 0.0
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        leases = queue.claim(worker_id, lease_seconds=LEASE_SECONDS, limit=limit)
        t1 = time.perf_counter()
        in_claim += t1 - t0
        claims += 1
        if not leases:
            break
        for lease in leases:
            queue.complete(lease)  # fenced: matches id + lease_token + status = 'running'
        in_complete += time.perf_counter() - t1
        done += len(leases)
    return Drain(done, time.perf_counter() - start, in_claim, in_complete, claims)


def _drain_process(url: str, backend: Backend, worker_id: str, limit: int, barrier: Any, results: Any) -> None:
    """One worker process of the multi-process variant (top level so that spawn can import it)."""
    database, queue = open_queue(url, backend)
    try:
        barrier.wait(timeout=120)
        start = time.time()
        result = drain(queue, worker_id, limit)
        results.put((worker_id, result.jobs, start, time.time()))
    finally:
        database.dispose()


@dataclass
class Throughput:
    backend: Backend
    variant: str
    processes: int
    limit: int
    jobs: int
    enqueue_seconds: float
    drain_seconds: float
    producers: int = 1
    claim_seconds: float = 0.0
    complete_seconds: float = 0.0
    per_process: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.jobs / self.drain_seconds

    @property
    def enqueue_rate(self) -> float:
        return self.jobs / self.enqueue_seconds

    @property
    def target(self) -> float:
        """The backend's target rate (set for one process, claim limit 1)."""
        return TARGET_SQLITE_JOBS_PER_S if self.backend.kind == "sqlite" else TARGET_PG_JOBS_PER_S


def verify_drained(database: Database, queue: JobQueue, n: int) -> None:
    counts = queue.counts()
    claimed = database.scalar("SELECT count(*) FROM job_events WHERE kind = 'claimed'")
    succeeded_events = database.scalar("SELECT count(*) FROM job_events WHERE kind = 'succeeded'")
    if counts[JobStatus.SUCCEEDED] != n or claimed != n or succeeded_events != n:
        raise SystemExit(
            f"drain check failed: {counts[JobStatus.SUCCEEDED]} succeeded jobs, {claimed} claimed and "
            f"{succeeded_events} succeeded events for {n} jobs"
        )


def measure_throughput(
    dbs: Databases, variant: str, n: int, processes: int, limit: int, producers: int, profile: Path | None
) -> Throughput:
    backend = dbs.backend
    with dbs.fresh() as url:
        database, queue = open_queue(url, backend, migrate=True)
        try:
            enqueue_seconds = enqueue_many(queue, n, producers)
            if processes == 1:
                profiler = cProfile.Profile() if profile else None
                if profiler:
                    profiler.enable()
                result = drain(queue, "bench-worker-1", limit)
                if profiler and profile:
                    profiler.disable()
                    write_profile(profiler, profile, f"{backend.key}-{variant}-limit{limit}")
                out = Throughput(
                    backend,
                    variant,
                    1,
                    limit,
                    result.jobs,
                    enqueue_seconds,
                    result.seconds,
                    producers,
                    result.claim_seconds,
                    result.complete_seconds,
                    [result.jobs],
                )
            else:
                out = _multi_process(url, backend, variant, processes, limit, enqueue_seconds)
                out.producers = producers
            if out.jobs != n:
                raise SystemExit(f"{backend.key} {variant}: drained {out.jobs} of {n} jobs")
            verify_drained(database, queue, n)
            return out
        finally:
            database.dispose()


def _multi_process(
    url: str, backend: Backend, variant: str, processes: int, limit: int, enqueue_seconds: float
) -> Throughput:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_drain_process, args=(url, backend, f"bench-worker-{i + 1}", limit, barrier, results))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    rows: list[tuple[str, int, float, float]] = []
    while len(rows) < processes:
        try:
            rows.append(results.get(timeout=1))
        except Empty:
            if any(worker.exitcode not in (None, 0) for worker in workers):
                for worker in workers:
                    worker.kill()
                raise SystemExit(f"{backend.key} {variant}: a worker process failed") from None
    for worker in workers:
        worker.join(timeout=60)
        if worker.exitcode != 0:
            raise SystemExit(f"{backend.key} {variant}: a worker process exited with {worker.exitcode}")
    start = min(row[2] for row in rows)
    end = max(row[3] for row in rows)
    per_process = sorted((row[1] for row in rows), reverse=True)
    return Throughput(
        backend, variant, processes, limit, sum(per_process), enqueue_seconds, end - start, per_process=per_process
    )


def write_profile(profiler: cProfile.Profile, directory: Path, name: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(directory / f"{name}.pstats")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(45)
    (directory / f"{name}.txt").write_text(text.getvalue())


# --------------------------------------------------------------------------- latency


@dataclass
class Latency:
    backend: Backend
    wakeup: str
    poll_seconds: float
    rate: float
    samples: list[float]  # seconds
    woken_by_notify: int = 0
    woken_by_timeout: int = 0

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def target_ms(self) -> float:
        return TARGET_PG_P50_MS if self.backend.kind == "postgresql" else self.poll_seconds * 1000 / 2


def _producer_process(url: str, backend: Backend, rate: float, n: int, ready: Any, go: Any, results: Any) -> None:
    """Enqueue `n` jobs at `rate` per second; report (job id, commit time) pairs."""
    database, queue = open_queue(url, backend)
    rng = random.Random(1)
    run = uuid.uuid4().hex[:8]
    records = []
    try:
        ready.set()
        go.wait(timeout=120)
        start = time.time() + 0.05
        for i in range(n):
            # One job per 1/rate slot, at a random point in its slot: a steady rate whose phase does
            # not lock onto the consumer's poll ticks (which would make the percentiles an artefact).
            delay = start + (i + rng.random()) / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            job_id = queue.enqueue(source(run, i), actor="bench-producer").job.id
            records.append((job_id, time.time()))  # enqueue() returns once its transaction committed
    finally:
        results.put(records)
        database.dispose()


def measure_latency(dbs: Databases, poll_seconds: float, rate: float, seconds: float) -> Latency:
    backend = dbs.backend
    n = max(1, round(rate * seconds))
    use_notify = backend.kind == "postgresql"
    with dbs.fresh() as url:
        database, queue = open_queue(url, backend, migrate=True)
        # The consumer is the worker's claim loop (fondation.worker.runtime): clear the wake-up event,
        # claim until nothing is ready (here limit 1, completing each no-op job), then wait on the event
        # for at most POLL_INTERVAL. On PostgreSQL the worker's own PgListener sets the event on NOTIFY;
        # on SQLite nothing can from another process, so every wait lasts the full interval.
        wake = threading.Event()
        listener = None
        if use_notify:
            listener = PgListener(url, on_job=wake.set, on_cancel=lambda _job_id: None)
            listener.start()
            if not listener.connected.wait(timeout=30):
                raise SystemExit(f"latency on {backend.key}: the LISTEN connection did not come up")
        ctx = mp.get_context("spawn")
        ready, go, results = ctx.Event(), ctx.Event(), ctx.Queue()
        producer = ctx.Process(target=_producer_process, args=(url, backend, rate, n, ready, go, results))
        producer.start()
        try:
            while not ready.wait(timeout=0.5):
                if not producer.is_alive():
                    raise SystemExit(f"latency on {backend.key}: the producer process failed to start")
            go.set()
            claimed: dict[int, float] = {}
            by_notify = by_timeout = 0
            deadline = time.time() + seconds + 60
            while len(claimed) < n and time.time() < deadline:
                producer_gone = not producer.is_alive()  # before the pass, so the pass sees its last job
                wake.clear()
                while leases := queue.claim("bench-consumer", lease_seconds=LEASE_SECONDS, limit=1):
                    at = time.time()
                    for lease in leases:
                        claimed[lease.job_id] = at
                        queue.complete(lease)
                if len(claimed) >= n or producer_gone:
                    break
                if wake.wait(poll_seconds):
                    by_notify += 1
                else:
                    by_timeout += 1
            records = results.get(timeout=60)
        finally:
            producer.join(timeout=60)
            if listener is not None:
                listener.stop()
            database.dispose()
    if len(claimed) != n or len(records) != n:
        raise SystemExit(f"latency on {backend.key}: {len(records)} enqueued, {len(claimed)} claimed of {n}")
    samples = [claimed[job_id] - committed for job_id, committed in records]
    return Latency(
        backend,
        "LISTEN/NOTIFY (PgListener) + poll fallback" if use_notify else "polling",
        poll_seconds,
        rate,
        samples,
        by_notify,
        by_timeout,
    )


def analysis(throughputs: list[Throughput], fsync_seconds: float) -> list[str]:
    """A few sentences computed from this run's figures: where the time of one job goes."""
    lines = ["### Where the time goes (computed from this run)", ""]
    floor = 1 / (2 * fsync_seconds)
    for backend in dict.fromkeys(t.backend for t in throughputs):
        rows = {(t.processes, t.limit): t for t in throughputs if t.backend == backend}
        one = rows.get((1, 1))
        if one is None:
            continue
        claim, complete = one.claim_seconds / one.jobs * 1000, one.complete_seconds / one.jobs * 1000
        text = (
            f"- **{backend.label}**: unbatched, one job takes {1000 / one.rate:.2f} ms (claim {claim:.2f} + "
            f"complete {complete:.2f}), {one.rate / one.target:.2f}× the target rate."
        )
        if backend.kind == "sqlite" and backend.synchronous == "NORMAL":
            text += " NORMAL does not sync at commit: the time is statement execution."
        else:
            text += (
                f" Each job is two durable commits; at this disk's fdatasync p50 ({fsync_seconds * 1e6:,.0f} µs) "
                f"the syncs alone would allow about {floor:,.0f} jobs/s, so most of the time is statement "
                "execution (in Python: SQLAlchemy Core and the driver; in the database)."
            )
        batched = rows.get((1, 50))
        if batched is not None:
            text += (
                f" Claiming 50 at a time cuts claim to {batched.claim_seconds / batched.jobs * 1000:.2f} ms/job "
                f"and lifts the rate to {fmt_rate(batched.rate)} jobs/s, but each complete remains its own "
                f"transaction ({batched.complete_seconds / batched.jobs * 1000:.2f} ms/job)."
            )
        scaling = [f"{p} processes {rows[(p, 1)].rate / one.rate:.2f}×" for p in (2, 4) if (p, 1) in rows]
        if scaling:
            text += f" More processes, relative to one: {', '.join(scaling)}"
            text += (
                " (SQLite admits one writer at a time: the others wait in its sleeping busy handler)."
                if backend.kind == "sqlite"
                else " (the machine's cores are shared by the workers, the server and the benchmark)."
            )
        lines.append(text)
    lines += [
        "",
        "`python bench/queue.py --profile DIR` writes cProfile statistics of the single-process drains, to see "
        "which statements cost.",
        "",
    ]
    return lines


# --------------------------------------------------------------------------- the run and its report


VARIANTS = (  # (name, processes, claim limit)
    ("unbatched", 1, 1),
    ("batched", 1, 10),
    ("batched", 1, 50),
    ("multi-process", 2, 1),
    ("multi-process", 4, 1),
)


@dataclass
class QueueResults:
    """Everything one run measured."""

    config: QueueConfig
    throughputs: list[Throughput] = field(default_factory=list)
    latencies: list[Latency] = field(default_factory=list)


def run_benchmark(config: QueueConfig, *, sqlite_dir: Path, pg_url: str | None) -> QueueResults:
    """Measure every backend of `config`, printing each figure as it comes."""
    results = QueueResults(config)
    for backend in config.backend_list():
        dbs = Databases(backend, sqlite_dir=sqlite_dir, pg_url=pg_url)
        if not config.skip_throughput:
            for index, (variant, processes, limit) in enumerate(VARIANTS):
                # The first row's enqueue is the single-producer figure; the other rows only need
                # their queue filled, which several producers do faster where the server allows it.
                producers = 1 if index == 0 or backend.kind == "sqlite" else config.fill_producers
                t = measure_throughput(dbs, variant, config.jobs, processes, limit, producers, config.profile)
                results.throughputs.append(t)
                print(
                    f"{backend.label:<42} {variant:<14} p={processes} limit={limit:<3} "
                    f"enqueue {fmt_rate(t.enqueue_rate):>6}/s  claim+complete {fmt_rate(t.rate):>6} jobs/s  "
                    f"({t.rate / t.target:.2f}× target) {verdict(t.rate >= t.target)}",
                    flush=True,
                )
        if not config.skip_latency:
            lat = measure_latency(dbs, config.poll_interval_ms / 1000, config.rate, config.latency_seconds)
            results.latencies.append(lat)
            print(
                f"{backend.label:<42} latency ({lat.wakeup}, poll {config.poll_interval_ms} ms): "
                f"p50 {lat.p50 * 1000:.1f} ms  p99 {lat.pct(99) * 1000:.1f} ms  "
                f"target ≤ {lat.target_ms:g} ms {verdict(lat.p50 * 1000 <= lat.target_ms)}",
                flush=True,
            )
    return results


def targets(results: QueueResults) -> list[TargetRow]:
    """The queue's rows of the targets table: the unbatched single-process rates, the latencies."""
    rows = [
        at_least(
            f"{t.backend.label}: ≥ {t.target:,.0f} jobs/s, one process, unbatched",
            f"{fmt_rate(t.rate)} jobs/s",
            t.rate,
            t.target,
        )
        for t in results.throughputs
        if t.processes == 1 and t.limit == 1
    ]
    for lat in results.latencies:
        how = (
            "with LISTEN/NOTIFY" if lat.wakeup.startswith("LISTEN") else f"polling every {lat.poll_seconds * 1000:g} ms"
        )
        rows.append(
            at_most(
                f"{lat.backend.label}: enqueue→claim p50 ≤ {lat.target_ms:g} ms {how}",
                f"{lat.p50 * 1000:.1f} ms",
                lat.p50 * 1000,
                lat.target_ms,
            )
        )
    return rows


def method(config: QueueConfig) -> list[str]:
    """How the queue is measured, for the document's Method section."""
    return [
        f"**Throughput.** Each row starts from an empty database. {config.jobs:,} no-op jobs with distinct "
        "sources (so de-duplication merges none) are enqueued one `JobQueue.enqueue` transaction each "
        "(timed separately), then drained with `JobQueue.claim(worker_id, lease_seconds=300, limit=L)` "
        "and `JobQueue.complete(lease)` for each lease, exactly as a worker does: every complete is "
        "fenced by the lease token, every transition writes its job_event, every transaction commits "
        "durably. The clock runs from the first claim to the empty claim that ends the drain. The "
        "multi-process rows start 2 or 4 processes (multiprocessing `spawn`, each with its own "
        "`Database`), release them together through a barrier and time from release to the last "
        "finish. Afterwards the run is checked: every job succeeded, claimed exactly once.",
        f"**Latency.** A producer process enqueues {config.rate:g} jobs/s for {config.latency_seconds:g} s "
        "(one job at a random point of each 1/rate slot, so arrivals do not lock onto the poll period), "
        "while the consumer, in another process, runs the worker's claim loop "
        "(`fondation.worker.runtime`): clear the wake-up event, claim with limit 1 until nothing is "
        "ready (completing each no-op job), then wait on the event for at most POLL_INTERVAL. Latency "
        "is the time from `enqueue` returning (its transaction committed) to `claim` returning that "
        "job, both read from `time.time()` on the same machine. POLL_INTERVAL is "
        f"{config.poll_interval_ms} ms here (the shipped default is {DEFAULT_POLL_MS} ms; on SQLite, "
        "latency is set by it). On SQLite nothing can wake the worker from another process, so each "
        "wait lasts the full interval. On PostgreSQL `JobQueue.enqueue` issues "
        f"`NOTIFY {NOTIFY_CHANNEL}` inside its transaction (delivered at commit), and the worker's "
        "`PgListener` thread sets the event when it arrives; the interval is only the fallback.",
        "**SQLite durability.** The shipped setting is WAL with `synchronous=FULL` (the WAL is "
        "fsynced at every commit, so a committed job survives power loss). `synchronous=NORMAL` "
        "fsyncs only at checkpoints: a crash of the process loses nothing, a power loss can lose the "
        "last transactions. It is measured for comparison, not recommended.",
    ]


def details(results: QueueResults, fsync_seconds: float) -> list[str]:
    """The queue's detail tables and the analysis computed from them."""
    out: list[str] = []
    if results.throughputs:
        out += [
            "## Job queue: claim + complete throughput",
            "",
            "Ratio: the row's rate over the backend's target (SQLite 2,000 jobs/s, PostgreSQL 1,500 jobs/s; "
            "the target itself is for one process, claim limit 1). Per-job ms: mean time in `claim` and in "
            "`complete` per job, single-process rows only.",
            "",
        ]
        out += table(
            [
                "backend",
                "variant",
                "processes",
                "claim limit",
                "jobs",
                "enqueue (jobs/s, producers)",
                "drain (s)",
                "claim+complete (jobs/s)",
                "ratio",
                "per-job claim / complete (ms)",
                "result",
            ],
            (_throughput_cells(t) for t in results.throughputs),
        )
        out += analysis(results.throughputs, fsync_seconds)
    if results.latencies:
        out += ["## Job queue: enqueue → claim latency", ""]
        out += table(
            [
                "backend",
                "wake-up",
                "poll interval",
                "jobs",
                "p50 (ms)",
                "p90 (ms)",
                "p99 (ms)",
                "max (ms)",
                "target p50",
                "ratio",
                "wake-ups",
                "result",
            ],
            (_latency_cells(lat) for lat in results.latencies),
        )
        out += [
            "Ratio: p50 over the target (below 1 is better). On SQLite a job waits for the end of the "
            "current wait, uniformly between 0 and one cycle (the interval plus one claim pass), and then "
            "for its claim, so p50 ≈ half the interval plus about a claim: the target sits on that expected "
            "value, and only a shorter interval or a wake-up signal moves it.",
            "",
        ]
    return out


def _throughput_cells(t: Throughput) -> list[str]:
    split = (
        f"{t.claim_seconds / t.jobs * 1000:.2f} / {t.complete_seconds / t.jobs * 1000:.2f}"
        if t.processes == 1
        else "jobs per process: " + ", ".join(str(x) for x in t.per_process)
    )
    return [
        t.backend.label,
        t.variant,
        str(t.processes),
        str(t.limit),
        f"{t.jobs:,}",
        f"{fmt_rate(t.enqueue_rate)} ({t.producers})",
        f"{t.drain_seconds:.2f}",
        f"**{fmt_rate(t.rate)}**",
        f"{t.rate / t.target:.2f}",
        split,
        verdict(t.rate >= t.target),
    ]


def _latency_cells(lat: Latency) -> list[str]:
    wakeups = (
        f"{lat.woken_by_notify} by NOTIFY, {lat.woken_by_timeout} by timeout"
        if lat.wakeup.startswith("LISTEN")
        else "every poll"
    )
    return [
        lat.backend.label,
        lat.wakeup,
        f"{lat.poll_seconds * 1000:g} ms",
        str(len(lat.samples)),
        f"**{lat.p50 * 1000:.1f}**",
        f"{lat.pct(90) * 1000:.1f}",
        f"{lat.pct(99) * 1000:.1f}",
        f"{max(lat.samples) * 1000:.1f}",
        f"≤ {lat.target_ms:g} ms",
        f"{lat.p50 * 1000 / lat.target_ms:.2f}",
        wakeups,
        verdict(lat.p50 * 1000 <= lat.target_ms),
    ]


def section(results: QueueResults, fsync_seconds: float) -> Section:
    """The queue's part of the document (nothing is written here)."""
    config = results.config
    notes = (
        ["cProfile was on (`--profile`): the single-process queue rates below are slowed by it."]
        if config.profile
        else []
    )
    return Section(
        title="Job queue",
        method=method(config),
        targets=targets(results),
        details=details(results, fsync_seconds),
        notes=notes,
        settings=f"{config.jobs:,} jobs per throughput row",
    )


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> tuple[QueueConfig, argparse.Namespace]:
    defaults = QueueConfig()
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_backend_arguments(parser)
    parser.add_argument("--jobs", type=int, default=defaults.jobs, help="jobs per throughput measurement")
    parser.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    parser.add_argument("--sqlite-dir", type=Path, default=None, help="where the SQLite files go (a temp dir)")
    parser.add_argument(
        "--poll-interval-ms", type=int, default=defaults.poll_interval_ms, help="POLL_INTERVAL for the latency run"
    )
    parser.add_argument("--rate", type=float, default=defaults.rate, help="producer rate (jobs/s) for the latency run")
    parser.add_argument("--latency-seconds", type=float, default=defaults.latency_seconds)
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats of single-process drains here")
    parser.add_argument(
        "--fill-producers",
        type=int,
        default=defaults.fill_producers,
        help="threads filling the queue for PostgreSQL rows after the first",
    )
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    backends = checked_backends(parser, args)
    config = QueueConfig(
        backends=backends,
        jobs=args.jobs,
        poll_interval_ms=args.poll_interval_ms,
        rate=args.rate,
        latency_seconds=args.latency_seconds,
        fill_producers=args.fill_producers,
        profile=args.profile,
        skip_latency=args.skip_latency,
        skip_throughput=args.skip_throughput,
    )
    return config, args


def main(argv: list[str] | None = None) -> int:
    config, args = parse_args(argv)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    own_dir = args.sqlite_dir is None
    sqlite_dir = Path(tempfile.mkdtemp(prefix="fondation-bench-")) if own_dir else args.sqlite_dir
    sqlite_dir.mkdir(parents=True, exist_ok=True)
    try:
        machine = Machine(sqlite_dir, args.pg_url, kinds=config.backends, sqlite_levels=("FULL", "NORMAL"))
        results = run_benchmark(config, sqlite_dir=sqlite_dir, pg_url=args.pg_url)
        machine.finish()
    finally:
        if own_dir:
            shutil.rmtree(sqlite_dir, ignore_errors=True)
    elapsed = time.perf_counter() - clock
    publish(
        args.out,
        title="Job queue benchmarks",
        command=".venv/bin/python bench/queue.py",
        started=started,
        elapsed=elapsed,
        machine=machine,
        sections=[section(results, machine.fsync_seconds)],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

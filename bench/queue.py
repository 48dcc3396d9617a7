"""Benchmark of the job queue on SQLite and PostgreSQL; writes docs/BENCHMARKS.md.

    .venv/bin/python bench/queue.py [--backends sqlite,postgresql] [--jobs N] [--out docs/BENCHMARKS.md]

PostgreSQL is found in FONDATION_TEST_PG_URL (or --pg-url): run it beside a throwaway cluster with
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

This is a benchmark, not a test: it prints PASS/MISS against the targets but always exits 0 unless
something actually broke.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named queue.py and Python puts its folder first on sys.path, where it would shadow the
# standard library's `queue` (which multiprocessing imports). Take the folder off before anything else.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from queue import Empty  # noqa: E402  (the standard library's: this folder is off sys.path)
from typing import Any  # noqa: E402

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from fondation.config import Settings  # noqa: E402
from fondation.domain.jobs import JobStatus  # noqa: E402
from fondation.domain.sources import SourceKind, SourceSpec  # noqa: E402
from fondation.queue.jobs import JobQueue  # noqa: E402
from fondation.queue.sql import NOTIFY_CHANNEL  # noqa: E402  (JobQueue.enqueue notifies it on PostgreSQL)
from fondation.store.database import Database, open_database  # noqa: E402
from fondation.worker.wakeup import PgListener  # noqa: E402

LEASE_SECONDS = 300.0
TARGET_SQLITE_JOBS_PER_S = 2000.0
TARGET_PG_JOBS_PER_S = 1500.0
TARGET_PG_P50_MS = 20.0
DEFAULT_SYNCHRONOUS = str(Settings.model_fields["sqlite_synchronous"].default).upper()
DEFAULT_POLL_MS = int(Settings.model_fields["poll_interval_ms"].default)


# --------------------------------------------------------------------------- backends


@dataclass(frozen=True)
class Backend:
    """One database configuration under test."""

    key: str  # "sqlite-full", "sqlite-normal", "postgresql"
    label: str
    kind: str  # "sqlite" or "postgresql"
    synchronous: str = DEFAULT_SYNCHRONOUS  # SQLite only

    @property
    def target(self) -> float:
        return TARGET_SQLITE_JOBS_PER_S if self.kind == "sqlite" else TARGET_PG_JOBS_PER_S


class Databases:
    """Hands out fresh, empty databases of one backend, and removes them afterwards."""

    def __init__(self, backend: Backend, *, sqlite_dir: Path | None, pg_url: str | None) -> None:
        self.backend = backend
        self.sqlite_dir = sqlite_dir
        self.pg_url = pg_url
        self._count = 0

    @contextmanager
    def fresh(self) -> Iterator[str]:
        self._count += 1
        if self.backend.kind == "sqlite":
            assert self.sqlite_dir is not None
            path = self.sqlite_dir / f"{self.backend.key}-{self._count}-{uuid.uuid4().hex[:8]}.db"
            try:
                yield f"sqlite:///{path}"
            finally:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        assert self.pg_url is not None
        name = f"fondation_bench_{os.getpid()}_{self._count}"
        with psycopg.connect(libpq_url(self.pg_url), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(self.pg_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with psycopg.connect(libpq_url(self.pg_url), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def libpq_url(url: str) -> str:
    """The URL psycopg itself accepts (no SQLAlchemy `+driver`)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def open_queue(url: str, backend: Backend, *, migrate: bool = False) -> tuple[Database, JobQueue]:
    kwargs: dict[str, Any] = {"sqlite_synchronous": backend.synchronous} if backend.kind == "sqlite" else {}
    database = open_database(url, **kwargs) if migrate else Database(url, **kwargs)
    database.scalar("SELECT 1")  # connect (and apply the PRAGMAs) before any timing starts
    return database, JobQueue(database)


def source(run: str, i: int) -> SourceSpec:
    """A distinct source per job, so that de-duplication never merges two of them."""
    return SourceSpec(kind=SourceKind.GIT, canonical=f"https://bench.invalid/{run}/repo-{i}.git", name=f"repo-{i}")


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


def enqueue_many(queue: JobQueue, n: int, producers: int = 1) -> float:
    """Enqueue n jobs, one transaction each, from `producers` threads (each on its own connection)."""
    run = uuid.uuid4().hex[:8]
    failures: list[BaseException] = []

    def produce(first: int) -> None:
        try:
            for i in range(first, n, producers):
                if not queue.enqueue(source(run, i), actor="bench").created:
                    raise AssertionError(f"job {i} was merged into another")
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(producers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - start


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
                if profiler:
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


# --------------------------------------------------------------------------- the machine


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory() -> str:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def os_name() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return f"{line.split('=', 1)[1].strip(chr(34))}, kernel {platform.release()}"
    return platform.platform()


def filesystem(path: Path) -> str:
    best = ("", "?", "?")
    resolved = str(path.resolve())
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if (
            len(parts) >= 3
            and (resolved == parts[1] or resolved.startswith(parts[1].rstrip("/") + "/"))
            and len(parts[1]) >= len(best[0])
        ):
            best = (parts[1], parts[2], parts[0])
    return f"{best[1]} ({best[2]})"


def fsync_probe(directory: Path, seconds: float = 0.5) -> tuple[float, str]:
    """Median latency of an 8 kB write + fdatasync in `directory`: the floor under every durable commit."""
    path = directory / f"fsync-probe-{uuid.uuid4().hex[:8]}"
    block = os.urandom(8192)
    samples: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            os.pwrite(fd, block, 0)
            os.fdatasync(fd)
            samples.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    ordered = sorted(samples)
    p50, p90 = statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]
    return p50, f"p50 {p50 * 1e6:,.0f} µs, p90 {p90 * 1e6:,.0f} µs"


def load_now() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def load_average() -> str:
    try:
        one, five, _fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def postgres_info(url: str) -> dict[str, str]:
    names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "data_directory")
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        return {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in names}


def sqlite_settings(directory: Path, synchronous: str) -> str:
    levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    database = Database(f"sqlite:///{directory / 'probe.db'}", sqlite_synchronous=synchronous)
    try:
        mode = database.scalar("PRAGMA journal_mode")
        level = levels.get(database.scalar("PRAGMA synchronous"), "?")
    finally:
        database.dispose()
    return f"journal_mode={mode}, synchronous={level}"


# --------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def render(
    *,
    started: datetime,
    elapsed: float,
    args: argparse.Namespace,
    machine: list[tuple[str, str]],
    throughputs: list[Throughput],
    latencies: list[Latency],
    targets: list[tuple[str, str, str, str]],
    fsync_seconds: float,
    peak_load: float,
) -> str:
    out: list[str] = []
    add = out.append
    add("# Job queue benchmarks")
    add("")
    add(
        "> Generated by `make bench` (`.venv/bin/python bench/queue.py`, PostgreSQL from "
        "`scripts/with-postgres.sh`). Do not edit by hand: run it again."
    )
    add("")
    add(f"Run on {started:%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s in all, with `--jobs {args.jobs}`.")
    add("")
    if args.profile:
        add("**cProfile was on (`--profile`): the single-process rates below are slowed by it.**")
        add("")
    cores = os.cpu_count() or 1
    if peak_load > cores / 2:
        add(
            f"**The machine was busy with other work (load average up to {peak_load:.1f} on {cores} cores): "
            "the figures are lower, and the latencies longer, than on an idle machine.**"
        )
        add("")
    add("## Machine")
    add("")
    add("| | |")
    add("| --- | --- |")
    for key, value in machine:
        add(f"| {key} | {value} |")
    add("")
    add("## Method")
    add("")
    add(
        f"**Throughput.** Each row starts from an empty database. {args.jobs:,} no-op jobs with distinct "
        "sources (so de-duplication merges none) are enqueued one `JobQueue.enqueue` transaction each "
        "(timed separately), then drained with `JobQueue.claim(worker_id, lease_seconds=300, limit=L)` "
        "and `JobQueue.complete(lease)` for each lease, exactly as a worker does: every complete is "
        "fenced by the lease token, every transition writes its job_event, every transaction commits "
        "durably. The clock runs from the first claim to the empty claim that ends the drain. The "
        "multi-process rows start 2 or 4 processes (multiprocessing `spawn`, each with its own "
        "`Database`), release them together through a barrier and time from release to the last "
        "finish. Afterwards the run is checked: every job succeeded, claimed exactly once."
    )
    add("")
    add(
        f"**Latency.** A producer process enqueues {args.rate:g} jobs/s for {args.latency_seconds:g} s "
        "(one job at a random point of each 1/rate slot, so arrivals do not lock onto the poll period), "
        "while the consumer, in another process, runs the worker's claim loop "
        "(`fondation.worker.runtime`): clear the wake-up event, claim with limit 1 until nothing is "
        "ready (completing each no-op job), then wait on the event for at most POLL_INTERVAL. Latency "
        "is the time from `enqueue` returning (its transaction committed) to `claim` returning that "
        "job, both read from `time.time()` on the same machine. POLL_INTERVAL is "
        f"{args.poll_interval_ms} ms here (the shipped default is {DEFAULT_POLL_MS} ms; on SQLite, "
        "latency is set by it). On SQLite nothing can wake the worker from another process, so each "
        "wait lasts the full interval. On PostgreSQL `JobQueue.enqueue` issues "
        f"`NOTIFY {NOTIFY_CHANNEL}` inside its transaction (delivered at commit), and the worker's "
        "`PgListener` thread sets the event when it arrives; the interval is only the fallback."
    )
    add("")
    add(
        "**SQLite durability.** The shipped setting is WAL with `synchronous=FULL` (the WAL is "
        "fsynced at every commit, so a committed job survives power loss). `synchronous=NORMAL` "
        "fsyncs only at checkpoints: a crash of the process loses nothing, a power loss can lose the "
        "last transactions. It is measured for comparison, not recommended."
    )
    add("")
    add("## Targets")
    add("")
    add("| target | measured | ratio to target | result |")
    add("| --- | --- | --- | --- |")
    for row in targets:
        add(f"| {' | '.join(row)} |")
    add("")
    add("## Claim + complete throughput")
    add("")
    add(
        "Ratio: the row's rate over the backend's target (SQLite 2,000 jobs/s, PostgreSQL 1,500 jobs/s; "
        "the target itself is for one process, claim limit 1). Per-job ms: mean time in `claim` and in "
        "`complete` per job, single-process rows only."
    )
    add("")
    add(
        "| backend | variant | processes | claim limit | jobs | enqueue (jobs/s, producers) | drain (s) "
        "| claim+complete (jobs/s) | ratio | per-job claim / complete (ms) | result |"
    )
    add("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for t in throughputs:
        split = (
            f"{t.claim_seconds / t.jobs * 1000:.2f} / {t.complete_seconds / t.jobs * 1000:.2f}"
            if t.processes == 1
            else "jobs per process: " + ", ".join(str(x) for x in t.per_process)
        )
        add(
            f"| {t.backend.label} | {t.variant} | {t.processes} | {t.limit} | {t.jobs:,} | "
            f"{fmt_rate(t.enqueue_rate)} ({t.producers}) | {t.drain_seconds:.2f} | **{fmt_rate(t.rate)}** | "
            f"{t.rate / t.backend.target:.2f} | {split} | {verdict(t.rate >= t.backend.target)} |"
        )
    add("")
    out.extend(analysis(throughputs, fsync_seconds))
    add("## Enqueue → claim latency")
    add("")
    add(
        "| backend | wake-up | poll interval | jobs | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) "
        "| target p50 | ratio | wake-ups | result |"
    )
    add("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for lat in latencies:
        wakeups = (
            f"{lat.woken_by_notify} by NOTIFY, {lat.woken_by_timeout} by timeout"
            if lat.wakeup.startswith("LISTEN")
            else "every poll"
        )
        add(
            f"| {lat.backend.label} | {lat.wakeup} | {lat.poll_seconds * 1000:g} ms | {len(lat.samples)} | "
            f"**{lat.p50 * 1000:.1f}** | {lat.pct(90) * 1000:.1f} | {lat.pct(99) * 1000:.1f} | "
            f"{max(lat.samples) * 1000:.1f} | ≤ {lat.target_ms:g} ms | {lat.p50 * 1000 / lat.target_ms:.2f} "
            f"| {wakeups} | {verdict(lat.p50 * 1000 <= lat.target_ms)} |"
        )
    add("")
    add(
        "Ratio: p50 over the target (below 1 is better). On SQLite a job waits for the end of the "
        "current wait, uniformly between 0 and one cycle (the interval plus one claim pass), and then "
        "for its claim, so p50 ≈ half the interval plus about a claim: the target sits on that expected "
        "value, and only a shorter interval or a wake-up signal moves it."
    )
    add("")
    return "\n".join(out)


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
            f"complete {complete:.2f}), {one.rate / backend.target:.2f}× the target rate."
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
        "`--profile DIR` writes cProfile statistics of the single-process drains, to see which statements cost.",
        "",
    ]
    return lines


def summarise_targets(throughputs: list[Throughput], latencies: list[Latency]) -> list[tuple[str, str, str, str]]:
    rows = []
    for t in throughputs:
        if t.processes == 1 and t.limit == 1:
            goal = t.backend.target
            rows.append(
                (
                    f"{t.backend.label}: ≥ {goal:,.0f} jobs/s, one process, unbatched",
                    f"{fmt_rate(t.rate)} jobs/s",
                    f"{t.rate / goal:.2f}",
                    verdict(t.rate >= goal),
                )
            )
    for lat in latencies:
        listens = lat.wakeup.startswith("LISTEN")
        how = "with LISTEN/NOTIFY" if listens else f"polling every {lat.poll_seconds * 1000:g} ms"
        rows.append(
            (
                f"{lat.backend.label}: enqueue→claim p50 ≤ {lat.target_ms:g} ms {how}",
                f"{lat.p50 * 1000:.1f} ms",
                f"{lat.p50 * 1000 / lat.target_ms:.2f}",
                verdict(lat.p50 * 1000 <= lat.target_ms),
            )
        )
    return rows


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--jobs", type=int, default=5000, help="jobs per throughput measurement")
    parser.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    parser.add_argument("--pg-url", default=os.environ.get("FONDATION_TEST_PG_URL"))
    parser.add_argument("--sqlite-dir", type=Path, default=None, help="where the SQLite files go (a temp dir)")
    parser.add_argument("--poll-interval-ms", type=int, default=100, help="POLL_INTERVAL for the latency run")
    parser.add_argument("--rate", type=float, default=50.0, help="producer rate (jobs/s) for the latency run")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats of single-process drains here")
    parser.add_argument(
        "--fill-producers", type=int, default=4, help="threads filling the queue for PostgreSQL rows after the first"
    )
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if "postgresql" in args.backends and not args.pg_url:
        parser.error("postgresql needs FONDATION_TEST_PG_URL or --pg-url (see scripts/with-postgres.sh)")
    return args


VARIANTS = (  # (name, processes, claim limit)
    ("unbatched", 1, 1),
    ("batched", 1, 10),
    ("batched", 1, 50),
    ("multi-process", 2, 1),
    ("multi-process", 4, 1),
)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    own_dir = args.sqlite_dir is None
    sqlite_dir = Path(tempfile.mkdtemp(prefix="fondation-bench-")) if own_dir else args.sqlite_dir
    sqlite_dir.mkdir(parents=True, exist_ok=True)

    backends: list[Backend] = []
    if "sqlite" in args.backends:
        backends.append(Backend("sqlite-full", "SQLite WAL, synchronous=FULL (default)", "sqlite", "FULL"))
        backends.append(Backend("sqlite-normal", "SQLite WAL, synchronous=NORMAL", "sqlite", "NORMAL"))
    if "postgresql" in args.backends:
        backends.append(Backend("postgresql", "PostgreSQL", "postgresql"))

    machine = [
        ("CPU", cpu_model()),
        ("cores (logical)", str(os.cpu_count())),
        ("memory", memory()),
        ("OS", os_name()),
        ("Python", platform.python_version()),
        ("psycopg", psycopg.__version__),
    ]
    if "sqlite" in args.backends:
        machine.append(("SQLite", sqlite3.sqlite_version))
        machine.append(("SQLite file system", filesystem(sqlite_dir)))
        for synchronous in ("FULL", "NORMAL"):
            machine.append((f"SQLite settings as opened ({synchronous})", sqlite_settings(sqlite_dir, synchronous)))
    load_start = load_now()
    machine.append(("load average at start", load_average()))
    fsync_start, shown = fsync_probe(sqlite_dir)
    machine.append(("8 kB write + fdatasync at start (SQLite directory)", shown))
    fsync_end = fsync_start
    if "postgresql" in args.backends:
        info = postgres_info(args.pg_url)
        data_dir = Path(info["data_directory"])
        where = filesystem(data_dir) if data_dir.is_dir() else "not on this machine"
        machine.append(("PostgreSQL", info["server_version"]))
        machine.append(("PostgreSQL data directory", f"{where}"))
        machine.append(
            (
                "PostgreSQL durability",
                f"fsync={info['fsync']}, synchronous_commit={info['synchronous_commit']}, "
                f"wal_sync_method={info['wal_sync_method']}, full_page_writes={info['full_page_writes']}",
            )
        )
        machine.append(("PostgreSQL server", "same machine, 127.0.0.1 (TCP)"))

    throughputs: list[Throughput] = []
    latencies: list[Latency] = []
    try:
        for backend in backends:
            dbs = Databases(backend, sqlite_dir=sqlite_dir, pg_url=args.pg_url)
            if not args.skip_throughput:
                for index, (variant, processes, limit) in enumerate(VARIANTS):
                    # The first row's enqueue is the single-producer figure; the other rows only need
                    # their queue filled, which several producers do faster where the server allows it.
                    producers = 1 if index == 0 or backend.kind == "sqlite" else args.fill_producers
                    t = measure_throughput(dbs, variant, args.jobs, processes, limit, producers, args.profile)
                    throughputs.append(t)
                    print(
                        f"{backend.label:<42} {variant:<14} p={processes} limit={limit:<3} "
                        f"enqueue {fmt_rate(t.enqueue_rate):>6}/s  claim+complete {fmt_rate(t.rate):>6} jobs/s  "
                        f"({t.rate / backend.target:.2f}× target) {verdict(t.rate >= backend.target)}",
                        flush=True,
                    )
            if not args.skip_latency:
                lat = measure_latency(dbs, args.poll_interval_ms / 1000, args.rate, args.latency_seconds)
                latencies.append(lat)
                print(
                    f"{backend.label:<42} latency ({lat.wakeup}, poll {args.poll_interval_ms} ms): "
                    f"p50 {lat.p50 * 1000:.1f} ms  p99 {lat.pct(99) * 1000:.1f} ms  "
                    f"target ≤ {lat.target_ms:g} ms {verdict(lat.p50 * 1000 <= lat.target_ms)}",
                    flush=True,
                )
        machine.append(("load average at end", load_average()))
        fsync_end, shown = fsync_probe(sqlite_dir)
        machine.append(("8 kB write + fdatasync at end (SQLite directory)", shown))
    finally:
        if own_dir:
            shutil.rmtree(sqlite_dir, ignore_errors=True)
    elapsed = time.perf_counter() - clock
    targets = summarise_targets(throughputs, latencies)
    print()
    for name, measured, ratio, result in targets:
        print(f"{result}  {name}: {measured} ({ratio}× target)")
    report = render(
        started=started,
        elapsed=elapsed,
        args=args,
        machine=machine,
        throughputs=throughputs,
        latencies=latencies,
        targets=targets,
        fsync_seconds=(fsync_start + fsync_end) / 2,
        peak_load=max(load_start, load_now()),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"\nwrote {args.out} ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

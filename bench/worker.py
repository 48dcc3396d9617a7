"""Benchmark of the worker process (`fondation worker`) on SQLite and PostgreSQL.

    scripts/with-postgres.sh .venv/bin/python -m bench.worker [--backends sqlite,postgresql] [--jobs N] [--out FILE]

`make bench` runs it, with the queue benchmark, through `bench/run.py`, which writes both into
docs/BENCHMARKS.md; this command line prints the figures and, with --out, writes the worker's section
alone. Each measurement gets a fresh database (a new SQLite file in WAL mode, a new PostgreSQL
database, dropped afterwards), created and migrated by the benchmark before any worker starts.

What is measured, per backend:

1. jobs/s through real worker processes: N jobs are enqueued, then `fondation worker` processes are
   started as subprocesses (like tests/worker_harness.py does), every job running `bench.noop_job:run`
   (returns {} at once) in its own child process `python -m fondation.worker.child`, as in
   production. The run ends when every job has succeeded. Layouts: one worker with
   MAX_CONCURRENT_JOBS 1 and 2, and two workers with 1. The per-job overhead of the worker (claim,
   temp dir, child start, finalise, loop wake-up) is the steady-state wall time per job per slot.
2. the child process alone: `ChildProcess` (the worker's own class) started from this process with
   the same spec and handler, to split the overhead into the child's share and the rest.
3. an idle worker: one worker on an empty queue with the shipped timings (POLL_INTERVAL 5000 ms,
   HEARTBEAT_INTERVAL 60000 ms), left to settle, then its CPU time (psutil, user + system) over a
   window, and its memory (RSS, USS).

This is a benchmark, not a test: it prints PASS/MISS against the targets but always exits 0 unless
something actually broke.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.common import (
    POSTGRESQL,
    REPO_ROOT,
    SQLITE_FULL,
    Backend,
    Databases,
    Machine,
    Section,
    TargetRow,
    add_backend_arguments,
    at_most,
    checked_backends,
    default_setting,
    enqueue_many,
    open_queue,
    run_alone,
    table,
    verdict,
)
from fondation.domain.jobs import JobStatus
from fondation.worker.child_process import ChildProcess
from fondation.worker.protocol import JobSpec
from fondation.worker.runtime import KEEPER_TICK_SECONDS

FONDATION = Path(sys.executable).parent / "fondation"
NOOP_HANDLER = "bench.noop_job:run"
TARGET_JOB_OVERHEAD_MS = 100.0
TARGET_IDLE_CPU_PERCENT = 1.0
TARGET_IDLE_RSS_MB = 80.0
MB = 1024 * 1024
STOP_TIMEOUT_SECONDS = 30.0

#: (label, worker processes, MAX_CONCURRENT_JOBS of each)
LAYOUTS: tuple[tuple[str, int, int], ...] = (
    ("1 worker × concurrency 1", 1, 1),
    ("1 worker × concurrency 2", 1, 2),
    ("2 workers × concurrency 1", 2, 1),
)


@dataclass(frozen=True)
class WorkerConfig:
    """What one run of the worker benchmark measures, and how big."""

    backends: tuple[str, ...] = ("sqlite", "postgresql")
    jobs: int = 300  # per layout
    child_samples: int = 20  # standalone child starts
    settle_seconds: float = 5.0  # idle worker: from ready to the start of the window
    idle_seconds: float = 25.0  # idle worker: the sampling window
    skip_throughput: bool = False
    skip_idle: bool = False

    def backend_list(self) -> list[Backend]:
        return [b for b in (SQLITE_FULL, POSTGRESQL) if b.kind in self.backends]


# --------------------------------------------------------------------------- worker processes


def worker_env(database_url: str, temp_dir: Path, concurrency: int) -> dict[str, str]:
    """A worker's environment: the shipped defaults except the database, the temp dir, the handler.

    Every FONDATION_ variable of this process is dropped and FONDATION_ENV_FILE points at a missing
    file, so nothing from the developer's own configuration leaks into the figures.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FONDATION_")}
    env.update(
        FONDATION_DATABASE_URL=database_url,
        FONDATION_TEMP_DIR=str(temp_dir),
        FONDATION_JOB_HANDLER=NOOP_HANDLER,
        FONDATION_MAX_CONCURRENT_JOBS=str(concurrency),
        FONDATION_ENV_FILE=str(temp_dir.parent / "absent.env"),
        FONDATION_LOG_FORMAT="json",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")])),
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BenchWorker:
    """One `fondation worker` subprocess, its log file and its health endpoint."""

    def __init__(self, database_url: str, work_dir: Path, worker_id: str, concurrency: int) -> None:
        self.worker_id = worker_id
        self.port = free_port()
        self.log_path = work_dir / f"{worker_id}.log"
        temp_dir = work_dir / "temp"
        self.started = time.time()
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [str(FONDATION), "worker", "--id", worker_id, "--health-port", str(self.port)],
                env=worker_env(database_url, temp_dir, concurrency),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise SystemExit(f"worker {self.worker_id} exited with {self.popen.returncode}:\n{self.log_tail()}")

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait until /health answers; returns the seconds since the process started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as response:
                    json.loads(response.read())
                return time.time() - self.started
            except urllib.error.HTTPError:
                return time.time() - self.started  # answering, if not (yet) healthy
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        raise SystemExit(f"worker {self.worker_id} did not answer /health within {timeout:g} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (a graceful drain: nothing is running), SIGKILL if it does not exit in time."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# --------------------------------------------------------------------------- throughput


@dataclass
class WorkerThroughput:
    """N jobs through `workers` worker processes of `concurrency` slots each."""

    backend: Backend
    layout: str
    workers: int
    concurrency: int
    jobs: int
    wall_seconds: float  # from starting the workers to seeing the last job succeeded
    startup_seconds: float  # from starting the workers to the first claim
    busy_seconds: float  # from the first claim to the last completion (database clock)
    attempt_seconds: list[float]  # per job: claim → completion committed
    worker_cpu_ms: float  # CPU of the worker processes themselves per job, steady state
    child_cpu_ms: float  # CPU of their (reaped) job children per job, steady state

    @property
    def slots(self) -> int:
        return self.workers * self.concurrency

    @property
    def rate(self) -> float:
        """Steady-state jobs/s (start-up excluded)."""
        return self.jobs / self.busy_seconds

    @property
    def overall_rate(self) -> float:
        """Jobs/s from starting the worker processes, their start-up included."""
        return self.jobs / self.wall_seconds

    @property
    def per_job_ms(self) -> float:
        """The worker's overhead per job: steady-state wall time per job per slot."""
        return self.busy_seconds * self.slots / self.jobs * 1000

    @property
    def attempt_ms(self) -> float:
        return statistics.mean(self.attempt_seconds) * 1000

    @property
    def between_ms(self) -> float:
        """Per slot, the time between one job's completion and the next claim (loop wake-up, guards, claim)."""
        return self.per_job_ms - self.attempt_ms


def measure_throughput(
    dbs: Databases, layout: str, workers: int, concurrency: int, n: int, work_dir: Path
) -> WorkerThroughput:
    backend = dbs.backend
    with dbs.fresh() as url:
        database, queue = open_queue(url, backend, migrate=True)
        try:
            enqueue_many(queue, n)
            started = time.time()
            processes = [
                BenchWorker(url, work_dir, f"bench-{backend.key}-{k + 1}", concurrency) for k in range(workers)
            ]
            try:
                deadline = time.monotonic() + 60 + n * 2.0
                first: tuple[int, CpuSplit] | None = None  # (jobs done, CPU so far) once the first job is done
                while (succeeded := queue.counts()[JobStatus.SUCCEEDED]) < n:
                    for process in processes:
                        process.check_alive()
                    if first is None and succeeded:
                        first = (succeeded, cpu_split(processes))
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{backend.key} {layout}: not done in time:\n{processes[0].log_tail()}")
                    time.sleep(0.1)
                wall = time.time() - started
                last = cpu_split(processes)
            finally:
                for process in processes:
                    process.stop()
            done = queue.list(status=JobStatus.SUCCEEDED, limit=n + 1)
        finally:
            database.dispose()
    retried = [job.id for job in done if job.attempts != 1]
    if len(done) != n or retried:
        raise SystemExit(f"{backend.key} {layout}: {len(done)} of {n} succeeded; more than one attempt: {retried}")
    base_jobs, base = first or (0, CpuSplit(0.0, 0.0))
    jobs_measured = max(n - base_jobs, 1)
    claims = [job.started_at.timestamp() for job in done if job.started_at]
    ends = [job.finished_at.timestamp() for job in done if job.finished_at]
    return WorkerThroughput(
        backend,
        layout,
        workers,
        concurrency,
        n,
        wall_seconds=wall,
        startup_seconds=min(claims) - started,
        busy_seconds=max(ends) - min(claims),
        attempt_seconds=[end - claim for claim, end in zip(claims, ends, strict=True)],
        worker_cpu_ms=(last.own - base.own) / jobs_measured * 1000,
        child_cpu_ms=(last.children - base.children) / jobs_measured * 1000,
    )


@dataclass(frozen=True)
class CpuSplit:
    """CPU seconds so far of worker processes: their own, and their reaped children's."""

    own: float
    children: float


def cpu_split(processes: list[BenchWorker]) -> CpuSplit:
    own = children = 0.0
    for process in processes:
        times = psutil.Process(process.pid).cpu_times()
        own += times.user + times.system
        children += times.children_user + times.children_system
    return CpuSplit(own, children)


def measure_child(samples: int, work_dir: Path) -> list[float]:
    """Seconds per child process, started by the worker's own `ChildProcess` with the benchmark's handler."""
    env = worker_env("sqlite:///unused.db", work_dir / "temp", 1)
    child_dir = work_dir / "child"
    child_dir.mkdir(parents=True, exist_ok=True)
    spec = JobSpec(
        job_id=1,
        attempt=1,
        source="https://bench.invalid/child.git",
        ref=None,
        options={},
        work_dir=str(child_dir),
        handler=NOOP_HANDLER,
        worker_id="bench",
    )
    seconds = []
    for _ in range(samples + 1):  # the first start warms the page cache: not counted
        start = time.perf_counter()
        child = ChildProcess(spec, env=env)
        messages = list(child.messages())
        returncode = child.wait()
        seconds.append(time.perf_counter() - start)
        if returncode != 0 or not messages or messages[-1].get("type") != "result":
            raise SystemExit(f"the child process failed: exit {returncode}, messages {messages}")
    return seconds[1:]


# --------------------------------------------------------------------------- idle


@dataclass
class IdleRun:
    """One worker on an empty queue, sampled after it settled."""

    backend: Backend
    ready_seconds: float  # from process start to /health answering
    window_seconds: float
    cpu_seconds: float  # user + system over the window
    rss_bytes: int  # at the end of the window
    rss_max_bytes: int  # highest of the once-a-second samples
    uss_bytes: int | None
    threads: int
    wakeups: int  # context switches of all the worker's threads over the window

    @property
    def cpu_percent(self) -> float:
        return self.cpu_seconds / self.window_seconds * 100

    @property
    def rss_mb(self) -> float:
        return self.rss_max_bytes / MB


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread of `pid` (Linux; 0 elsewhere)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def measure_idle(dbs: Databases, config: WorkerConfig, work_dir: Path) -> IdleRun:
    backend = dbs.backend
    with dbs.fresh() as url:
        database, _queue = open_queue(url, backend, migrate=True)  # migrated beforehand, as in production
        database.dispose()
        worker = BenchWorker(url, work_dir, f"bench-idle-{backend.key}", 1)
        try:
            ready = worker.wait_ready()
            time.sleep(config.settle_seconds)
            worker.check_alive()
            process = psutil.Process(worker.pid)
            cpu_start, wall_start, switches_start = process.cpu_times(), time.monotonic(), context_switches(worker.pid)
            rss_max = 0
            end = wall_start + config.idle_seconds
            while (now := time.monotonic()) < end:
                rss_max = max(rss_max, process.memory_info().rss)
                time.sleep(min(1.0, end - now))
            cpu_end, wall_end = process.cpu_times(), time.monotonic()
            switches = context_switches(worker.pid) - switches_start
            memory = process.memory_full_info()
            threads = process.num_threads()
            worker.check_alive()
        finally:
            worker.stop()
    return IdleRun(
        backend,
        ready_seconds=ready,
        window_seconds=wall_end - wall_start,
        cpu_seconds=(cpu_end.user + cpu_end.system) - (cpu_start.user + cpu_start.system),
        rss_bytes=memory.rss,
        rss_max_bytes=max(rss_max, memory.rss),
        uss_bytes=getattr(memory, "uss", None),
        threads=threads,
        wakeups=switches,
    )


# --------------------------------------------------------------------------- the run and its report


@dataclass
class WorkerResults:
    """Everything one run measured."""

    config: WorkerConfig
    throughputs: list[WorkerThroughput] = field(default_factory=list)
    child_seconds: list[float] = field(default_factory=list)
    idles: list[IdleRun] = field(default_factory=list)

    @property
    def child_ms(self) -> float | None:
        return statistics.median(self.child_seconds) * 1000 if self.child_seconds else None


def run_benchmark(config: WorkerConfig, *, sqlite_dir: Path, pg_url: str | None) -> WorkerResults:
    """Measure every backend of `config`, printing each figure as it comes."""
    results = WorkerResults(config)
    work_dir = Path(tempfile.mkdtemp(prefix="fondation-bench-worker-"))
    try:
        if not config.skip_throughput:
            results.child_seconds = measure_child(config.child_samples, work_dir)
            print(f"{'child process alone':<42} median {results.child_ms:.1f} ms", flush=True)
        for backend in config.backend_list():
            dbs = Databases(backend, sqlite_dir=sqlite_dir, pg_url=pg_url)
            if not config.skip_throughput:
                for layout, workers, concurrency in LAYOUTS:
                    t = measure_throughput(dbs, layout, workers, concurrency, config.jobs, work_dir)
                    results.throughputs.append(t)
                    print(
                        f"{backend.label:<42} {layout:<26} {t.rate:6.1f} jobs/s  per job per slot "
                        f"{t.per_job_ms:5.1f} ms (target ≤ {TARGET_JOB_OVERHEAD_MS:g}) "
                        f"{verdict(t.per_job_ms <= TARGET_JOB_OVERHEAD_MS)}",
                        flush=True,
                    )
            if not config.skip_idle:
                idle = measure_idle(dbs, config, work_dir)
                results.idles.append(idle)
                print(
                    f"{backend.label:<42} idle: CPU {idle.cpu_percent:.3f} %  RSS {idle.rss_mb:.1f} MB  "
                    f"{verdict(idle.cpu_percent <= TARGET_IDLE_CPU_PERCENT and idle.rss_mb <= TARGET_IDLE_RSS_MB)}",
                    flush=True,
                )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return results


def targets(results: WorkerResults) -> list[TargetRow]:
    """The worker's rows of the targets table."""
    rows = [
        at_most(
            f"{t.backend.label}, {t.layout}: worker overhead ≤ {TARGET_JOB_OVERHEAD_MS:g} ms per job per slot",
            f"{t.per_job_ms:.1f} ms ({t.rate:.1f} jobs/s)",
            t.per_job_ms,
            TARGET_JOB_OVERHEAD_MS,
        )
        for t in results.throughputs
    ]
    for idle in results.idles:
        rows.append(
            at_most(
                f"{idle.backend.label}: idle worker CPU ≤ {TARGET_IDLE_CPU_PERCENT:g} %",
                f"{idle.cpu_percent:.2f} %",
                idle.cpu_percent,
                TARGET_IDLE_CPU_PERCENT,
            )
        )
        rows.append(
            at_most(
                f"{idle.backend.label}: idle worker RSS ≤ {TARGET_IDLE_RSS_MB:g} MB",
                f"{idle.rss_mb:.1f} MB",
                idle.rss_mb,
                TARGET_IDLE_RSS_MB,
            )
        )
    return rows


def shipped_timings() -> str:
    return (
        f"POLL_INTERVAL {default_setting('poll_interval_ms')} ms, "
        f"HEARTBEAT_INTERVAL {default_setting('heartbeat_interval_ms')} ms, "
        f"LEASE_TIME {default_setting('lease_time_ms')} ms, "
        f"FONDATION_REAPER_INTERVAL {default_setting('reaper_interval_seconds'):g} s, "
        f"FONDATION_CANCEL_POLL_INTERVAL {default_setting('cancel_poll_seconds'):g} s"
    )


def method(config: WorkerConfig) -> list[str]:
    """How the worker is measured, for the document's Method section."""
    return [
        "**Settings.** Every worker runs with the shipped defaults "
        f"({shipped_timings()}; the lease keeper ticks every {KEEPER_TICK_SECONDS:g} s), except "
        f"FONDATION_DATABASE_URL, FONDATION_TEMP_DIR, FONDATION_JOB_HANDLER=`{NOOP_HANDLER}` (returns `{{}}` "
        "at once; found through PYTHONPATH=the repository root), FONDATION_MAX_CONCURRENT_JOBS per layout, "
        "FONDATION_LOG_FORMAT=json (to a file) and `--health-port` (a free port). No short POLL_INTERVAL "
        "is needed: the claim loop claims again as soon as a slot frees up, and it is only waiting on the "
        "poll interval once the queue is empty. Each database is created and migrated by the benchmark "
        "before the worker starts, as in production (a worker migrates an empty database itself, loading "
        "Alembic for it).",
        f"**Jobs/s and per-job overhead.** For each layout, {config.jobs} jobs are enqueued into a fresh "
        "database, then the `fondation worker` processes are started (subprocesses, like "
        "tests/worker_harness.py) and the benchmark polls the job counts every 100 ms until every job has "
        "succeeded; then the workers get SIGTERM. Every job runs in its own child process "
        "(`python -m fondation.worker.child`), so each one pays the claim, its temp directory, the child's "
        "start, the fenced completion and the loop's wake-up: the worker's whole overhead, with no work "
        "inside. Jobs this short never reach a heartbeat (due every HEARTBEAT_INTERVAL); the lease keeper's "
        f"tick (every {KEEPER_TICK_SECONDS:g} s: deadline and memory checks of each running child) does run. "
        "The steady-state window runs from the first claim to the last completion (the jobs' "
        "`started_at` and `finished_at`, written by the database's clock); the per-job overhead is that "
        "window per job per slot (window × workers × concurrency / jobs), compared with the target of "
        f"{TARGET_JOB_OVERHEAD_MS:g} ms. The wall time from starting the processes (their start-up "
        "included) is shown too. Afterwards every job is checked: succeeded, in one attempt.",
        f"**Child process alone.** {config.child_samples} children started one after another by this "
        "process with the worker's own `ChildProcess` class, the same spec and the same handler: from "
        "`Popen` to its result read and its exit reaped (median). The rest of the per-job overhead is the "
        "worker's database work and bookkeeping.",
        f"**Idle worker.** One worker (concurrency 1) on an empty, migrated database; once /health answers "
        f"it is left {config.settle_seconds:g} s to settle, then sampled for {config.idle_seconds:g} s: CPU "
        "is psutil's `cpu_times()` user + system over the window divided by the window's wall time; RSS is "
        "`memory_info().rss`, the highest of once-a-second samples; USS (memory unique to the process, "
        "`memory_full_info().uss`) at the end. Wake-ups are the context switches of all its threads over "
        "the window (from /proc).",
    ]


def details(results: WorkerResults) -> list[str]:
    """The worker's detail tables and what they say."""
    out: list[str] = []
    if results.throughputs:
        out += ["## Worker: jobs/s through `fondation worker`, child process per job", ""]
        out += table(
            [
                "backend",
                "layout",
                "jobs",
                "start-up (s)",
                "steady window (s)",
                "jobs/s (steady)",
                "jobs/s (from process start)",
                "per job per slot (ms)",
                "claim → complete (ms)",
                "complete → next claim (ms)",
                "CPU per job: worker / child (ms)",
                "target",
                "ratio",
                "result",
            ],
            (
                [
                    t.backend.label,
                    t.layout,
                    str(t.jobs),
                    f"{t.startup_seconds:.2f}",
                    f"{t.busy_seconds:.2f}",
                    f"{t.rate:.1f}",
                    f"{t.overall_rate:.1f}",
                    f"**{t.per_job_ms:.1f}**",
                    f"{t.attempt_ms:.1f}",
                    f"{t.between_ms:.1f}",
                    f"{t.worker_cpu_ms:.1f} / {t.child_cpu_ms:.1f}",
                    f"≤ {TARGET_JOB_OVERHEAD_MS:g} ms",
                    f"{t.per_job_ms / TARGET_JOB_OVERHEAD_MS:.2f}",
                    verdict(t.per_job_ms <= TARGET_JOB_OVERHEAD_MS),
                ]
                for t in results.throughputs
            ),
        )
        out += [
            "Start-up: from starting the worker processes to the first claim. Claim → complete: the mean "
            "of each job's `finished_at - started_at` (temp directory, child start and run, reading its "
            "result, the fenced completion). Complete → next claim: the per-slot rest (the claim loop's "
            "wake-up, the disk and memory guards, the claim itself). CPU per job: psutil `cpu_times()` of the "
            "worker processes, their own (every thread: claim loop, supervisors, lease keeper; SQLite runs "
            "inside them) and their reaped children's, from the first job done to the last, per job.",
            "",
        ]
        out += overhead_analysis(results)
    if results.idles:
        out += ["## Worker: idle", ""]
        out += table(
            [
                "backend",
                "ready after (s)",
                "window (s)",
                "CPU (s)",
                "CPU (%)",
                "RSS max (MB)",
                "RSS at end (MB)",
                "USS (MB)",
                "threads",
                "wake-ups/s",
                "result",
            ],
            (
                [
                    idle.backend.label,
                    f"{idle.ready_seconds:.2f}",
                    f"{idle.window_seconds:.1f}",
                    f"{idle.cpu_seconds:.3f}",
                    f"**{idle.cpu_percent:.2f}**",
                    f"**{idle.rss_mb:.1f}**",
                    f"{idle.rss_bytes / MB:.1f}",
                    "n/a" if idle.uss_bytes is None else f"{idle.uss_bytes / MB:.1f}",
                    str(idle.threads),
                    f"{idle.wakeups / idle.window_seconds:.1f}",
                    verdict(idle.cpu_percent <= TARGET_IDLE_CPU_PERCENT and idle.rss_mb <= TARGET_IDLE_RSS_MB),
                ]
                for idle in results.idles
            ),
        )
        out += [
            f"Targets: CPU ≤ {TARGET_IDLE_CPU_PERCENT:g} % of one core, RSS ≤ {TARGET_IDLE_RSS_MB:g} MB. RSS "
            "counts the shared libraries' pages too (Python, SQLite, libpq); USS is what stopping this worker "
            "would give back. An idle worker's threads wake on their own timers: the lease keeper every "
            f"{KEEPER_TICK_SECONDS:g} s, the health server's `serve_forever` poll every 0.5 s, the claim loop "
            f"every POLL_INTERVAL ({default_setting('poll_interval_ms') / 1000:g} s), and on PostgreSQL the "
            "listener, whose `conn.notifies(timeout=1.0)` psycopg waits out in 0.1 s slices (about 10 wake-ups/s); "
            "each wake-up finds nothing to do.",
            "",
        ]
    return out


def overhead_analysis(results: WorkerResults) -> list[str]:
    """Where one job's overhead goes, computed from this run's figures."""
    cores = os.cpu_count() or 1
    lines = ["### Where a job's overhead goes (computed from this run)", ""]
    for t in results.throughputs:
        if t.slots != 1:
            continue
        cpu = t.worker_cpu_ms + t.child_cpu_ms
        text = (
            f"- **{t.backend.label}**, one slot: {t.per_job_ms:.1f} ms per job ({t.attempt_ms:.1f} ms from claim to "
            f"completion, {t.between_ms:.1f} ms from completion to the next claim). Its CPU: {t.worker_cpu_ms:.1f} ms "
            "in the worker process (claim, temp directory, starting the child, reading its result, the "
            f"completion, the lease keeper's ticks) and {t.child_cpu_ms:.1f} ms in the job's child process; the "
            f"other {max(t.per_job_ms - cpu, 0):.1f} ms are waits (for a core when the machine is busy, for the "
            "database)."
        )
        if results.child_ms is not None:
            text += (
                f" A child started alone by the benchmark takes {results.child_ms:.1f} ms (interpreter start and "
                "imports, the no-op handler, exit): starting the job's own Python process is most of the "
                f"overhead, the worker's own CPU {t.worker_cpu_ms / t.per_job_ms * 100:.0f} % of it."
            )
        two = [x for x in results.throughputs if x.backend == t.backend and x.slots == 2]
        if two:
            text += " Two slots, relative to one: " + ", ".join(f"{x.layout} {x.rate / t.rate:.2f}×" for x in two)
            text += (
                f". At about {cpu:.0f} ms of CPU per job, {cores} cores cap any layout near "
                f"{cores * 1000 / cpu:.0f} jobs/s, less what the database and anything else on the machine use."
            )
        lines.append(text)
    return [*lines, ""]


def section(results: WorkerResults) -> Section:
    """The worker's part of the document (nothing is written here)."""
    config = results.config
    return Section(
        title="Worker",
        method=method(config),
        targets=targets(results),
        details=details(results),
        settings=f"{config.jobs} jobs per layout, idle window {config.idle_seconds:g} s",
    )


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> tuple[WorkerConfig, argparse.Namespace]:
    defaults = WorkerConfig()
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_backend_arguments(parser)
    parser.add_argument("--jobs", type=int, default=defaults.jobs, help="jobs per layout")
    parser.add_argument("--child-samples", type=int, default=defaults.child_samples)
    parser.add_argument("--settle-seconds", type=float, default=defaults.settle_seconds)
    parser.add_argument("--idle-seconds", type=float, default=defaults.idle_seconds)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the worker's section alone to this file")
    args = parser.parse_args(argv)
    backends = checked_backends(parser, args)
    config = WorkerConfig(
        backends=backends,
        jobs=args.jobs,
        child_samples=args.child_samples,
        settle_seconds=args.settle_seconds,
        idle_seconds=args.idle_seconds,
        skip_throughput=args.skip_throughput,
        skip_idle=args.skip_idle,
    )
    return config, args


def main(argv: list[str] | None = None) -> int:
    config, args = parse_args(argv)

    def measure(sqlite_dir: Path) -> tuple[Machine, Section]:
        machine = Machine(sqlite_dir, args.pg_url, kinds=config.backends, sqlite_levels=("FULL",))
        results = run_benchmark(config, sqlite_dir=sqlite_dir, pg_url=args.pg_url)
        machine.finish()
        return machine, section(results)

    return run_alone(measure, out=args.out, title="Worker benchmarks", command=".venv/bin/python -m bench.worker")


if __name__ == "__main__":
    raise SystemExit(main())

"""`make bench-peers`: Fondation's job queue side by side with procrastinate and pgqueuer, in one run.

    scripts/with-postgres.sh scripts/bench-peers.sh [--jobs N] [--concurrency C] [--repeats R] [--out FILE]

(scripts/bench-peers.sh runs this module in the benchmark's own virtualenv, where the peers are
installed; `make bench-peers` passes --out docs/BENCHMARKS-PEERS.md.) On the PostgreSQL cluster found
in FONDATION_TEST_PG_URL, the same for every system, each measurement in a fresh database and in fresh
processes (`python -m bench.peers.SYSTEM`, see harness.py):

1. drain throughput: N no-op jobs queued, a checkpoint, then one worker process with concurrency C
   runs them all; jobs/s from the first job's start to the drain's end (every completion committed),
   the database checked afterwards. Beside it, the worker process's CPU time, the PostgreSQL server's
   (all its processes), and the server's own counters: transactions committed in that database, WAL
   written and WAL syncs, per job.
2. enqueue→start latency: an idle worker (concurrency C) listening, a producer process enqueueing one
   job at a time at a steady trickle; latency = the handler's start minus the enqueue's return.

Each system is measured R times, alternating (A B C A B C ...); the document shows every run, the
medians, and the ratios Fondation / peer. Two more drains run in the same rotation, for comparison
only: pgqueuer at its own defaults, and Fondation with group-commit completions (a prototype of a
proposed change, see fondation_queue.py). Then the same for Fondation on SQLite (no peer there). Every
run also records the CPU that processes outside the benchmark took meanwhile ("other work"), so a
figure taken on a busy machine says so. This is a benchmark, not a test: it prints PASS/MISS against
the goals and exits 0 unless something actually broke.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg

from bench.common import (
    POSTGRESQL,
    REPO_ROOT,
    SQLITE_FULL,
    Backend,
    Databases,
    Machine,
    TargetRow,
    at_least,
    at_most,
    fmt_rate,
    libpq_url,
    table,
    verdict,
    write_document,
)
from bench.peers.harness import READY, RESULT

SYSTEMS = ("fondation", "procrastinate", "pgqueuer")
#: A change to Fondation measured beside it (bench/peers/fondation_queue.py), not what ships.
PROTOTYPE = "fondation+group-commit"
#: pgqueuer at its own defaults (more jobs in flight than the others get), measured for comparison.
PEER_DEFAULTS = "pgqueuer+defaults"
LABELS = {
    "fondation": "Fondation",
    "procrastinate": "procrastinate",
    "pgqueuer": "pgqueuer",
    PROTOTYPE: "Fondation + group-commit completions (prototype)",
    PEER_DEFAULTS: "pgqueuer at its defaults (batch 10, no cap)",
}
PEERS = ("procrastinate", "pgqueuer")
GOAL_VS = {"procrastinate": 3.0, "pgqueuer": 1.0}  # Fondation's drain rate ≥ this × the peer's
GOAL_P50_MS = 20.0
#: Other work above this many cores on average over a run marks the document's figures as from a busy machine.
BUSY_CORES = 0.2
PACKAGES = ("procrastinate", "pgqueuer", "asyncpg", "psycopg", "psycopg-pool")
CHILD_TIMEOUT = 1800


@dataclass(frozen=True)
class Config:
    jobs: int = 20_000
    concurrency: int = 8
    repeats: int = 3
    rate: float = 50.0
    latency_seconds: float = 20.0
    systems: tuple[str, ...] = SYSTEMS
    prototype: bool = True  # measure PROTOTYPE's drain too
    sqlite: bool = True
    sqlite_poll_ms: int = 100
    skip_drain: bool = False
    skip_latency: bool = False

    @property
    def trickle_jobs(self) -> int:
        return max(1, round(self.rate * self.latency_seconds))


# --------------------------------------------------------------------------- child processes


def child(system: str, command: str, url: str, **options: Any) -> dict[str, Any]:
    """Run one measurement step in a fresh process and return what it printed after RESULT."""
    process = subprocess.run(
        _argv(system, command, url, options),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    return _result(system, command, process.returncode, process.stdout, process.stderr)


def _argv(system: str, command: str, url: str, options: dict[str, Any]) -> list[str]:
    module, _, variant = system.partition("+")
    argv = [sys.executable, "-m", f"bench.peers.{module}_queue", command, "--url", url]
    if variant:
        argv += ["--variant", variant]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def _result(system: str, command: str, code: int | None, out: str, err: str) -> dict[str, Any]:
    lines = [line for line in out.splitlines() if line.startswith(RESULT)]
    if code != 0 or not lines:
        tail = "\n".join((err or out).strip().splitlines()[-15:])
        raise SystemExit(f"{system} {command} failed (exit {code}):\n{tail}")
    return json.loads(lines[-1][len(RESULT) :])


# --------------------------------------------------------------------------- the server and the machine


@dataclass(frozen=True)
class ServerCpu:
    live: dict[int, float]  # pid → user + system seconds of each live server process
    reaped: float  # the postmaster's own CPU plus that of the children it has reaped

    def until(self, later: ServerCpu) -> float:
        """Server CPU seconds spent from this snapshot to a later one (processes that came and went included)."""
        live = sum(seconds - self.live.get(pid, 0.0) for pid, seconds in later.live.items())
        gone = sum(seconds for pid, seconds in self.live.items() if pid not in later.live)
        return (later.reaped - self.reaped) + live - gone


@dataclass(frozen=True)
class ServerStats:
    commits: int  # pg_stat_database.xact_commit of one database
    wal_bytes: int
    wal_syncs: int


class Server:
    """The PostgreSQL cluster: its processes' CPU time and its statistics (commits, WAL)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = libpq_url(admin_url)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        try:
            self.postmaster: psutil.Process | None = psutil.Process(pid).parent()
        except psutil.Error:
            self.postmaster = None  # a server on another machine: no CPU figures

    def checkpoint(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")

    def cpu(self) -> ServerCpu | None:
        if self.postmaster is None:
            return None
        times = self.postmaster.cpu_times()
        live: dict[int, float] = {}
        for process in self.postmaster.children():
            try:
                t = process.cpu_times()
            except psutil.Error:
                continue
            live[process.pid] = t.user + t.system
        return ServerCpu(live, times.user + times.system + times.children_user + times.children_system)

    def stats(self, database: str) -> ServerStats:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            commits = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (database,)
            ).fetchone()
            wal = conn.execute("SELECT wal_bytes, wal_sync FROM pg_stat_wal").fetchone()
        return ServerStats(int(commits[0]) if commits else 0, int(wal[0]) if wal else 0, int(wal[1]) if wal else 0)


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0]


def _busy_cpu() -> float:
    """Seconds of CPU the whole machine has spent busy (steal included: time another guest took)."""
    t = psutil.cpu_times()
    return sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


def _own_cpu() -> float:
    """CPU seconds of this process and of its children that have been waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Meter:
    """CPU over a span: the server's, and the rest of the machine's beyond the benchmark (other work)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._start = (time.monotonic(), _busy_cpu(), _own_cpu(), server.cpu())

    def stop(self) -> tuple[float | None, float]:
        """(server CPU seconds or None, cores used by other work on average) since the meter started."""
        wall, busy, own, server = time.monotonic(), _busy_cpu(), _own_cpu(), self.server.cpu()
        wall0, busy0, own0, server0 = self._start
        server_cpu = server0.until(server) if server0 is not None and server is not None else None
        other = (busy - busy0) - (own - own0) - (server_cpu or 0.0)
        return server_cpu, max(0.0, other) / max(wall - wall0, 1e-9)


# --------------------------------------------------------------------------- measurements


@dataclass
class Drain:
    system: str
    backend: Backend
    run: int
    jobs: int
    seconds: float
    cpu_seconds: float
    enqueue_seconds: float
    enqueue_how: str
    other_cores: float  # CPU other work took while the worker process ran, in cores
    server_cpu: float | None = None
    commits: int | None = None
    wal_bytes: int | None = None
    wal_syncs: int | None = None
    complete_statements: int | None = None  # the prototype's: statements that completed the jobs

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds


@dataclass
class Latency:
    system: str
    backend: Backend
    run: int
    samples: list[float]  # seconds
    other_cores: float
    poll_ms: int

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Results:
    config: Config
    drains: list[Drain] = field(default_factory=list)
    latencies: list[Latency] = field(default_factory=list)
    pg_settings: dict[str, str] = field(default_factory=dict)


def measure_drain(system: str, dbs: Databases, server: Server, config: Config, run: int, poll_ms: int) -> Drain:
    on_pg = dbs.backend.kind == "postgresql"
    with dbs.fresh() as url:
        child(system, "schema", url)
        enqueued = child(system, "enqueue", url, jobs=config.jobs)
        if on_pg:
            server.checkpoint()
            before = server.stats(database_name(url))
        meter = Meter(server)
        result = child(system, "drain", url, jobs=config.jobs, concurrency=config.concurrency, poll_ms=poll_ms)
        server_cpu, other = meter.stop()
        drain = Drain(
            system,
            dbs.backend,
            run,
            config.jobs,
            result["seconds"],
            result["cpu_seconds"],
            enqueued["seconds"],
            enqueued["how"],
            other,
            complete_statements=result.get("complete_statements"),
        )
        if on_pg:
            time.sleep(0.5)  # backends report their statistics at most once a second, and when they exit
            after = server.stats(database_name(url))
            drain.server_cpu = server_cpu
            drain.commits = after.commits - before.commits
            drain.wal_bytes = after.wal_bytes - before.wal_bytes
            drain.wal_syncs = after.wal_syncs - before.wal_syncs
    print(
        f"  drain {system:22} {dbs.backend.key:11} run {run}: {fmt_rate(drain.rate)} jobs/s "
        f"({drain.seconds:.2f} s; other work {other:.2f} cores)",
        flush=True,
    )
    return drain


def measure_latency(system: str, dbs: Databases, server: Server, config: Config, run: int, poll_ms: int) -> Latency:
    n = config.trickle_jobs
    with dbs.fresh() as url:
        child(system, "schema", url)
        meter = Meter(server)
        consumer = subprocess.Popen(
            _argv(system, "consume", url, {"jobs": n, "concurrency": config.concurrency, "poll_ms": poll_ms}),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert consumer.stdout is not None
            while (line := consumer.stdout.readline()) and line.strip() != READY:
                pass
            if not line:
                out, err = consumer.communicate(timeout=60)
                _result(system, "consume", consumer.returncode, out, err)
                raise SystemExit(f"{system} consume ended before it was ready")
            produced = child(system, "produce", url, jobs=n, rate=config.rate)
            out, err = consumer.communicate(timeout=120)
            consumed = _result(system, "consume", consumer.returncode, out, err)
        finally:
            if consumer.poll() is None:
                consumer.kill()
                consumer.wait()
        _server_cpu, other = meter.stop()
    starts = {int(k): v for k, v in consumed["starts"].items()}
    commits = {int(job_id): at for job_id, at in produced["commits"]}
    if set(starts) != set(commits):
        raise SystemExit(f"{system} latency: {len(commits)} jobs enqueued, {len(starts)} started, not the same ones")
    samples = [starts[job_id] - at for job_id, at in commits.items()]
    latency = Latency(system, dbs.backend, run, samples, other, poll_ms)
    print(
        f"  latency {system:20} {dbs.backend.key:11} run {run}: p50 {latency.p50 * 1000:.1f} ms, "
        f"p99 {latency.pct(99) * 1000:.1f} ms (other work {other:.2f} cores)",
        flush=True,
    )
    return latency


def run_benchmark(config: Config, *, pg_url: str, sqlite_dir: Path) -> Results:
    results = Results(config)
    pg = Databases(POSTGRESQL, sqlite_dir=None, pg_url=pg_url)
    server = Server(pg_url)
    results.pg_settings = pg_settings(pg_url)
    sqlite = Databases(SQLITE_FULL, sqlite_dir=sqlite_dir, pg_url=None)
    if not config.skip_drain:
        print(f"drain: {config.jobs:,} jobs, concurrency {config.concurrency}", flush=True)
        prototype = [PROTOTYPE] if config.prototype and "fondation" in config.systems else []
        extra = [PEER_DEFAULTS] if config.prototype and "pgqueuer" in config.systems else []
        for run in range(1, config.repeats + 1):
            for system in [*config.systems, *extra, *prototype]:
                results.drains.append(measure_drain(system, pg, server, config, run, 0))
        if config.sqlite:
            for run in range(1, config.repeats + 1):
                for system in ["fondation", *prototype]:
                    results.drains.append(measure_drain(system, sqlite, server, config, run, config.sqlite_poll_ms))
    if not config.skip_latency:
        print(f"latency: {config.rate:g} jobs/s for {config.latency_seconds:g} s", flush=True)
        for run in range(1, config.repeats + 1):
            for system in config.systems:
                results.latencies.append(measure_latency(system, pg, server, config, run, 0))
        if config.sqlite:
            for run in range(1, config.repeats + 1):
                results.latencies.append(
                    measure_latency("fondation", sqlite, server, config, run, config.sqlite_poll_ms)
                )
    return results


def pg_settings(url: str) -> dict[str, str]:
    names = ("fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "shared_buffers")
    names += ("max_connections", "commit_delay", "wal_level", "max_wal_size", "checkpoint_timeout")
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        return {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in names}  # type: ignore[index]


def package_versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


# --------------------------------------------------------------------------- the document


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def drain_median(results: Results, system: str, backend: Backend) -> float:
    return _median([d.rate for d in results.drains if d.system == system and d.backend == backend])


def p50_median(results: Results, system: str, backend: Backend) -> float:
    return _median([lat.p50 for lat in results.latencies if lat.system == system and lat.backend == backend])


def targets(results: Results) -> list[TargetRow]:
    rows: list[TargetRow] = []
    ours = drain_median(results, "fondation", POSTGRESQL)
    for peer in PEERS:
        theirs = drain_median(results, peer, POSTGRESQL)
        if not math.isnan(ours) and not math.isnan(theirs):
            goal = GOAL_VS[peer]
            rows.append(
                at_least(
                    f"PostgreSQL drain throughput ≥ {goal:g} × {peer}'s (concurrency {results.config.concurrency})",
                    f"{fmt_rate(ours)} vs {fmt_rate(theirs)} jobs/s = {ours / theirs:.2f}×",
                    ours / theirs,
                    goal,
                )
            )
    p50 = p50_median(results, "fondation", POSTGRESQL)
    if not math.isnan(p50):
        rows.append(
            at_most(
                f"PostgreSQL enqueue→start p50 ≤ {GOAL_P50_MS:g} ms (trickle of {results.config.rate:g} jobs/s)",
                f"{p50 * 1000:.1f} ms",
                p50 * 1000,
                GOAL_P50_MS,
            )
        )
    return rows


def method(config: Config) -> list[str]:
    return [
        "**Systems.** Fondation's `JobQueue`, driven the way `fondation worker` drives it (its claim "
        "loop: claim as many jobs as there are free slots, each job run and completed on a slot thread, "
        "`complete` fenced by the lease token and logged as a job_event; the worker's child process per "
        "job is left out, since the peers run their jobs in-process), and the two PostgreSQL job "
        "queues for Python a user would pick instead: **procrastinate** (an `App` over its "
        "`PsycopgConnector`, an async task, `run_worker_async` with `concurrency` sub-workers, a "
        "connection pool of concurrency + 2) and **pgqueuer** (its README's consumer: one asyncpg "
        "connection, `PgQueuer.run`, `max_concurrent_tasks` = concurrency and `batch_size` = concurrency "
        "/ 2, its schema at the default `durable` level). Each is installed from PyPI into the "
        "benchmark's own virtualenv (bench/peers/requirements.txt), never into Fondation's. Every job "
        "is a no-op: the handler records when it started and returns. River (Go) and Oban (Elixir), the "
        "best-known queues of this design, are not Python and are not measured here. Two more drain "
        "rows are for comparison only and count in no goal: pgqueuer at its own defaults (a batch of "
        "10 and no cap on the jobs in flight, so not the same concurrency), and Fondation with "
        "group-commit completions, a prototype of a proposed change (bench/peers/fondation_queue.py; "
        "see the analysis below the drain tables).",
        "**Same ground for everyone.** One PostgreSQL cluster on this machine (the settings are listed "
        "under Machine: fsync on, synchronous_commit on, nothing changed per system), a fresh database "
        "for each measurement, each step in a fresh process started with the same interpreter. Every "
        f"run uses the same total concurrency ({config.concurrency}) in one worker process. The systems "
        f"are measured in turn, {config.repeats} times each, alternating (A B C A B C …), so that a slow "
        "spell of the machine falls on all of them; each table shows every run, the median decides.",
        f"**Drain throughput.** {config.jobs:,} jobs are queued by the system's own API (the bulk one "
        "where it has one; Fondation's `JobQueue.enqueue` is one transaction per job), a `CHECKPOINT` "
        "follows, then the worker process starts and runs them all. The clock starts when the first "
        "job's handler runs and stops when the system's drain call returns with every completion "
        "committed (procrastinate `run_worker_async(wait=False)`, pgqueuer `mode=drain`, Fondation's "
        "claim loop until a claim finds nothing and no slot is busy); then the database is checked: "
        "every job done, exactly once. Beside the rate: the worker process's CPU time over the same "
        "span, the PostgreSQL server's CPU time (all its processes, from the start of the worker "
        "process to its exit), and the server's statistics over the drain: transactions committed in "
        "that database (`pg_stat_database.xact_commit`), WAL bytes and WAL syncs (`pg_stat_wal`).",
        f"**Latency.** An idle worker (concurrency {config.concurrency}) listens on an empty queue; a "
        f"producer process then enqueues {config.trickle_jobs:,} jobs, {config.rate:g} a second for "
        f"{config.latency_seconds:g} s, one at a random point of each 1/rate slot, each alone through "
        "the system's own API (Fondation `JobQueue.enqueue`, procrastinate `defer_async`, pgqueuer "
        "`Queries.enqueue`). Latency is the time from the enqueue's return (its transaction committed) "
        "to the start of that job's handler, both read from `time.time()` on this machine. All three "
        "wake their worker with LISTEN/NOTIFY and keep their default fallback poll (Fondation's "
        "POLL_INTERVAL 5 s, procrastinate 5 s, pgqueuer 30 s). The table shows each run's p50 and p99 "
        "and the medians over runs.",
        f"**Fondation on SQLite.** The same drain and trickle on SQLite (WAL, synchronous=FULL, the "
        "shipped setting), no peer: neither peer runs on SQLite. Nothing can wake a worker from another "
        f"process there, so its latency is set by the poll interval, {config.sqlite_poll_ms} ms in "
        "this run (the shipped default is 5,000 ms).",
    ]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _per_job(value: float | int | None, jobs: int, scale: float = 1.0, digits: int = 2) -> str:
    return "–" if value is None else f"{value * scale / jobs:.{digits}f}"


def drain_details(results: Results) -> list[str]:
    out = ["## Drain throughput", ""]
    backends = list(dict.fromkeys(d.backend for d in results.drains))
    for backend in backends:
        rows = [d for d in results.drains if d.backend == backend]
        ours = drain_median(results, "fondation", backend)
        out += [f"### {backend.label}", ""]
        summary = []
        for system in dict.fromkeys(d.system for d in rows):
            runs = [d for d in rows if d.system == system]
            median = drain_median(results, system, backend)
            if system == "fondation":
                ratio = "–"
            elif system == PROTOTYPE:
                ratio = f"{median / ours:.2f}× Fondation's rate"
            elif system == PEER_DEFAULTS:
                ratio = f"{ours / median:.2f} (not the same concurrency)"
            else:
                ratio = f"**{ours / median:.2f}**"
            summary.append(
                [
                    LABELS[system],
                    ", ".join(fmt_rate(d.rate) for d in runs),
                    f"**{fmt_rate(median)}**",
                    ratio,
                    f"{_median([d.cpu_seconds / d.jobs * 1000 for d in runs]):.2f}",
                    _per_job(_median_or_none([d.server_cpu for d in runs]), 1, 1000 / runs[0].jobs),
                    _per_job(_median_or_none([d.commits for d in runs]), runs[0].jobs),
                    _per_job(_median_or_none([d.wal_syncs for d in runs]), runs[0].jobs),
                    _per_job(_median_or_none([d.wal_bytes for d in runs]), runs[0].jobs, digits=0),
                    f"{fmt_rate(_median([d.jobs / d.enqueue_seconds for d in runs]))} ({runs[0].enqueue_how})",
                    _span([d.other_cores for d in runs]),
                ]
            )
        out += table(
            [
                "system",
                "jobs/s, each run",
                "median jobs/s",
                "Fondation / it",
                "worker CPU ms/job",
                "server CPU ms/job",
                "commits/job",
                "WAL syncs/job",
                "WAL bytes/job",
                "enqueue jobs/s (how)",
                "other work (cores)",
            ],
            summary,
        )
    out += [
        "Medians over the runs. Fondation / it: Fondation's median rate over the row's (above 1: Fondation "
        "drains faster). CPU: user + system time per job, of the worker process and of the PostgreSQL "
        "server (all its processes). Commits, WAL syncs and WAL bytes: the server's own statistics over the "
        "drain, per job; a WAL sync is one fsync of the log, the floor under a durable commit, which "
        "concurrent commits may share. Other work: the CPU that processes outside the benchmark took during "
        "the run, in cores (0 on a quiet machine).",
        "",
    ]
    return out


def _span(values: Sequence[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def _median_or_none(values: Sequence[float | int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def latency_details(results: Results) -> list[str]:
    out = ["## Enqueue → start latency", ""]
    rows = []
    for backend in dict.fromkeys(lat.backend for lat in results.latencies):
        ours = p50_median(results, "fondation", backend)
        for system in dict.fromkeys(lat.system for lat in results.latencies if lat.backend == backend):
            runs = [lat for lat in results.latencies if lat.system == system and lat.backend == backend]
            p50 = p50_median(results, system, backend)
            wakeup = (
                f"polling every {runs[0].poll_ms} ms"
                if backend.kind == "sqlite"
                else "LISTEN/NOTIFY, default fallback poll"
            )
            rows.append(
                [
                    backend.label,
                    LABELS[system],
                    wakeup,
                    str(len(runs[0].samples)),
                    ", ".join(_ms(lat.p50) for lat in runs),
                    f"**{_ms(p50)}**",
                    ", ".join(_ms(lat.pct(99)) for lat in runs),
                    f"**{_ms(_median([lat.pct(99) for lat in runs]))}**",
                    _ms(max(max(lat.samples) for lat in runs)),
                    "–" if system == "fondation" else f"{ours / p50:.2f}",
                    _span([lat.other_cores for lat in runs]),
                ]
            )
    out += table(
        [
            "backend",
            "system",
            "wake-up",
            "jobs per run",
            "p50 ms, each run",
            "median p50 ms",
            "p99 ms, each run",
            "median p99 ms",
            "max ms",
            "Fondation p50 / its p50",
            "other work (cores)",
        ],
        rows,
    )
    out += ["Below 1 in the ratio column: Fondation starts jobs sooner.", ""]
    return out


def _cores(runs: Sequence[Drain]) -> float | None:
    """Cores kept busy by the worker process and the server together (median over the runs)."""
    known = [(d.cpu_seconds + d.server_cpu) / d.seconds for d in runs if d.server_cpu is not None]
    return statistics.median(known) if known else None


def analysis(results: Results) -> list[str]:
    """Where the drain's time goes, and what limits Fondation's, computed from this run's figures."""
    pg = [d for d in results.drains if d.backend == POSTGRESQL]
    ours = [d for d in pg if d.system == "fondation"]
    if not ours:
        return []
    cores = os.cpu_count() or 1
    lines = ["### Where the time goes (computed from this run)", ""]
    rows = []
    for system in dict.fromkeys(d.system for d in pg):
        runs = [d for d in pg if d.system == system]
        busy = _cores(runs)
        commits = _median_or_none([d.commits for d in runs])
        worker = _median([d.cpu_seconds / d.jobs * 1000 for d in runs])
        server = _median_or_none([d.server_cpu / d.jobs * 1000 for d in runs if d.server_cpu is not None])
        rows.append(
            [
                LABELS[system],
                fmt_rate(drain_median(results, system, POSTGRESQL)),
                f"{worker + server:.2f}" if server is not None else "–",
                f"{busy:.2f}" if busy is not None else "–",
                f"{commits / runs[0].jobs:.2f}" if commits is not None else "–",
            ]
        )
    lines += table(
        ["system (PostgreSQL)", "median jobs/s", "CPU ms/job, worker + server", "cores busy", "commits/job"], rows
    )
    busy = _cores(ours)
    commits = _median_or_none([d.commits for d in ours])
    if busy is not None:
        bound = (
            f"close to the {cores} cores the machine has, so CPU is what limits it"
            if busy >= 0.7 * cores
            else "below what the machine has: waits (WAL flushes, hand-offs between the claim loop and the slots) "
            "limit it as much as CPU"
        )
        lines.append(f"- **Fondation** keeps {busy:.2f} cores busy while it drains, {bound}.")
    if commits is not None and commits / ours[0].jobs > 1:
        per_claim = 1 / (commits / ours[0].jobs - 1)
        lines.append(
            f"- Per job it commits {commits / ours[0].jobs:.2f} transactions: its fenced completion (one "
            f"statement: the UPDATE and its job_event) and a share of a claim, which took {per_claim:.1f} jobs "
            "on average (as many as there were free slots). Each is one durable statement, so concurrent "
            "completions already share WAL flushes, but each pays its own statement, row versions and "
            "index entries."
        )
    peer_runs = [d for d in pg if d.system == "pgqueuer"]
    peer_busy = _cores(peer_runs)
    if peer_busy is not None:
        text = (
            f"- **pgqueuer** at the same concurrency keeps {peer_busy:.2f} cores busy: its pace is set by its "
            "cycle rather than by CPU (dequeue a batch, run it, log the batch in one statement when the buffer "
            "holds a batch or every 0.1 s)"
        )
        defaults = drain_median(results, PEER_DEFAULTS, POSTGRESQL)
        if not math.isnan(defaults):
            text += (
                f"; at its own defaults (batch 10, no cap on the jobs in flight) it drains {fmt_rate(defaults)} jobs/s"
            )
        lines.append(text + ".")
    lines += _prototype_lines(results)
    lines.append("")
    return lines


def _prototype_lines(results: Results) -> list[str]:
    """The proposed change, measured beside what ships, on each backend."""
    lines = []
    for backend in dict.fromkeys(d.backend for d in results.drains):
        runs = [d for d in results.drains if d.system == PROTOTYPE and d.backend == backend]
        if not runs:
            continue
        ours = drain_median(results, "fondation", backend)
        shipped = [d for d in results.drains if d.system == "fondation" and d.backend == backend]
        rate = drain_median(results, PROTOTYPE, backend)
        batch = _median([d.jobs / d.complete_statements for d in runs if d.complete_statements])
        text = (
            f"- **Group-commit completions (prototype), {backend.label}**: {fmt_rate(rate)} jobs/s, "
            f"{rate / ours:.2f}× the shipped queue's {fmt_rate(ours)}, with {batch:.1f} completions per statement"
        )
        for peer in PEERS:
            if any(d.system == peer and d.backend == backend for d in results.drains):
                text += f"; {rate / drain_median(results, peer, backend):.2f}× {peer}"
        commits = _median_or_none([d.commits for d in runs])
        before = _median_or_none([d.commits for d in shipped])
        if commits is not None and before is not None:
            text += f"; {before / shipped[0].jobs:.2f} → {commits / runs[0].jobs:.2f} commits per job"
        server = _median_or_none([d.server_cpu for d in runs])
        server_before = _median_or_none([d.server_cpu for d in shipped])
        if server is not None and server_before is not None:
            text += (
                f", server CPU {server_before * 1000 / shipped[0].jobs:.2f} → "
                f"{server * 1000 / runs[0].jobs:.2f} ms per job"
            )
        lines.append(text + ".")
    return lines


def render(results: Results, machine: Machine, started: datetime, elapsed: float, versions: str) -> str:
    config = results.config
    out = [
        "# Benchmarks against peers: the job queue",
        "",
        "> Generated by `make bench-peers` (`scripts/bench-peers.sh`, which runs `python -m bench.peers.run` "
        "in its own virtualenv; PostgreSQL from `scripts/with-postgres.sh`). Do not edit by hand: run it again.",
        "",
        f"Run on {started:%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s in all ({config.jobs:,} jobs per drain, "
        f"concurrency {config.concurrency}, {config.repeats} runs per system, trickle of {config.rate:g} jobs/s "
        f"for {config.latency_seconds:g} s).",
        "",
    ]
    others = [d.other_cores for d in results.drains] + [lat.other_cores for lat in results.latencies]
    peak = max(others, default=0.0)
    cores = os.cpu_count() or 1
    if peak > BUSY_CORES:
        out += [
            f"**Other work shared the machine during some runs (up to {peak:.2f} of its {cores} cores on average "
            "over a run; each row gives the range over its runs): those figures are lower, and the latencies "
            "longer, than on a quiet machine. The runs alternate, so the ratios suffer less than the rates.**",
            "",
        ]
    else:
        out += [
            f"The machine was quiet: other work took at most {peak:.2f} of its {cores} cores during any run.",
            "",
        ]
    rows = [*machine.rows, ("queue libraries", versions)]
    rows += [("PostgreSQL settings (all systems)", ", ".join(f"{k}={v}" for k, v in results.pg_settings.items()))]
    out += ["## Machine", "", *table(["", ""], rows)]
    out += ["## Method", ""]
    out += [line for paragraph in method(config) for line in (paragraph, "")]
    out += ["## Goals", ""]
    out += table(["goal", "measured", "ratio to goal", "result"], (row.cells() for row in targets(results)))
    out += [
        "Ratio: measured over goal; above 1 is better for a rate (≥), below 1 is better for a time (≤).",
        "",
    ]
    if results.drains:
        out += drain_details(results)
        out += analysis(results)
    if results.latencies:
        out += latency_details(results)
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> tuple[Config, argparse.Namespace]:
    defaults = Config()
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=defaults.jobs, help="jobs per drain")
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency, help="the worker's total concurrency")
    parser.add_argument("--repeats", type=int, default=defaults.repeats, help="runs per system (alternating)")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="trickle rate (jobs/s) for the latency")
    parser.add_argument("--latency-seconds", type=float, default=defaults.latency_seconds)
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated: " + ", ".join(SYSTEMS))
    parser.add_argument(
        "--no-prototype", action="store_true", help=f"leave out the drains of {PROTOTYPE} and {PEER_DEFAULTS}"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="leave out Fondation on SQLite")
    parser.add_argument("--sqlite-poll-ms", type=int, default=defaults.sqlite_poll_ms)
    parser.add_argument("--skip-drain", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--pg-url", default=os.environ.get("FONDATION_TEST_PG_URL"))
    parser.add_argument("--out", type=Path, default=None, help="write the document here (docs/BENCHMARKS-PEERS.md)")
    args = parser.parse_args(argv)
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    if unknown := set(systems) - set(SYSTEMS):
        parser.error(f"unknown system(s): {', '.join(sorted(unknown))}")
    if not args.pg_url:
        parser.error("needs FONDATION_TEST_PG_URL or --pg-url (see scripts/with-postgres.sh)")
    if args.concurrency < 2:
        parser.error("--concurrency must be at least 2 (pgqueuer caps its tasks at twice its batch or more)")
    config = Config(
        jobs=args.jobs,
        concurrency=args.concurrency,
        repeats=args.repeats,
        rate=args.rate,
        latency_seconds=args.latency_seconds,
        systems=systems,
        prototype=not args.no_prototype,
        sqlite=not args.no_sqlite,
        sqlite_poll_ms=args.sqlite_poll_ms,
        skip_drain=args.skip_drain,
        skip_latency=args.skip_latency,
    )
    return config, args


def main(argv: list[str] | None = None) -> int:
    config, args = parse_args(argv)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    sqlite_dir = Path(tempfile.mkdtemp(prefix="fondation-bench-peers-"))
    try:
        kinds = ("sqlite", "postgresql") if config.sqlite else ("postgresql",)
        machine = Machine(sqlite_dir, args.pg_url, kinds=kinds, sqlite_levels=("FULL",))
        results = run_benchmark(config, pg_url=args.pg_url, sqlite_dir=sqlite_dir)
        machine.finish()
    finally:
        shutil.rmtree(sqlite_dir, ignore_errors=True)
    elapsed = time.perf_counter() - clock
    print()
    for row in targets(results):
        print(f"{verdict(row.ok)}  {row.target}: {row.measured}")
    if args.out:
        write_document(args.out, render(results, machine, started, elapsed, package_versions()))
        print(f"\nwrote {args.out} ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

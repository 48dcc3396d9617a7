"""The worker's guards, with real `fondation worker` processes and real job children.

Cancel, the hard deadline, the memory limit and the disk guard stop or withhold work; a CPU-bound
child cannot starve its lease; a PostgreSQL outage or killed connections, and a locked SQLite file,
cost time but never a job; /health, /metrics and the worker registry say what is going on.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fondation import __version__
from fondation.domain.jobs import ErrorKind, EventKind, JobStatus
from fondation.queue import JobQueue, RetryPolicy
from fondation.store import Database, open_database
from helpers import source
from pg_cluster import PgCluster, pg_bin_dir
from worker_harness import FONDATION, WorkerProcess, wait_until, worker_env

BACKENDS = [b.strip() for b in os.environ.get("FONDATION_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
FAST_POLICY = RetryPolicy(base_seconds=0.1, cap_seconds=0.5, max_attempts=3)
TERMINATE_FONDATION_BACKENDS = (
    "SELECT pid, query, pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE application_name = 'fondation' AND pid <> pg_backend_pid() AND datname = current_database()"
)


# ---------------------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class ChildRun:
    """One line of a job handler's marker file: an attempt that really started, and where."""

    job_id: int
    attempt: int
    pid: int
    work_dir: Path


def child_runs(marker: Path) -> list[ChildRun]:
    if not marker.exists():
        return []
    runs = []
    for line in marker.read_text().splitlines():
        job_id, attempt, pid, work_dir = line.split(" ", 3)
        runs.append(ChildRun(int(job_id), int(attempt), int(pid), Path(work_dir)))
    return runs


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def samples(worker: WorkerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(worker.metrics())
        for sample in family.samples
    }


def event_kinds(queue: JobQueue, job_id: int) -> list[str]:
    """The job's history without its progress events."""
    return [e.kind.value for e in queue.events(job_id) if e.kind is not EventKind.PROGRESS]


def status_of(queue: JobQueue, job_id: int) -> JobStatus:
    return queue.get(job_id).status


def health_where(
    worker: WorkerProcess, check: Callable[[int, dict[str, Any]], bool]
) -> tuple[int, dict[str, Any]] | None:
    """The /health answer if `check(code, body)` holds, else None (for wait_until)."""
    code, body = worker.health()
    return (code, body) if check(code, body) else None


def run_cli(database_url: str, temp_dir: Path, *args: str) -> Any:
    env = worker_env(database_url, temp_dir)
    done = subprocess.run([str(FONDATION), *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def log_records(worker: WorkerProcess) -> list[dict[str, Any]]:
    """The worker's JSON log lines (anything else it printed comes back as {"raw": line})."""
    records = []
    for line in worker.log().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            records.append({"raw": line})
    return records


# ---------------------------------------------------------------------------------------------- 1. cancel


def test_cancel_kills_the_running_child_and_the_job_stays_canceled(
    queue: JobQueue, start_worker: Callable[..., WorkerProcess], database_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    job = queue.enqueue(source(1), options={"do": "sleep", "seconds": 60, "marker": str(marker)}).job
    worker = start_worker("w1")
    (run,) = wait_until(lambda: child_runs(marker), timeout=15, what="the job's child to start")
    assert alive(run.pid) and run.work_dir.is_dir()
    assert status_of(queue, job.id) is JobStatus.RUNNING

    asked = time.monotonic()
    queue.cancel(job.id, reason="test cancel")
    wait_until(lambda: status_of(queue, job.id) is JobStatus.CANCELED, timeout=10, what="the job to be canceled")
    took = time.monotonic() - asked
    assert took < 10, f"cancel took {took:.1f} s"
    wait_until(lambda: not alive(run.pid), timeout=10, what=f"child {run.pid} to be gone")
    wait_until(lambda: not run.work_dir.exists(), timeout=5, what="the attempt directory to be removed")

    time.sleep(3.5)  # longer than the 3 s lease: nothing may bring the job back
    reclaimed = run_cli(database_url, tmp_path / "cli-temp", "jobs", "reclaim-expired", "--json")
    assert reclaimed["count"] == 0
    canceled = queue.get(job.id)
    assert canceled.status is JobStatus.CANCELED and canceled.attempts == 1
    assert canceled.error_kind is ErrorKind.CANCELED
    kinds = event_kinds(queue, job.id)
    assert kinds == ["enqueued", "claimed", "cancel_requested", "canceled"]
    assert len(child_runs(marker)) == 1, "the job must not have run again"
    metrics = samples(worker)
    assert metrics[("fondation_jobs_canceled_total", ())] == 1
    assert metrics[("fondation_jobs_claimed_total", ())] == 1
    assert metrics[("fondation_active_jobs", ())] == 0


# ---------------------------------------------------------------------------------------------- 2. deadline


def test_deadline_kills_the_child_and_each_attempt_fails_with_kind_deadline(
    queue: JobQueue, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    job = queue.enqueue(source(1), options={"do": "sleep", "seconds": 30, "marker": str(marker)}, max_attempts=2).job
    started = time.monotonic()
    start_worker("w1", FONDATION_JOB_TIMEOUT="2")
    wait_until(lambda: status_of(queue, job.id) is JobStatus.DEAD, timeout=20, what="the job to end dead")
    took = time.monotonic() - started

    dead = queue.get(job.id)
    assert (dead.status, dead.error_kind, dead.attempts) == (JobStatus.DEAD, ErrorKind.DEADLINE, 2)
    assert "FONDATION_JOB_TIMEOUT (2 s)" in (dead.error_message or "")
    # Deadline is retryable: the first attempt failed (retry scheduled), the second one was the last.
    assert event_kinds(queue, job.id) == ["enqueued", "claimed", "failed", "claimed", "dead"]
    failed_event = next(e for e in queue.events(job.id) if e.kind is EventKind.FAILED)
    assert (failed_event.reason or "").startswith("deadline:")
    assert 4.0 <= took < 15, f"two 2 s attempts took {took:.1f} s"
    runs = child_runs(marker)
    assert [r.attempt for r in runs] == [1, 2]
    for run in runs:
        wait_until(lambda run=run: not alive(run.pid), timeout=5, what=f"child {run.pid} to be gone")
        assert not run.work_dir.exists()


# ---------------------------------------------------------------------------------------------- 3. memory


def test_memory_limit_kills_the_child_and_the_worker_carries_on(
    queue: JobQueue, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    hog = queue.enqueue(source(1), options={"do": "hog", "marker": str(marker)}, max_attempts=1).job
    worker = start_worker("w1", FONDATION_JOB_MEMORY_MB="200")
    wait_until(lambda: status_of(queue, hog.id).is_terminal, timeout=20, what="the hog to be stopped")

    dead = queue.get(hog.id)
    assert (dead.status, dead.error_kind) == (JobStatus.DEAD, ErrorKind.RESOURCE)
    assert "FONDATION_JOB_MEMORY_MB (200 MB)" in (dead.error_message or "")
    (run,) = child_runs(marker)
    wait_until(lambda: not alive(run.pid), timeout=5, what=f"child {run.pid} to be gone")

    code, health = worker.health()
    assert code == 200 and health["status"] == "ok", health
    after = queue.enqueue(source(2), options={"do": "succeed"}).job
    wait_until(lambda: status_of(queue, after.id).is_terminal, timeout=15, what="the next job to finish")
    assert status_of(queue, after.id) is JobStatus.SUCCEEDED
    assert worker.popen.poll() is None
    metrics = samples(worker)
    assert metrics[("fondation_jobs_failed_total", (("kind", "resource"),))] == 1
    assert metrics[("fondation_jobs_succeeded_total", ())] == 1


# ---------------------------------------------------------------------------------------------- 4. disk


def test_disk_guard_withholds_claims_and_health_says_degraded(
    queue: JobQueue, start_worker: Callable[..., WorkerProcess]
) -> None:
    job = queue.enqueue(source(1), options={"do": "succeed"}).job
    minimum = 10**9  # a petabyte: far above any test machine's free space
    worker = start_worker("w1", FONDATION_MIN_FREE_DISK_MB=str(minimum))
    code, health = wait_until(
        lambda: health_where(worker, lambda _, body: body["checks"]["disk"].get("minimum_mb") == minimum),
        timeout=10,
        what="the disk guard to be checked",
    )
    time.sleep(1.5)  # several 0.2 s poll intervals
    assert status_of(queue, job.id) is JobStatus.PENDING and queue.get(job.id).attempts == 0

    code, health = worker.health()
    assert code == 200 and health["status"] == "degraded", health
    disk = health["checks"]["disk"]
    assert disk["status"] == "degraded" and "FONDATION_MIN_FREE_DISK_MB" in disk["detail"]
    assert disk["free_mb"] < minimum
    assert health["checks"]["database"]["status"] == "ok"
    assert health["last_claim_at"] is None
    assert samples(worker)[("fondation_jobs_claimed_total", ())] == 0
    assert any(r.get("event") == "not claiming" for r in log_records(worker))


# ---------------------------------------------------------------------------------------------- 5. busy child


def test_cpu_bound_child_keeps_its_lease_through_parent_heartbeats(
    queue: JobQueue, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    w1, w2 = start_worker("w1"), start_worker("w2")  # both reap expired leases every second
    marker = tmp_path / "marker"
    job = queue.enqueue(source(1), options={"do": "busy", "seconds": 4.5, "marker": str(marker)}).job
    wait_until(lambda: child_runs(marker), timeout=15, what="the busy child to start")
    first_expiry = queue.get(job.id).lease_expires_at
    time.sleep(2.0)
    running = queue.get(job.id)
    assert running.status is JobStatus.RUNNING
    assert running.lease_expires_at is not None and first_expiry is not None
    assert running.lease_expires_at > first_expiry, "the lease must be extended while the child spins"

    wait_until(lambda: status_of(queue, job.id).is_terminal, timeout=20, what="the busy job to finish")
    done = queue.get(job.id)
    assert (done.status, done.attempts, done.result) == (JobStatus.SUCCEEDED, 1, {"busy": True})
    assert event_kinds(queue, job.id) == ["enqueued", "claimed", "succeeded"]
    assert len(child_runs(marker)) == 1
    holder, other = (w1, w2) if done.worker_id == "w1" else (w2, w1)
    assert samples(holder)[("fondation_heartbeat_failures_total", ())] == 0
    other_metrics = samples(other)
    assert other_metrics[("fondation_jobs_claimed_total", ())] == 0
    assert other_metrics[("fondation_jobs_reclaimed_total", ())] == 0


# ---------------------------------------------------------------------------------------------- 8. health


def test_health_metrics_and_registry_of_a_worker(
    backend: str, queue: JobQueue, start_worker: Callable[..., WorkerProcess], database_url: str, tmp_path: Path
) -> None:
    worker = start_worker("w1")
    code, health = wait_until(
        lambda: health_where(worker, lambda _, body: body["last_poll_at"] is not None and body["status"] == "ok"),
        timeout=10,
        what="an idle worker to report ok",
    )
    assert code == 200
    assert (health["worker_id"], health["version"]) == ("w1", __version__)
    assert isinstance(health["uptime_seconds"], float) and health["uptime_seconds"] > 0
    assert (health["active_jobs"], health["max_concurrent_jobs"]) == (0, 1)
    assert health["last_claim_at"] is None
    datetime.fromisoformat(health["last_poll_at"])
    checks = health["checks"]
    assert checks["database"]["status"] == "ok" and checks["database"]["latency_ms"] >= 0
    assert checks["disk"]["status"] == "ok" and checks["disk"]["free_mb"] >= checks["disk"]["minimum_mb"] == 1
    assert checks["memory"]["status"] == "ok" and 0 < checks["memory"]["worker_rss_mb"] <= checks["memory"]["limit_mb"]
    assert checks["poll_loop"]["status"] == "ok" and checks["provider"]["status"] == "ok"
    if backend == "postgresql":
        assert checks["listener"]["status"] == "ok"
    else:
        assert "listener" not in checks

    before = datetime.now(UTC)
    job = queue.enqueue(source(1), options={"do": "succeed"}).job
    wait_until(lambda: status_of(queue, job.id) is JobStatus.SUCCEEDED, timeout=15, what="the job to succeed")
    code, health = worker.health()
    assert code == 200 and health["status"] == "ok"
    assert health["last_claim_at"] is not None and datetime.fromisoformat(health["last_claim_at"]) >= before

    families = {family.name: family for family in text_string_to_metric_families(worker.metrics())}
    values = samples(worker)
    assert families["fondation_active_jobs"].type == "gauge" and values[("fondation_active_jobs", ())] == 0
    assert values[("fondation_worker_up", ())] == 1
    depth = {labels[0][1]: value for (name, labels), value in values.items() if name == "fondation_queue_depth"}
    assert set(depth) == {status.value for status in JobStatus}
    assert depth["succeeded"] == 1 and depth["pending"] == 0 and depth["running"] == 0
    assert values[("fondation_oldest_pending_age_seconds", ())] == 0
    assert families["fondation_job_duration_seconds"].type == "histogram"
    assert values[("fondation_job_duration_seconds_count", ())] == 1
    assert values[("fondation_job_duration_seconds_bucket", (("le", "+Inf"),))] == 1
    assert values[("fondation_heartbeat_failures_total", ())] == 0

    cli_temp = tmp_path / "cli-temp"
    (listed,) = [w for w in run_cli(database_url, cli_temp, "workers", "list", "--json") if w["id"] == "w1"]
    assert (listed["state"], listed["status"], listed["pid"]) == ("up", "up", worker.popen.pid)
    worker.send(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    (listed,) = [w for w in run_cli(database_url, cli_temp, "workers", "list", "--json") if w["id"] == "w1"]
    assert (listed["state"], listed["status"]) == ("down", "stopped")


# ---------------------------------------------------------------------------------------------- 7. sqlite lock


@pytest.mark.skipif("sqlite" not in BACKENDS, reason="SQLite excluded by FONDATION_TEST_BACKENDS")
def test_sqlite_file_locked_for_two_seconds_loses_no_job(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    database = open_database(url)
    queue = JobQueue(database, FAST_POLICY)
    # A busy timeout far shorter than the lock: `database is locked` gets through the store's own
    # retries (5 x 0.2 s) to the worker's loops, which must retry in turn without losing anything.
    worker = WorkerProcess(url, tmp_path, "w1", concurrency=2, FONDATION_SQLITE_BUSY_TIMEOUT="200")
    try:
        jobs = [queue.enqueue(source(n), options={"do": "sleep", "seconds": 0.6}).job for n in range(8)]
        wait_until(
            lambda: sum(status_of(queue, j.id) is JobStatus.SUCCEEDED for j in jobs) >= 2,
            timeout=15,
            what="the first jobs to finish",
        )
        lock = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            locked_at = time.monotonic()
            running_while_locked = queue.counts()[JobStatus.RUNNING]  # WAL: reads still work
            time.sleep(2.0)
            lock.execute("COMMIT")
        finally:
            lock.close()
        held = time.monotonic() - locked_at
        assert held >= 2.0 and running_while_locked >= 1, "the lock must overlap running jobs"

        wait_until(
            lambda: all(status_of(queue, j.id).is_terminal for j in jobs), timeout=30, what="every job to finish"
        )
        longest = 0.0
        for job in jobs:
            done = queue.get(job.id)
            assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1), done
            assert event_kinds(queue, job.id) == ["enqueued", "claimed", "succeeded"]
            assert done.started_at is not None and done.finished_at is not None
            longest = max(longest, (done.finished_at - done.started_at).total_seconds())
        assert longest > 1.5, "a 0.6 s job caught by the lock must have waited for it"
        assert worker.popen.poll() is None
        records = log_records(worker)
        assert not [r for r in records if "raw" in r], "the worker printed something that is not a log record"
        assert not [r for r in records if r.get("level") in ("error", "critical") or "exception" in r]
        locked = [r for r in records if "database is locked" in json.dumps(r)]
        assert locked, "the lock must have reached the worker (else this test shows nothing)"
        assert all(r.get("level") == "warning" for r in locked), locked
        # No job changed hands: a heartbeat that lost the race with its own job's final write is not a lost lease.
        assert not [r for r in records if r.get("event", "").startswith("lease lost")]
        metrics = samples(worker)
        assert metrics[("fondation_lease_lost_total", ())] == 0
        assert metrics[("fondation_jobs_succeeded_total", ())] == len(jobs)
    finally:
        worker.close()
        database.dispose()


# ---------------------------------------------------------------------------------------------- 6. PostgreSQL


@dataclass
class PrivatePg:
    """A fresh, migrated database on a cluster of this module's own, and workers started on it."""

    cluster: PgCluster
    url: str
    queue: JobQueue
    workdir: Path
    workers: list[WorkerProcess]

    def start_worker(self, worker_id: str = "w1", **env: str) -> WorkerProcess:
        worker = WorkerProcess(self.url, self.workdir, worker_id, **env)
        self.workers.append(worker)
        return worker

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True)


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PgCluster]:
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL excluded by FONDATION_TEST_BACKENDS")
    if pg_bin_dir() is None:
        pytest.fail("PostgreSQL server binaries not found (run scripts/install-system-deps.sh as root)")
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_pg(pg_cluster: PgCluster, tmp_path: Path) -> Iterator[PrivatePg]:
    if not pg_cluster.is_running():  # a previous test failed in the middle of its outage
        pg_cluster.start()
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = pg_cluster.url(name)
    database: Database = open_database(url)
    env = PrivatePg(pg_cluster, url, JobQueue(database, FAST_POLICY), tmp_path, [])
    try:
        yield env
    finally:
        for worker in env.workers:
            worker.close()
        database.dispose()
        if not pg_cluster.is_running():
            pg_cluster.start()
        with psycopg.connect(pg_cluster.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_postgresql_outage_mid_job_costs_time_not_the_job(private_pg: PrivatePg) -> None:
    queue, marker = private_pg.queue, private_pg.workdir / "marker"
    job = queue.enqueue(source(1), options={"do": "sleep", "seconds": 5, "marker": str(marker)}).job
    # A lease longer than the outage: the job must come through it in its first attempt.
    worker = private_pg.start_worker("w1", FONDATION_LEASE_TIME="20000")
    (run,) = wait_until(lambda: child_runs(marker), timeout=15, what="the job's child to start")
    wait_until(lambda: worker.health()[1]["checks"].get("listener", {}).get("status") == "ok", timeout=10)

    private_pg.cluster.stop("fast")
    code, health = wait_until(
        lambda: health_where(worker, lambda c, _: c == 503), timeout=15, what="/health to turn unhealthy"
    )
    assert health["status"] == "unhealthy"
    assert health["checks"]["database"]["status"] == "unhealthy" and health["checks"]["database"]["error"]
    assert alive(run.pid), "the child must keep running through the outage"
    # The outage outlasts the child: its end must be written once the database is back.
    wait_until(lambda: not alive(run.pid), timeout=15, what="the child to finish its 5 s")
    assert worker.health()[0] == 503
    private_pg.cluster.start()

    wait_until(lambda: status_of(queue, job.id).is_terminal, timeout=30, what="the job to finish")
    done = queue.get(job.id)
    assert (done.status, done.attempts, done.result) == (JobStatus.SUCCEEDED, 1, {"slept": 5.0})
    assert event_kinds(queue, job.id) == ["enqueued", "claimed", "succeeded"]
    assert len(child_runs(marker)) == 1
    assert any(r.get("event") == "could not finalise yet, retrying" for r in log_records(worker))
    code, health = wait_until(
        lambda: health_where(worker, lambda _, body: body["status"] == "ok"),
        timeout=20,
        what="/health to be ok again",
    )
    assert code == 200 and health["checks"]["listener"]["status"] == "ok"
    metrics = samples(worker)
    assert metrics[("fondation_heartbeat_failures_total", ())] > 0
    assert metrics[("fondation_jobs_succeeded_total", ())] == 1
    assert worker.popen.poll() is None


def test_postgresql_connections_killed_mid_job_and_listener_comes_back(private_pg: PrivatePg) -> None:
    queue, marker = private_pg.queue, private_pg.workdir / "marker"
    job = queue.enqueue(source(1), options={"do": "sleep", "seconds": 3, "marker": str(marker)}).job
    # Polling every 10 s: a job claimed within a couple of seconds was woken by NOTIFY.
    worker = private_pg.start_worker("w1", FONDATION_POLL_INTERVAL="10000")
    wait_until(lambda: child_runs(marker), timeout=15, what="the job's child to start")
    wait_until(lambda: worker.health()[1]["checks"].get("listener", {}).get("status") == "ok", timeout=10)
    time.sleep(0.5)  # mid-job: heartbeats and progress writes have pooled connections open

    with private_pg.admin() as conn:
        killed = conn.execute(TERMINATE_FONDATION_BACKENDS).fetchall()
    listeners = {pid for pid, query, _ in killed if query.upper().startswith("LISTEN")}
    assert listeners, f"the worker's LISTEN connection must be among those terminated: {killed}"
    assert len(killed) > len(listeners), "pooled connections must be among those terminated too"

    wait_until(lambda: status_of(queue, job.id).is_terminal, timeout=20, what="the job to finish")
    done = queue.get(job.id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1)
    assert event_kinds(queue, job.id) == ["enqueued", "claimed", "succeeded"]

    def new_listener() -> bool:
        with private_pg.admin() as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'fondation' AND query ILIKE 'LISTEN%'"
            ).fetchall()
        return any(pid not in listeners for (pid,) in rows)

    wait_until(new_listener, timeout=15, what="the LISTEN connection to come back")
    wait_until(lambda: worker.health()[1]["checks"]["listener"]["status"] == "ok", timeout=10)
    time.sleep(0.5)  # let the claim loop settle into its 10 s wait
    enqueued = time.monotonic()
    woken = queue.enqueue(source(2), options={"do": "succeed"}).job
    wait_until(lambda: status_of(queue, woken.id) is not JobStatus.PENDING, timeout=5, what="a NOTIFY wake-up")
    assert time.monotonic() - enqueued < 3
    wait_until(lambda: status_of(queue, woken.id) is JobStatus.SUCCEEDED, timeout=15, what="the woken job to succeed")
    assert worker.popen.poll() is None

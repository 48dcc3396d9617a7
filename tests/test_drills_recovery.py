"""Runbook drills with real workers, on each backend: the incident is staged, the runbook's commands resolve it.

- Recovery: jobs and courses stored → `backup create` → the database destroyed → `backup restore` →
  every job, event and course back, documents byte for byte.
- Incident 6, database lost and back: the database goes away for longer than a lease under a working
  worker (PostgreSQL: a private cluster stopped and started; SQLite: the file locked) → no job lost.
- Failover: the primary worker killed mid-job → the secondary takes it within a lease and a reaper
  interval, resumes it from its checkpoints, and one course is stored.

Timings are the worker harness's: lease 3 s, heartbeat 0.5 s, poll 0.2 s, reaper 1 s.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from cli_harness import Run
from fondation.accounts import Accounts
from fondation.config import Settings
from fondation.domain.jobs import EventKind, JobStatus
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.pipeline.model import GenerationOptions
from fondation.queue import JobQueue, RetryPolicy
from fondation.store import Database, open_database
from fondation.store.courses import CourseStore
from fondation.store.schema import metadata
from helpers import source
from pg_cluster import PgCluster
from sample_project import make_project
from worker_harness import FAST, FONDATION, StartWorker, WorkerProcess, finished, reached, wait_until

LEASE_SECONDS = float(FAST["FONDATION_LEASE_TIME"]) / 1000
REAPER_SECONDS = float(FAST["FONDATION_REAPER_INTERVAL"])
COURSE_JOB = {"FONDATION_JOB_HANDLER": "fondation.worker.course_job:run"}
SLOW_COURSE = {"FONDATION_JOB_HANDLER": "job_handlers:slow_course", "FONDATION_TEST_PROGRESS_DELAY": "0.6"}


def fondation(database_url: str, workdir: Path, *args: str, **env: str) -> Run:
    """Run `fondation ARGS` as an operator would, on the drill's database."""
    done = subprocess.run(
        [str(FONDATION), *args],
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(workdir),
            "LC_ALL": "C.UTF-8",
            "LOGNAME": "oncall",
            **FAST,
            "FONDATION_DATABASE_URL": database_url,
            "FONDATION_ENV_FILE": str(workdir / "absent.env"),
            "FONDATION_BACKUP_DIR": str(workdir / "backups"),
            "FONDATION_TEMP_DIR": str(workdir / "cli-temp"),
            **env,
        },
        cwd=workdir,
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def local(root: Path) -> SourceSpec:
    return SourceSpec(SourceKind.LOCAL, str(root), root.name)


def every_row(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    database = Database(database_url)
    try:
        return database.read(
            lambda conn: {
                table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
                for table in metadata.sorted_tables
            }
        )
    finally:
        database.dispose()


def course_files(database_url: str) -> dict[tuple[int, str], str]:
    """(course id, path) → SHA-256 of the document's bytes, for every stored course."""
    database = Database(database_url)
    try:
        store = CourseStore(database)
        return {
            (course.id, document.path): hashlib.sha256(document.content.encode()).hexdigest()
            for course in store.list(limit=100)
            for document in store.documents(course.id)
        }
    finally:
        database.dispose()


def non_progress(queue: JobQueue, job_id: int) -> list[tuple[str, str]]:
    return [(e.kind.value, e.actor) for e in queue.events(job_id) if e.kind is not EventKind.PROGRESS]


# ---------------------------------------------------------------------------------------------- recovery


def test_recovery_drill_backup_then_database_destroyed_then_restore(
    backend: str,
    database_url: str,
    start_worker: StartWorker,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    database = open_database(database_url)
    queue = JobQueue(database)
    shop, kiosk = make_project(tmp_path / "shop"), make_project(tmp_path / "kiosk")
    jobs = [
        queue.enqueue(local(root), options=GenerationOptions(max_chapters=3).to_dict()).job for root in (shop, kiosk)
    ]
    missing = queue.enqueue(local(tmp_path / "gone")).job  # fails for good: one dead job in the backup too
    Accounts(database, Settings(database_url=database_url), secret="drill-key").add_user("alice", "a long password")
    worker = start_worker("w1", **COURSE_JOB)
    for job in [*jobs, missing]:
        wait_until(lambda job=job: finished(queue, job.id), timeout=90, what=f"job {job.id} to finish")
    assert [queue.get(job.id).status for job in [*jobs, missing]] == [
        JobStatus.SUCCEEDED,
        JobStatus.SUCCEEDED,
        JobStatus.DEAD,
    ]
    worker.close()  # the runbook: stop the workers before a restore
    waiting = queue.enqueue(local(shop), options=GenerationOptions(language="fr", max_chapters=2).to_dict()).job
    database.dispose()
    before, documents = every_row(database_url), course_files(database_url)
    assert len(before["courses"]) == 2 and len(documents) == len(before["documents"]) > 6

    made = fondation(database_url, tmp_path, "backup", "create").ok()
    assert made.startswith("backup written: ") and "4 jobs" in made and "2 courses" in made
    assert "ok" in fondation(database_url, tmp_path, "backup", "verify", "latest").ok()

    # The database is destroyed.
    if backend == "sqlite":
        path = Path(database_url.removeprefix("sqlite:///"))
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            name.unlink(missing_ok=True)
    else:
        admin, name = request.getfixturevalue("pg_admin_url"), database_url.rsplit("/", 1)[1]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
    # Symptom: every job is gone (the empty database is given a fresh schema by the first command).
    assert fondation(database_url, tmp_path, "jobs", "list", "--json").json() == []

    restored = fondation(database_url, tmp_path, "backup", "restore", "latest").ok()
    assert "4 jobs" in restored and "2 courses" in restored
    assert every_row(database_url) == before, "every job, event, course, document and user is back"
    assert course_files(database_url) == documents
    listed = fondation(database_url, tmp_path, "jobs", "list", "--json").json()
    assert sorted((j["id"], j["status"]) for j in listed) == [
        (jobs[0].id, "succeeded"),
        (jobs[1].id, "succeeded"),
        (missing.id, "dead"),
        (waiting.id, "pending"),
    ]

    # Workers start again on the restored database: the job that was waiting runs to its course.
    database = Database(database_url)
    queue = JobQueue(database)
    try:
        start_worker("w2", **COURSE_JOB)
        done = wait_until(lambda: finished(queue, waiting.id), timeout=90, what="the waiting job to run")
        assert done.status is JobStatus.SUCCEEDED, done.error_message
        assert len(CourseStore(database).list()) == 3
    finally:
        database.dispose()


# ---------------------------------------------------------------------------------------------- incident 6


@dataclass
class Outage:
    """A database that can be made to go away and come back."""

    url: str
    begin: Callable[[], None]
    end: Callable[[], None]
    env: dict[str, str]


@pytest.fixture
def outage(backend: str, tmp_path: Path) -> Iterator[Outage]:
    if backend == "sqlite":
        path = tmp_path / "drill.db"
        url = f"sqlite:///{path}"
        open_database(url).dispose()
        held: list[sqlite3.Connection] = []

        def lock() -> None:
            conn = sqlite3.connect(path, isolation_level=None, timeout=10)
            conn.execute("BEGIN EXCLUSIVE")  # no process can write until COMMIT
            held.append(conn)

        def unlock() -> None:
            conn = held.pop()
            conn.execute("COMMIT")
            conn.close()

        # A busy timeout far shorter than the outage, so `database is locked` reaches every loop.
        yield Outage(url, lock, unlock, {"FONDATION_SQLITE_BUSY_TIMEOUT": "200"})
        while held:
            unlock()
        return
    cluster = PgCluster()  # its own server: stopping the suite's shared one would hit every other test
    try:
        cluster.start()
        name = f"drill_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = cluster.url(name)
        open_database(url).dispose()
        yield Outage(url, lambda: cluster.stop("fast"), cluster.start, {})
    finally:
        cluster.destroy()


def test_database_lost_longer_than_a_lease_and_back_loses_no_job(backend: str, outage: Outage, tmp_path: Path) -> None:
    database = Database(outage.url)
    queue = JobQueue(database, RetryPolicy(base_seconds=0.1, cap_seconds=0.5, max_attempts=5))
    jobs = [queue.enqueue(source(n), options={"do": "sleep", "seconds": 2.0}).job for n in range(4)]
    worker = WorkerProcess(outage.url, tmp_path, "w1", concurrency=2, **outage.env)
    try:
        wait_until(lambda: queue.counts()[JobStatus.RUNNING] == 2, timeout=15, what="two jobs running")
        database.dispose()

        outage.begin()
        lost_at = time.monotonic()
        try:
            # Symptom: nothing new can be submitted; each command fails on one line.
            refused = fondation(outage.url, tmp_path, "submit", "example/late", **outage.env)
            assert "database" in refused.error(1)
            if backend == "postgresql":
                assert "is not usable" in fondation(outage.url, tmp_path, "db", "status").error(1)
                code, health = wait_until(lambda: (h := worker.health())[0] == 503 and h, timeout=10)
                assert health["checks"]["database"]["status"] == "unhealthy"
            time.sleep(max(0.0, LEASE_SECONDS + 2.0 - (time.monotonic() - lost_at)))  # longer than a lease
        finally:
            outage.end()

        # Resolution: the database is back; the worker recovers by itself; the operator takes back the
        # expired leases at once rather than waiting for a reaper, and submits what was refused.
        fondation(outage.url, tmp_path, "jobs", "reclaim-expired", "--json").json()
        late = fondation(outage.url, tmp_path, "submit", "example/late", "--json").json()
        everything = [job.id for job in jobs] + [late["job"]["id"]]
        wait_until(
            lambda: all(queue.get(job_id).status.is_terminal for job_id in everything),
            timeout=60,
            what="every job to finish",
        )
        assert len(queue.list(limit=100)) == len(everything), "no job appeared or vanished"
        for job_id in everything:
            job = queue.get(job_id)
            kinds = [kind for kind, _ in non_progress(queue, job_id)]
            assert job.status is JobStatus.SUCCEEDED, (job_id, kinds, job.error_message)
            assert kinds.count("succeeded") == 1 and kinds[-1] == "succeeded", kinds
            # Each extra attempt is explained by a reclaim of the lease the outage let expire.
            assert job.attempts == 1 + kinds.count("reclaimed"), kinds
        assert worker.popen.poll() is None, "the worker lived through the outage"
        code, health = wait_until(lambda: (h := worker.health())[1]["status"] == "ok" and h, timeout=20)
        assert code == 200 and health["checks"]["database"]["status"] == "ok"
        up = fondation(outage.url, tmp_path, "workers", "list", "--json").json()
        assert [(w["id"], w["state"]) for w in up] == [("w1", "up")]
    finally:
        worker.close()
        database.dispose()


# ---------------------------------------------------------------------------------------------- failover


def test_failover_drill_primary_killed_mid_job_secondary_finishes_it(
    database_url: str, queue: JobQueue, start_worker: StartWorker, tmp_path: Path
) -> None:
    shop = make_project(tmp_path / "shop")
    job = queue.enqueue(local(shop), options=GenerationOptions(max_chapters=3).to_dict()).job
    primary = start_worker("w1", **SLOW_COURSE)
    wait_until(lambda: queue.get(job.id).worker_id == "w1", timeout=30, what="the primary to claim the job")
    start_worker("w2", **SLOW_COURSE)  # the secondary, on standby: its own WORKER_ID, the same database
    states = {w["id"]: w["state"] for w in fondation(database_url, tmp_path, "workers", "list", "--json").json()}
    assert states == {"w1": "up", "w2": "up"}
    wait_until(lambda: reached(queue, job.id, "chapters"), timeout=90, what="the primary to reach the chapters")

    primary.kill()
    running = queue.get(job.id)
    assert (running.status, running.worker_id) == (JobStatus.RUNNING, "w1"), "killed mid-job"
    killed_at = time.monotonic()
    wait_until(lambda: queue.get(job.id).worker_id == "w2", timeout=30, interval=0.05, what="w2 to take the job")
    took = time.monotonic() - killed_at
    # The lease runs out at most LEASE after the primary's last heartbeat, the reaper sweeps every
    # REAPER (±20 %), the retry backoff is at most 0.5 s and a poll 0.2 s: one lease and a reaper interval.
    assert took <= LEASE_SECONDS + REAPER_SECONDS * 1.2 + 0.7 + 1.5, f"the secondary took {took:.1f} s"

    done = wait_until(lambda: finished(queue, job.id), timeout=90, what="the secondary to finish the job")
    assert (done.status, done.worker_id, done.attempts) == (JobStatus.SUCCEEDED, "w2", 2), done.error_message
    assert non_progress(queue, job.id) == [
        ("enqueued", "cli"),
        ("claimed", "w1"),
        ("reclaimed", "reaper:w2"),
        ("claimed", "w2"),
        ("succeeded", "w2"),
    ]
    courses = fondation(database_url, tmp_path, "courses", "list", "--json").json()
    assert [c["job_id"] for c in courses] == [job.id], "exactly one course"
    course = CourseStore(queue.db).for_job(job.id)
    assert course.quality["reused"] >= 3, "the secondary resumed from the primary's checkpoints"
    states = {w["id"]: w["state"] for w in fondation(database_url, tmp_path, "workers", "list", "--json").json()}
    assert states == {"w1": "down", "w2": "up"}

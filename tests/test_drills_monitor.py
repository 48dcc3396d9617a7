"""Incident drills with `fondation monitor`: simulate the runbook's incident, detect it, resolve it.

Real `fondation worker` processes on both backends; the monitor and the fixes are the console script
run the way an operator runs them, with the workers' short test timings (lease 3 s).
(1) worker down with jobs pending, (3) a memory hog, (7) a full disk.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fondation.domain.jobs import ErrorKind, JobStatus
from fondation.queue import JobQueue
from helpers import source
from worker_harness import FONDATION, StartWorker, finished, wait_until, worker_env

MB = 1024 * 1024
#: The drill's disk: what the leftover takes, on a file system of DISK_MB.
DISK_MB, LEFTOVER_MB = 32, 24


def fondation(database_url: str, temp_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script as an operator on the workers' machine runs it (same settings as the workers)."""
    return subprocess.run(
        [str(FONDATION), *args],
        env=worker_env(database_url, temp_dir, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def monitor(database_url: str, temp_dir: Path, health_port: int, **env: str) -> tuple[int, dict[str, Any]]:
    """`fondation monitor --json`: its exit code and its document."""
    done = fondation(database_url, temp_dir, "monitor", "--json", FONDATION_HEALTH_PORT=str(health_port), **env)
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def findings(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {finding["code"]: finding for finding in document["findings"]}


# ---------------------------------------------------------------------------------------------- (1) worker down


def test_drill_worker_down_with_jobs_pending(
    queue: JobQueue, start_worker: StartWorker, database_url: str, tmp_path: Path
) -> None:
    temp = tmp_path / "temp"
    lost = start_worker("w1")
    lost.kill()  # SIGKILL: the registry says "up" until the worker has been silent for a lease
    jobs = [queue.enqueue(source(n), options={"do": "succeed"}).job for n in range(3)]

    # Detect: the monitor pages (P1, exit 2) once the worker counts as gone.
    def paged() -> tuple[int, dict[str, Any]] | None:
        code, document = monitor(database_url, temp, lost.port)
        return (code, document) if "no_live_worker" in findings(document) else None

    code, document = wait_until(paged, timeout=30, interval=0.5, what="the monitor to see no live worker")
    assert code == 2 and document["worst_severity"] == "P1"
    seen = findings(document)
    assert seen["no_live_worker"]["severity"] == "P1"
    assert seen["no_live_worker"]["message"].startswith("no live worker while 3 jobs waiting")
    assert "fondation worker" in seen["no_live_worker"]["fix"]
    assert seen["worker_lost"]["severity"] == "P4" and "worker w1" in seen["worker_lost"]["message"]
    assert [(w["id"], w["state"]) for w in document["workers"]] == [("w1", "down")]
    assert not document["health"]["reachable"]
    assert document["queue"]["depth"]["pending"] == 3
    once = fondation(database_url, temp, "monitor", "--once", FONDATION_HEALTH_PORT=str(lost.port))
    assert once.returncode == 2 and "\nP1 no_live_worker: no live worker while 3 jobs waiting" in once.stdout

    # Resolve: restart the worker (same WORKER_ID, as systemd does); the jobs flow, the monitor is clean.
    restarted = start_worker("w1")
    for job in jobs:
        done = wait_until(lambda job_id=job.id: finished(queue, job_id), timeout=30, what=f"job {job.id}")
        assert done.status is JobStatus.SUCCEEDED
    code, document = monitor(database_url, temp, restarted.port)
    assert (code, document["findings"], document["worst_severity"]) == (0, [], None)
    assert [(w["id"], w["state"]) for w in document["workers"]] == [("w1", "up")]
    assert document["health"]["status"] == "ok" and document["queue"]["depth"]["succeeded"] == 3


# ---------------------------------------------------------------------------------------------- (3) memory hog


def test_drill_memory_hog(queue: JobQueue, start_worker: StartWorker, database_url: str, tmp_path: Path) -> None:
    worker = start_worker("w1", FONDATION_JOB_MEMORY_MB="200")
    hog = queue.enqueue(source(1), options={"do": "hog"}, max_attempts=2).job
    dead = wait_until(lambda: finished(queue, hog.id), timeout=60, what="the hog to be stopped for good")
    assert (dead.status, dead.error_kind, dead.attempts) == (JobStatus.DEAD, ErrorKind.RESOURCE, 2)
    assert "FONDATION_JOB_MEMORY_MB (200 MB)" in (dead.error_message or "")

    # Detect: the failures section names `resource`, and two failures out of two is a high error rate.
    code, document = monitor(database_url, worker.temp_dir, worker.port, FONDATION_MONITOR_ERROR_MIN_ATTEMPTS="2")
    assert code == 1 and document["worst_severity"] == "P2"
    assert document["queue"]["failures_last_hour"] == [{"kind": "resource", "count": 2}]
    rate = document["queue"]["error_rate"]
    assert (rate["ended"], rate["failed"], rate["rate"]) == (2, 2, 1.0)
    seen = findings(document)
    assert seen["error_rate"]["severity"] == "P2"
    assert "2 of 2 attempts" in seen["error_rate"]["message"] and "resource 2" in seen["error_rate"]["message"]
    assert "memory" in seen["error_rate"]["fix"]
    # The worker itself stayed within its own limit: the hog was killed, not the worker.
    assert document["health"]["checks"]["memory"]["status"] == "ok" and worker.popen.poll() is None

    # With the default minimum of attempts, the same failures are information only (P4, exit 0).
    code, document = monitor(database_url, worker.temp_dir, worker.port)
    assert code == 0 and findings(document)["failures"]["message"] == "attempts failed in the last hour: resource 2"

    # Resolution: jobs that fit the limit go on running on the same worker.
    after = queue.enqueue(source(2), options={"do": "succeed"}).job
    assert wait_until(lambda: finished(queue, after.id), timeout=30).status is JobStatus.SUCCEEDED


# ---------------------------------------------------------------------------------------------- (7) disk full


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A DISK_MB tmpfs (the suite runs as root); where mounting is refused, a directory on the test's disk."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount_point)], capture_output=True
        ).returncode
        == 0
    )
    yield mount_point
    if mounted:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_drill_disk_full(small_disk: Path, queue: JobQueue, start_worker: StartWorker, database_url: str) -> None:
    # The minimum sits half a leftover below today's free space: the leftover crosses it, cleaning it undoes that.
    minimum = shutil.disk_usage(small_disk).free // MB - LEFTOVER_MB // 2
    settings = {"FONDATION_MIN_FREE_DISK_MB": str(minimum)}
    worker = start_worker("w1", FONDATION_TEMP_DIR=str(small_disk), **settings)
    leftover = small_disk / "job-999-1"  # what a killed attempt of a crashed worker left behind
    leftover.mkdir()
    (leftover / "clone.pack").write_bytes(b"\0" * (LEFTOVER_MB * MB))
    job = queue.enqueue(source(1), options={"do": "succeed"}).job

    # Detect: the worker claims nothing; the monitor pages (a job waits, no progress) and shows the disk.
    def paged() -> tuple[int, dict[str, Any]] | None:
        code, document = monitor(database_url, small_disk, worker.port, FONDATION_MONITOR_STUCK_AFTER="1", **settings)
        return (code, document) if "queue_stuck" in findings(document) else None

    code, document = wait_until(paged, timeout=30, interval=0.5, what="the monitor to see a stuck queue")
    waiting = queue.get(job.id)
    assert (waiting.status, waiting.attempts) == (JobStatus.PENDING, 0)
    assert code == 2
    seen = findings(document)
    assert seen["queue_stuck"]["severity"] == "P1" and "1 free slot" in seen["queue_stuck"]["message"]
    assert seen["disk_low"]["severity"] == "P2" and f"({minimum} MB)" in seen["disk_low"]["message"]
    assert "fondation tmp clean" in seen["disk_low"]["fix"]
    assert seen["worker_disk"]["severity"] == "P2"  # the worker's own /health agrees
    assert document["disk"]["attempt_dirs"] == 1 and document["disk"]["temp_dir_mb"] >= LEFTOVER_MB
    assert "FONDATION_MIN_FREE_DISK_MB" in worker.health()[1]["checks"]["disk"]["detail"]

    # Resolve: `fondation tmp clean` removes what no running attempt uses; the job is claimed and runs.
    cleaned = fondation(database_url, small_disk, "tmp", "clean", "--json", **settings)
    assert cleaned.returncode == 0, cleaned.stderr
    assert json.loads(cleaned.stdout)["removed"] == [str(leftover)]
    assert wait_until(lambda: finished(queue, job.id), timeout=30).status is JobStatus.SUCCEEDED
    code, document = monitor(database_url, small_disk, worker.port, **settings)
    assert (code, document["findings"]) == (0, [])

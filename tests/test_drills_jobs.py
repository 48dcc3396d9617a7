"""Incident drills on jobs, run with the runbook's own commands against real workers and a real git server.

Drill 2 (jobs stuck in running state): the only worker is killed mid-job; the job stays `running`
until its lease expires, and nobody is left to reclaim it; `fondation jobs reclaim-expired` takes it
back, and the next worker finishes it. Drill 5 (repository clone failures): a job for a repository that
does not exist ends `dead`, kind `permanent`, after one attempt, with the hint the runbook tells to read.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from cli_harness import Run
from fondation.domain.jobs import ErrorKind, EventKind, JobStatus
from fondation.queue import JobQueue
from fondation.queue.stats import QueueStats
from git_servers import SmartHttpServer
from helpers import source
from worker_harness import FONDATION, StartWorker, finished, wait_until, worker_env

pytest_plugins = ["git_servers"]

COURSE_JOB = "fondation.worker.course_job:run"
#: Drill 2's lease: long enough that a job whose worker died stays visibly stuck in `running`.
STUCK_LEASE_MS = "6000"


def fondation(database_url: str, tmp_path: Path, *args: str, **env: str) -> Run:
    """The console script as an operator runs it, on the test's database, with the workers' short timings."""
    environment = worker_env(database_url, tmp_path / "temp", LOGNAME="oncall", **env)
    done = subprocess.run(
        [str(FONDATION), *args], env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    return Run(done.returncode, done.stdout, done.stderr)


def claims(queue: JobQueue, job_id: int) -> list[Any]:
    return [event for event in queue.events(job_id) if event.kind is EventKind.CLAIMED]


def test_drill_2_a_job_stuck_after_its_worker_died_is_reclaimed_and_completed(
    queue: JobQueue, database_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "attempts.txt"
    job = queue.enqueue(source(1), options={"do": "sleep", "seconds": 0.5, "first_seconds": 60, "marker": str(marker)})
    job_id = job.job.id
    w1 = start_worker("w1", FONDATION_LEASE_TIME=STUCK_LEASE_MS)
    wait_until(lambda: marker.exists() and marker.read_text(), timeout=15, what="the job to start on w1")
    w1.kill()  # kill -9: nothing released, the lease stays until it expires

    # Symptom: the job stays running, and while its lease holds nobody may take it.
    stuck = queue.get(job_id)
    assert (stuck.status, stuck.worker_id) == (JobStatus.RUNNING, "w1")
    early = fondation(database_url, tmp_path, "jobs", "reclaim-expired")
    assert early.ok().strip() == "no running job has an expired lease"
    assert queue.get(job_id).status is JobStatus.RUNNING

    # Investigation: once the lease has expired, the job is listed as stuck (and still running: no reaper is alive).
    wait_until(lambda: [j.id for j in QueueStats(queue.db).stuck()] == [job_id], timeout=15, what="the lease to expire")
    assert queue.get(job_id).status is JobStatus.RUNNING

    # Resolution: the runbook's command takes it back; a new worker completes it.
    taken = json.loads(fondation(database_url, tmp_path, "jobs", "reclaim-expired", "--json").ok())
    assert taken["count"] == 1 and [(j["id"], j["status"]) for j in taken["jobs"]] == [(job_id, "pending")]
    [reclaimed] = [e for e in queue.events(job_id) if e.kind is EventKind.RECLAIMED]
    assert reclaimed.actor == "cli:oncall" and "(worker w1)" in (reclaimed.reason or "")

    start_worker("w2")
    done = wait_until(lambda: finished(queue, job_id), timeout=20, what="w2 to complete the job")
    assert (done.status, done.worker_id, done.attempts, done.result) == (JobStatus.SUCCEEDED, "w2", 2, {"slept": 0.5})
    assert [(c.actor, c.attempt) for c in claims(queue, job_id)] == [("w1", 1), ("w2", 2)]
    assert QueueStats(queue.db).stuck() == []


def test_drill_5_a_missing_repository_is_dead_after_one_attempt(
    queue: JobQueue, database_url: str, start_worker: StartWorker, tmp_path: Path, http_server: SmartHttpServer
) -> None:
    url = http_server.url("missing.git")
    submitted = json.loads(fondation(database_url, tmp_path, "submit", url, "--json").ok())
    job_id = submitted["job"]["id"]
    start_worker("w1", FONDATION_JOB_HANDLER=COURSE_JOB)
    done = wait_until(lambda: finished(queue, job_id), timeout=60, what="the clone of a missing repository to fail")

    assert (done.status, done.error_kind, done.attempts) == (JobStatus.DEAD, ErrorKind.PERMANENT, 1)
    assert done.max_attempts > 1, "dead on the first attempt because the failure is permanent, not for lack of tries"
    assert len(claims(queue, job_id)) == 1
    # Investigation as the runbook says: the job tells why, with what to check.
    shown = json.loads(fondation(database_url, tmp_path, "jobs", "show", str(job_id), "--json").ok())
    assert (shown["status"], shown["error_kind"], shown["attempts"]) == ("dead", "permanent", 1)
    assert f"repository {url} not found or not accessible" in shown["error_message"]
    assert "check the URL" in shown["error_message"]

"""Crash recovery with real worker processes and real signals, on each backend.

kill -9 mid-job, repeated kills under load, a worker frozen past its lease (SIGSTOP/SIGCONT), poison
jobs whose process dies every time, graceful and hurried shutdown (SIGTERM), a duplicate worker id,
and the per-attempt temp directories. Timings are the harness's: lease 3 s, heartbeat 0.5 s,
poll 0.2 s, reaper 1 s.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fondation.config import Settings
from fondation.domain.jobs import ErrorKind, EventKind, JobEvent, JobStatus
from fondation.queue import JobQueue, WorkerRegistry
from fondation.worker import runtime, workdirs
from helpers import source
from worker_harness import FONDATION, TESTS_DIR, StartWorker, WorkerProcess, finished, wait_until, worker_env

LEASE_SECONDS = 3.0  # worker_harness.FAST["FONDATION_LEASE_TIME"]

# ---------------------------------------------------------------------------------------- helpers


#: The history of a job that w1 held until its lease expired and w2 then ran to the end.
RECLAIMED_BY_W2 = [
    ("enqueued", "cli"),
    ("claimed", "w1"),
    ("reclaimed", "reaper:w2"),
    ("claimed", "w2"),
    ("succeeded", "w2"),
]


def attempts_run(marker: Path) -> list[tuple[int, int, int, str]]:
    """(job id, attempt, child pid, work dir) of every attempt that started, from the marker file."""
    if not marker.exists():
        return []
    rows = []
    for line in marker.read_text().splitlines():
        job_id, attempt, pid, work_dir = line.split(" ", 3)
        rows.append((int(job_id), int(attempt), int(pid), work_dir))
    return rows


def process_gone(pid: int) -> bool:
    """True when no process runs under `pid` (a zombie counts as gone: it runs nothing)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def transitions(events: list[JobEvent]) -> list[tuple[str, str]]:
    """(kind, actor) of every event but progress."""
    return [(e.kind.value, e.actor) for e in events if e.kind is not EventKind.PROGRESS]


def of_kind(events: list[JobEvent], kind: EventKind) -> list[JobEvent]:
    return [e for e in events if e.kind is kind]


def metric_samples(worker: WorkerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(worker.metrics())
        for sample in family.samples
    }


def log_lines(worker: WorkerProcess) -> list[dict[str, Any]]:
    """The worker's JSON log lines (a job's own stderr, such as a traceback, is skipped)."""
    lines = []
    for line in worker.log().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "event" in entry:
            lines.append(entry)
    return lines


def attempt_dirs(temp_dir: Path) -> set[str]:
    return {p.name for p in temp_dir.glob("job-*") if p.is_dir()} if temp_dir.is_dir() else set()


def holds_transaction(database_url: str) -> bool:
    """Whether some other session is inside a database transaction right now."""
    if database_url.startswith("sqlite:///"):
        probe = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:  # "database is locked": a writer is mid-transaction
            return True
        finally:
            probe.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        busy = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
        ).fetchone()
    return bool(busy and busy[0])


def freeze_between_transactions(worker: WorkerProcess, database_url: str) -> None:
    """SIGSTOP the worker at a moment it holds no open transaction.

    A worker frozen inside a write would keep SQLite's write lock (stalling every process) or a
    PostgreSQL row lock (which the reaper's SKIP LOCKED steps over): a different scenario from a
    worker that stops answering between two writes, which is the one under test here.
    """
    for _ in range(50):
        worker.send(signal.SIGSTOP)
        time.sleep(0.05)  # the stop lands, and a statement already sent reaches the server
        if not holds_transaction(database_url):
            return
        worker.send(signal.SIGCONT)
        time.sleep(random.uniform(0.01, 0.06))
    raise AssertionError("could not freeze the worker between two transactions in 50 tries")


def run_cli(database_url: str, temp_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FONDATION), *args],
        env=worker_env(database_url, temp_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )


# ---------------------------------------------------------------------------------------- 1. kill -9


def test_killed_worker_job_is_reclaimed_after_lease_and_completed_once(
    queue: JobQueue, start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "attempts.txt"
    job = queue.enqueue(source(1), options={"do": "sleep", "seconds": 1.0, "marker": str(marker)}).job
    w1 = start_worker("w1")
    wait_until(lambda: len(attempts_run(marker)) == 1, timeout=15, what="the job to start on w1")
    assert (queue.get(job.id).status, queue.get(job.id).worker_id) == (JobStatus.RUNNING, "w1")
    w1.kill()
    start_worker("w2")

    done = wait_until(lambda: finished(queue, job.id), timeout=20, what="the job to finish on w2")
    assert (done.status, done.worker_id, done.attempts) == (JobStatus.SUCCEEDED, "w2", 2)
    assert done.result == {"slept": 1.0}

    events = queue.events(job.id)
    assert transitions(events) == RECLAIMED_BY_W2
    first_claim, second_claim = of_kind(events, EventKind.CLAIMED)
    assert (first_claim.attempt, second_claim.attempt) == (1, 2)
    assert second_claim.lease_token > first_claim.lease_token
    # Reclaimed only once the lease had expired: w1's last heartbeat came at most 1 s before its
    # last recorded progress (heartbeat 0.5 s, checked on a 0.5 s tick), and the lease runs 3 s from it.
    [reclaimed] = of_kind(events, EventKind.RECLAIMED)
    last_w1_write = max(e.created_at for e in events if e.actor == "w1")
    assert (reclaimed.created_at - last_w1_write).total_seconds() >= LEASE_SECONDS - 1.0 - 0.1
    assert "lease expired" in (reclaimed.reason or "") and "worker w1" in (reclaimed.reason or "")

    runs = attempts_run(marker)
    assert [(job_id, attempt) for job_id, attempt, _, _ in runs] == [(job.id, 1), (job.id, 2)]
    assert runs[0][2] != runs[1][2], "the second attempt ran in a new process"
    wait_until(lambda: process_gone(runs[0][2]), timeout=5, what="w1's orphaned child to stop")


def test_a_killed_workers_child_dies_with_it(queue: JobQueue, start_worker: StartWorker, tmp_path: Path) -> None:
    """A quiet, CPU-bound child never writes to the pipe: only the parent-death signal can stop it."""
    marker = tmp_path / "attempts.txt"
    queue.enqueue(source(1), options={"do": "busy", "seconds": 60, "marker": str(marker)})
    w1 = start_worker("w1")
    [(_, _, child_pid, _)] = wait_until(lambda: attempts_run(marker), timeout=15, what="the job to start")
    w1.kill()
    wait_until(lambda: process_gone(child_pid), timeout=3, what="the orphaned child to be killed")


# ---------------------------------------------------------------------------------------- 2. repeated kills


def test_repeated_kills_while_a_batch_drains_lose_and_repeat_nothing(
    queue: JobQueue, start_worker: StartWorker
) -> None:
    started = time.monotonic()
    jobs = [
        queue.enqueue(source(i), options={"do": "sleep", "seconds": 0.2 + 0.1 * (i % 4)}, max_attempts=10).job
        for i in range(50)
    ]
    ids = {job.id for job in jobs}
    workers = {"w1": start_worker("w1", concurrency=2), "w2": start_worker("w2", concurrency=2)}

    kills = 0
    for victim in ["w2", "w1", "w2", "w1"]:
        holding = wait_until(
            lambda victim=victim: (
                [j.id for j in queue.list(status=JobStatus.RUNNING, limit=100) if j.worker_id == victim]
                or queue.counts()[JobStatus.SUCCEEDED] == len(ids)
            ),
            timeout=15,
            what=f"{victim} to hold a job",
        )
        if holding is True:  # the batch drained before every kill could land
            break
        workers[victim].kill()
        kills += 1
        workers[victim] = start_worker(victim, concurrency=2)  # same id: the old pid is dead
        time.sleep(0.5)
    assert kills >= 3, "the batch drained before the kills could hit it: make it longer"

    wait_until(
        lambda: queue.counts()[JobStatus.SUCCEEDED] == len(ids),
        timeout=40,
        interval=0.25,
        what="every job to succeed",
    )
    counts = queue.counts()
    assert counts[JobStatus.SUCCEEDED] == 50
    assert counts[JobStatus.RUNNING] == counts[JobStatus.DEAD] == counts[JobStatus.PENDING] == 0

    reclaims = 0
    for job_id in ids:
        job = queue.get(job_id)
        events = queue.events(job_id)
        claims = of_kind(events, EventKind.CLAIMED)
        reclaimed = of_kind(events, EventKind.RECLAIMED)
        reclaims += len(reclaimed)
        assert len(of_kind(events, EventKind.SUCCEEDED)) == 1, f"job {job_id}: {transitions(events)}"
        # Every extra claim is explained by a reclaim after a kill: no failure, no double run.
        assert len(claims) == job.attempts == 1 + len(reclaimed), f"job {job_id}: {transitions(events)}"
        assert all(e.actor.startswith("reaper:") for e in reclaimed)
        assert events[-1].kind is EventKind.SUCCEEDED
    assert reclaims >= 2, "the kills did not hit running jobs"
    assert time.monotonic() - started < 60


# ---------------------------------------------------------------------------------------- 3. SIGSTOP


def test_frozen_worker_past_its_lease_has_its_late_writes_rejected(
    queue: JobQueue, start_worker: StartWorker, database_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "attempts.txt"
    # Attempt 1 (on w1) would sleep a minute; attempt 2 (on w2) half a second.
    options = {"do": "sleep", "first_seconds": 60, "seconds": 0.5, "marker": str(marker)}
    job = queue.enqueue(source(1), options=options).job
    w1 = start_worker("w1")
    wait_until(lambda: len(attempts_run(marker)) == 1, timeout=15, what="the job to start on w1")
    first_pid = attempts_run(marker)[0][2]
    freeze_between_transactions(w1, database_url)
    start_worker("w2")

    done = wait_until(lambda: finished(queue, job.id), timeout=20, what="w2 to reclaim and finish the job")
    assert (done.status, done.worker_id, done.attempts, done.result) == (
        JobStatus.SUCCEEDED,
        "w2",
        2,
        {"slept": 0.5},
    )
    assert not process_gone(first_pid), "w1's child keeps running while w1 is frozen"

    w1.send(signal.SIGCONT)
    wait_until(lambda: process_gone(first_pid), timeout=5, what="w1 to kill its child after losing the lease")
    wait_until(
        lambda: any(line["event"].startswith("lease lost") for line in log_lines(w1)),
        timeout=5,
        what="w1 to log the lost lease",
    )
    lost = wait_until(
        lambda: metric_samples(w1).get(("fondation_lease_lost_total", ())),
        timeout=5,
        what="fondation_lease_lost_total on w1",
    )
    assert lost >= 1
    assert metric_samples(w1)[("fondation_jobs_succeeded_total", ())] == 0

    after = queue.get(job.id)
    assert (after.status, after.worker_id, after.result, after.attempts) == (
        JobStatus.SUCCEEDED,
        "w2",
        {"slept": 0.5},
        2,
    )
    assert after.updated_at == done.updated_at, "nothing wrote to the job after w2 finished it"
    events = queue.events(job.id)
    assert transitions(events) == RECLAIMED_BY_W2
    reclaim_at = of_kind(events, EventKind.RECLAIMED)[0].id
    assert not [e for e in events if e.actor == "w1" and e.id > reclaim_at], "w1 wrote after losing its lease"
    assert w1.popen.poll() is None and w1.health()[0] == 200, "w1 goes on working"
    abandoned = Path(attempts_run(marker)[0][3])
    wait_until(lambda: not abandoned.exists(), timeout=5, what="w1 to remove its abandoned attempt's directory")


# ---------------------------------------------------------------------------------------- 4. poison jobs


def test_jobs_whose_process_dies_every_time_end_dead_and_the_worker_survives(
    queue: JobQueue, start_worker: StartWorker, tmp_path: Path
) -> None:
    crash_marker, segv_marker = tmp_path / "crash.txt", tmp_path / "segv.txt"
    crash = queue.enqueue(source(1), options={"do": "crash", "marker": str(crash_marker)}, max_attempts=3).job
    segv = queue.enqueue(source(2), options={"do": "segfault", "marker": str(segv_marker)}, max_attempts=3).job
    worker = start_worker("w1", concurrency=2)
    pid = worker.popen.pid

    for job, marker, death in [
        (crash, crash_marker, "exited with code 3"),
        (segv, segv_marker, "killed by SIGSEGV"),
    ]:
        dead = wait_until(lambda job=job: finished(queue, job.id), timeout=30, what=f"job {job.id} to end")
        assert (dead.status, dead.attempts, dead.error_kind) == (JobStatus.DEAD, 3, ErrorKind.TRANSIENT)
        assert dead.error_message == f"job process {death} without a result"
        assert transitions(queue.events(job.id)) == [
            ("enqueued", "cli"),
            ("claimed", "w1"),
            ("failed", "w1"),
            ("claimed", "w1"),
            ("failed", "w1"),
            ("claimed", "w1"),
            ("dead", "w1"),
        ]
        assert [attempt for _, attempt, _, _ in attempts_run(marker)] == [1, 2, 3]

    assert worker.popen.poll() is None and worker.popen.pid == pid
    code, health = worker.health()
    assert code == 200 and health["status"] == "ok" and health["active_jobs"] == 0
    ok = queue.enqueue(source(3), options={"do": "succeed"}).job
    done = wait_until(lambda: finished(queue, ok.id), timeout=15, what="a normal job after the poison ones")
    assert (done.status, done.worker_id) == (JobStatus.SUCCEEDED, "w1")
    samples = metric_samples(worker)
    assert samples[("fondation_jobs_dead_total", ())] == 2
    assert samples[("fondation_jobs_failed_total", (("kind", "transient"),))] == 6
    assert samples[("fondation_jobs_succeeded_total", ())] == 1


# ---------------------------------------------------------------------------------------- 5. SIGTERM


def test_sigterm_releases_the_job_in_flight_to_another_worker_at_once(
    queue: JobQueue, start_worker: StartWorker, database_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "attempts.txt"
    # Longer than w1's grace; a release gives the attempt number back, so both runs are attempt 1.
    job = queue.enqueue(source(1), options={"do": "sleep", "seconds": 2.5, "marker": str(marker)}).job
    w1 = start_worker("w1", FONDATION_SHUTDOWN_GRACE="1")
    wait_until(lambda: len(attempts_run(marker)) == 1, timeout=15, what="the job to start on w1")
    first_pid = attempts_run(marker)[0][2]
    start_worker("w2")  # idle and polling when the job comes back

    signalled = time.monotonic()
    w1.send(signal.SIGTERM)
    assert w1.wait(timeout=10) == 0
    took = time.monotonic() - signalled
    assert 0.9 <= took < 5, f"the drain took {took:.1f} s with a 1 s grace"
    assert process_gone(first_pid), "the child was stopped when the grace ran out"

    done = wait_until(lambda: finished(queue, job.id), timeout=15, what="w2 to finish the released job")
    assert (done.status, done.worker_id, done.attempts, done.result) == (
        JobStatus.SUCCEEDED,
        "w2",
        1,
        {"slept": 2.5},
    )
    events = queue.events(job.id)
    assert transitions(events) == [
        ("enqueued", "cli"),
        ("claimed", "w1"),
        ("released", "w1"),
        ("claimed", "w2"),
        ("succeeded", "w2"),
    ]
    [released] = of_kind(events, EventKind.RELEASED)
    first_claim, second_claim = of_kind(events, EventKind.CLAIMED)
    assert (first_claim.attempt, released.attempt, second_claim.attempt) == (1, 0, 1), "the attempt was given back"
    waited = (second_claim.created_at - released.created_at).total_seconds()
    assert 0 <= waited < 1.5, f"w2 claimed {waited:.2f} s after the release (the lease was {LEASE_SECONDS} s)"
    assert [attempt for _, attempt, _, _ in attempts_run(marker)] == [1, 1]
    assert any(line["event"] == "draining" for line in log_lines(w1))
    registry = {info.id: info for info in WorkerRegistry(queue.db).list()}
    assert registry["w1"].status == "stopped"


def test_sigterm_lets_a_job_that_ends_within_the_grace_complete(
    queue: JobQueue, start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "attempts.txt"
    job = queue.enqueue(source(1), options={"do": "sleep", "seconds": 1.0, "marker": str(marker)}).job
    worker = start_worker("w1", FONDATION_SHUTDOWN_GRACE="10")
    wait_until(lambda: len(attempts_run(marker)) == 1, timeout=15, what="the job to start")
    signalled = time.monotonic()
    worker.send(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert time.monotonic() - signalled < 5, "the worker left once its job was done, not at the end of the grace"

    done = queue.get(job.id)
    assert (done.status, done.worker_id, done.attempts, done.result) == (
        JobStatus.SUCCEEDED,
        "w1",
        1,
        {"slept": 1.0},
    )
    assert transitions(queue.events(job.id)) == [("enqueued", "cli"), ("claimed", "w1"), ("succeeded", "w1")]


def test_a_second_sigterm_during_the_grace_stops_at_once(
    queue: JobQueue, start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "attempts.txt"
    job = queue.enqueue(source(1), options={"do": "sleep", "seconds": 60, "marker": str(marker)}).job
    worker = start_worker("w1", FONDATION_SHUTDOWN_GRACE="30")
    wait_until(lambda: len(attempts_run(marker)) == 1, timeout=15, what="the job to start")
    child = attempts_run(marker)[0][2]
    worker.send(signal.SIGTERM)
    wait_until(lambda: any(line["event"] == "draining" for line in log_lines(worker)), timeout=5, what="the drain")
    time.sleep(0.3)
    assert worker.popen.poll() is None, "still draining: the grace is 30 s"
    signalled = time.monotonic()
    worker.send(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    assert time.monotonic() - signalled < 5, "stopped well within the 30 s grace"
    assert process_gone(child)

    job = queue.get(job.id)
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
    assert transitions(queue.events(job.id)) == [("enqueued", "cli"), ("claimed", "w1"), ("released", "w1")]


# ---------------------------------------------------------------------------------------- 6. duplicate id


def test_a_worker_with_the_id_of_a_live_worker_is_refused(
    queue: JobQueue, start_worker: StartWorker, database_url: str
) -> None:
    w1 = start_worker("w1")
    # On the live worker's own health port, as two workers started with the defaults would be:
    # the id is refused before the port is ever bound.
    result = subprocess.run(
        [str(FONDATION), "worker", "--id", "w1", "--health-port", str(w1.port)],
        env=worker_env(database_url, w1.temp_dir),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: worker id 'w1' is in use by pid ")
    assert f"pid {w1.popen.pid} " in lines[0]

    # The first worker is untouched, in the registry and at work.
    [row] = WorkerRegistry(queue.db).list()
    assert (row.id, row.pid, row.status) == ("w1", w1.popen.pid, "up")
    job = queue.enqueue(source(1), options={"do": "succeed"}).job
    done = wait_until(lambda: finished(queue, job.id), timeout=15, what="w1 to run a job")
    assert (done.status, done.worker_id) == (JobStatus.SUCCEEDED, "w1")


# ---------------------------------------------------------------------------------------- 7. temp dirs


def test_worker_start_removes_leftover_attempt_dirs_but_not_running_ones(
    queue: JobQueue, start_worker: StartWorker, tmp_path: Path
) -> None:
    temp_dir = tmp_path / "temp"  # the harness's TEMP_DIR
    job = queue.enqueue(source(1), options={"do": "succeed"}).job
    [lease] = queue.claim("elsewhere", lease_seconds=120)  # running on another (live) worker
    assert (lease.job_id, lease.job.attempts) == (job.id, 1)
    live = temp_dir / f"job-{job.id}-1"
    live.mkdir(parents=True)
    (live / "scratch.txt").write_text("in use")
    stale = [temp_dir / f"job-{job.id}-2", temp_dir / "job-9999-1"]  # same job other attempt; no such job
    for path in stale:
        path.mkdir()
        (path / "scratch.txt").write_text("left by a crash")
    (temp_dir / "notes").mkdir()
    (temp_dir / "job-7-x").mkdir()
    (temp_dir / "job-8-1").write_text("a file, not an attempt directory")

    worker = start_worker("w1")  # cleans before its health endpoint answers
    assert (live / "scratch.txt").read_text() == "in use"
    assert not any(path.exists() for path in stale)
    assert (temp_dir / "notes").is_dir() and (temp_dir / "job-7-x").is_dir() and (temp_dir / "job-8-1").is_file()
    [removed] = [line for line in log_lines(worker) if line["event"] == "removed leftover temp dirs"]
    assert removed["count"] == 2


def test_tmp_clean_from_the_cli(queue: JobQueue, database_url: str, tmp_path: Path) -> None:
    temp_dir = tmp_path / "temp"
    job = queue.enqueue(source(1), options={"do": "succeed"}).job
    [lease] = queue.claim("elsewhere", lease_seconds=120)
    live = temp_dir / f"job-{lease.job_id}-1"
    stale = temp_dir / f"job-{job.id + 1}-3"
    for path in (live, stale):
        path.mkdir(parents=True)
        (path / "scratch.txt").write_text("x")
    (temp_dir / "notes").mkdir()

    result = run_cli(database_url, temp_dir, "tmp", "clean", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"temp_dir": str(temp_dir), "removed": [str(stale)]}
    assert attempt_dirs(temp_dir) == {live.name}

    stale.mkdir()
    result = run_cli(database_url, temp_dir, "tmp", "clean")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"removed 1 attempt directory from {temp_dir}"
    assert attempt_dirs(temp_dir) == {live.name}

    result = run_cli(database_url, temp_dir, "tmp", "clean", "--all", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["removed"] == [str(live)]
    assert attempt_dirs(temp_dir) == set() and (temp_dir / "notes").is_dir()


def test_attempt_dirs_never_remain_after_jobs_finish(
    queue: JobQueue, start_worker: StartWorker, tmp_path: Path
) -> None:
    temp_dir = tmp_path / "temp"
    marker = tmp_path / "attempts.txt"
    bodies: list[dict[str, Any]] = [
        {"do": "succeed"},
        {"do": "fail", "kind": "permanent"},
        {"do": "crash"},
        {"do": "sleep", "seconds": 0.3},
        {"do": "sleep", "seconds": 60},  # canceled below
    ]
    jobs = [
        queue.enqueue(source(i), options={**body, "marker": str(marker)}, max_attempts=2).job
        for i, body in enumerate(bodies)
    ]
    start_worker("w1", concurrency=4)
    wait_until(
        lambda: any(job_id == jobs[-1].id for job_id, _, _, _ in attempts_run(marker)),
        timeout=15,
        what="the long job to run",
    )
    queue.cancel(jobs[-1].id)
    ended = wait_until(
        lambda: all(finished(queue, j.id) for j in jobs) and [queue.get(j.id).status for j in jobs],
        timeout=20,
        what="every job to end",
    )
    assert ended == [JobStatus.SUCCEEDED, JobStatus.DEAD, JobStatus.DEAD, JobStatus.SUCCEEDED, JobStatus.CANCELED]
    runs = attempts_run(marker)
    assert len(runs) == 6  # the crash ran twice
    assert {Path(work_dir).name for _, _, _, work_dir in runs} == {f"job-{j}-{a}" for j, a, _, _ in runs}
    wait_until(lambda: not attempt_dirs(temp_dir), timeout=5, what="every attempt directory to be removed")


def test_start_up_cleaning_lists_before_it_asks_what_runs(tmp_path: Path) -> None:
    """A claim landing between the listing and the query must not lose its fresh directory."""
    (tmp_path / "job-1-1").mkdir()

    def running_then_a_claim_lands() -> set[tuple[int, int]]:
        answer: set[tuple[int, int]] = set()  # the database answers: nothing runs...
        (tmp_path / "job-2-1").mkdir()  # ...then another worker claims job 2 and makes its directory
        return answer

    removed = workdirs.clean_leftovers(tmp_path, running_then_a_claim_lands)
    assert removed == [tmp_path / "job-1-1"]
    assert attempt_dirs(tmp_path) == {"job-2-1"}


@pytest.mark.backends("sqlite")  # the order of two steps inside one worker: the backend plays no part
def test_a_released_attempt_dir_is_removed_before_the_job_can_run_again(
    queue: JobQueue, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a release the next claim runs the same attempt number, so in a directory of the same name.

    The releasing worker's clean-up is slowed down here, as a descheduled thread would be: it must
    still never delete the directory of the attempt that runs next.
    """
    monkeypatch.setenv("PYTHONPATH", str(TESTS_DIR))
    temp_dir = tmp_path / "temp"

    def embedded(worker_id: str) -> tuple[runtime.Worker, threading.Thread]:
        settings = Settings(
            database_url=database_url,
            temp_dir=temp_dir,
            job_handler="job_handlers:run",
            poll_interval_ms=100,
            lease_time_ms=3000,
            heartbeat_interval_ms=500,
            min_free_disk_mb=1,
            shutdown_grace_seconds=0.1,
            worker_id=worker_id,
        )  # type: ignore[call-arg]
        worker = runtime.Worker(settings, serve_health=False)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        return worker, thread

    marker = tmp_path / "attempts.txt"
    job = queue.enqueue(source(1), options={"do": "sleep", "seconds": 1.0, "marker": str(marker)}).job
    w1, t1 = embedded("w1")
    wait_until(lambda: len(attempts_run(marker)) == 1, timeout=15, what="the job to start on w1")
    real_remove = workdirs.remove

    def slow_remove(path: Path) -> None:
        if w1.stopping.is_set() and threading.current_thread().name == f"job-{job.id}":
            time.sleep(0.7)
        real_remove(path)

    monkeypatch.setattr(runtime.workdirs, "remove", slow_remove)
    w2, t2 = embedded("w2")
    try:
        w1.request_stop()
        wait_until(lambda: len(attempts_run(marker)) == 2, timeout=15, what="w2 to start the released job")
        _, _, second_pid, second_dir = attempts_run(marker)[1]
        assert Path(second_dir).name == f"job-{job.id}-1"
        seen = []  # whether the directory exists, sampled while w2's child runs (w2 removes it after)
        deadline = time.monotonic() + 15
        while not process_gone(second_pid) and time.monotonic() < deadline:
            exists = Path(second_dir).is_dir()
            if not process_gone(second_pid):
                seen.append(exists)
            time.sleep(0.05)
        assert len(seen) >= 10 and all(seen), "w1 deleted the directory of w2's attempt"
        done = wait_until(lambda: finished(queue, job.id), timeout=10, what="w2 to finish the job")
        assert (done.status, done.worker_id) == (JobStatus.SUCCEEDED, "w2")
    finally:
        w1.request_stop()
        w2.request_stop()
        t1.join(timeout=30)
        t2.join(timeout=30)

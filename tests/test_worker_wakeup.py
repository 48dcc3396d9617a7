"""Wake-up without busy loops: NOTIFY on PostgreSQL, an in-process signal for an embedded worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fondation.config import Settings
from fondation.domain.jobs import JobStatus
from fondation.queue import JobQueue
from fondation.store import open_database
from fondation.worker.runtime import Worker
from helpers import source
from worker_harness import TESTS_DIR, wait_until

SLOW_POLL_MS = 60_000  # a minute: any claim within seconds was woken, not polled


@pytest.fixture
def embedded_worker(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    """A Worker running in a thread of the test process, polling only once a minute."""
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    settings = Settings(
        database_url=database_url,
        temp_dir=tmp_path / "temp",
        poll_interval_ms=SLOW_POLL_MS,
        lease_time_ms=300_000,
        heartbeat_interval_ms=60_000,
        job_handler="job_handlers:run",
        min_free_disk_mb=1,
        reaper_interval_seconds=3600,
        worker_id="embedded",
    )  # type: ignore[call-arg]
    monkeypatch.setenv("PYTHONPATH", str(TESTS_DIR))
    worker = Worker(settings, serve_health=False)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_until(lambda: worker.state.last_poll_at is not None, what="the claim loop to start")
    yield worker
    worker.request_stop()
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_enqueue_in_the_same_process_wakes_the_worker_at_once(embedded_worker: Worker) -> None:
    time.sleep(0.5)
    polled = embedded_worker.state.last_poll_at
    time.sleep(1.5)
    assert embedded_worker.state.last_poll_at == polled, "an idle worker must sleep, not spin"
    started = time.monotonic()
    job = embedded_worker.queue.enqueue(source(), options={"do": "succeed"}).job
    wait_until(
        lambda: embedded_worker.queue.get(job.id).status is JobStatus.SUCCEEDED, timeout=10, what="the job to run"
    )
    assert time.monotonic() - started < 5, "the job waited for a poll instead of being woken"


@pytest.mark.backends("postgresql")  # SQLite workers in other processes poll
def test_notify_wakes_a_worker_in_another_process(database_url: str, embedded_worker: Worker) -> None:
    wait_until(
        lambda: embedded_worker._listener and embedded_worker._listener.connected.is_set(),
        what="the listener to connect",
    )
    other = JobQueue(open_database(database_url))  # a different JobQueue: only NOTIFY can wake the worker
    started = time.monotonic()
    job = other.enqueue(source(), options={"do": "succeed"}).job
    wait_until(lambda: other.get(job.id).status is JobStatus.SUCCEEDED, timeout=10, what="the job to run")
    assert time.monotonic() - started < 5

"""Real worker processes for tests: `fondation worker` started as a child, with short timings.

Job bodies come from tests/job_handlers.py through FONDATION_JOB_HANDLER; every timing is shortened
(lease 3 s, heartbeat 0.5 s, poll 0.2 s) so that crashes, expiries and reclaims happen in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from fondation.domain.jobs import Job
    from fondation.queue import JobQueue

TESTS_DIR = Path(__file__).resolve().parent
FONDATION = Path(sys.executable).parent / "fondation"
T = TypeVar("T")

FAST = {
    "FONDATION_POLL_INTERVAL": "200",
    "FONDATION_LEASE_TIME": "3000",
    "FONDATION_HEARTBEAT_INTERVAL": "500",
    "FONDATION_REAPER_INTERVAL": "1",
    "FONDATION_CANCEL_POLL_INTERVAL": "0.5",
    "FONDATION_RETRY_BASE_SECONDS": "0.1",
    "FONDATION_RETRY_CAP_SECONDS": "0.5",
    "FONDATION_SHUTDOWN_GRACE": "5",
    "FONDATION_MIN_FREE_DISK_MB": "1",
    "FONDATION_LOG_FORMAT": "json",
}


def finished(queue: JobQueue, job_id: int) -> Job | None:
    """The job once it has reached a terminal state (for `wait_until`), else None."""
    job = queue.get(job_id)
    return job if job.status.is_terminal else None


def reached(queue: JobQueue, job_id: int, phase: str) -> bool:
    """Whether the job has reported progress in `phase` (for `wait_until`)."""
    return any(event.data and event.data.get("phase") == phase for event in queue.events(job_id))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = "") -> T:
    """Poll `check` until it returns something truthy; fail the test with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
        time.sleep(interval)


def worker_env(database_url: str, temp_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a test worker: the database, the test handlers, short timings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FONDATION_")}
    env.update(FAST)
    env.update(
        FONDATION_DATABASE_URL=database_url,
        FONDATION_TEMP_DIR=str(temp_dir),
        FONDATION_JOB_HANDLER="job_handlers:run",
        FONDATION_ENV_FILE=str(temp_dir / "absent.env"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH", "")])),
    )
    env.update(overrides)
    return env


class WorkerProcess:
    """One `fondation worker` child process and its health endpoint."""

    def __init__(
        self, database_url: str, workdir: Path, worker_id: str, *, concurrency: int = 1, **env_overrides: str
    ) -> None:
        self.worker_id = worker_id
        self.port = free_port()
        self.log_path = workdir / f"{worker_id}.log"
        self.temp_dir = workdir / "temp"
        env = worker_env(database_url, self.temp_dir, **env_overrides)
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            [
                str(FONDATION),
                "worker",
                "--id",
                worker_id,
                "--concurrency",
                str(concurrency),
                "--health-port",
                str(self.port),
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._health_answers, timeout=30, what=f"worker {worker_id} health endpoint")

    def _health_answers(self) -> bool:
        if self.popen.poll() is not None:
            raise AssertionError(f"worker {self.worker_id} exited with {self.popen.returncode}:\n{self.log()}")
        try:
            self.health()
        except (urllib.error.URLError, ConnectionError):
            return False
        return True

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            return response.read().decode()

    def send(self, sig: signal.Signals) -> None:
        self.popen.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        """The worker's exit code; if it does not exit in time, its threads' stacks are added to the failure."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack into the log
            time.sleep(0.5)
            raise AssertionError(f"worker {self.worker_id} still running after {timeout} s:\n{self.log()}") from None

    def kill(self) -> None:
        """SIGKILL the worker only: its job children live in their own process groups and survive it."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)
            self.popen.kill()
            self.popen.wait(timeout=10)
        self._log.close()


#: The `start_worker` fixture: start a `fondation worker` on the test's database.
StartWorker = Callable[..., WorkerProcess]

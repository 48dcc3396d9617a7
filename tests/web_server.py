"""The real `fondation up` for browser tests: the web app and its embedded worker, as a child process.

Each server has its own SQLite file (empty at start, so `up` creates `admin` and prints a one-time login
link), its own port on 127.0.0.1, temp directory, secret key and worker health port, and the short
worker timings of tests/worker_harness.py. With `slow=SECONDS` its jobs run the real course job slowed
at every progress report (tests/job_handlers.py `slow_course`), so a browser can watch one mid-run.

Use `start_web_server` (a module-scoped factory fixture) or the `running_web_server` context manager;
either stops the whole process group at the end.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from fondation.accounts import Accounts
from fondation.config import Settings
from fondation.queue import JobQueue
from fondation.store import Database, open_database
from worker_harness import FAST, FONDATION, TESTS_DIR, free_port, wait_until

#: Worker timings: those of the worker tests, but a lease long enough that a busy 2-core machine
#: (a browser, a web server and a job child on it) never lets one lapse by accident.
SERVER_TIMINGS = {**FAST, "FONDATION_LEASE_TIME": "10000", "FONDATION_LOG_FORMAT": "console"}
_LOGIN_LINK = re.compile(r"http://\S+/login/link/\S+")


class WebServer:
    """One `fondation up` child process, on a fresh database, listening on http://127.0.0.1:PORT."""

    def __init__(self, workdir: Path, *, slow: float | None = None, **env_overrides: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite:///{workdir / 'fondation.db'}"
        self.secret_key = uuid.uuid4().hex + uuid.uuid4().hex
        self.log_path = workdir / "server.log"
        self.worker_id = f"web-{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FONDATION_")}
        env.update(SERVER_TIMINGS)
        env.update(
            FONDATION_DATABASE_URL=self.database_url,
            FONDATION_TEMP_DIR=str(workdir / "temp"),
            FONDATION_SECRET_KEY=self.secret_key,
            FONDATION_ENV_FILE=str(workdir / "absent.env"),
            FONDATION_WORKER_ID=self.worker_id,
            FONDATION_HEALTH_PORT=str(free_port()),  # the embedded worker's; never the shared default
            HOME=str(workdir),
            PYTHONUNBUFFERED="1",  # the login link reaches the log at once
        )
        if slow is not None:
            env.update(
                FONDATION_JOB_HANDLER="job_handlers:slow_course",
                FONDATION_TEST_PROGRESS_DELAY=str(slow),
                PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH", "")])),
            )
        env.update(env_overrides)
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            [str(FONDATION), "up", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one at the end
        )
        try:
            wait_until(self._healthy, timeout=60, interval=0.1, what=f"`fondation up` on {self.url} to answer /health")
        except BaseException:
            self.close()
            raise

    def _healthy(self) -> bool:
        if self.popen.poll() is not None:
            raise AssertionError(f"`fondation up` exited with {self.popen.returncode}:\n{self.output()}")
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def login_link(self) -> str:
        """The one-time login link `up` printed for `admin` on its empty database."""
        found = _LOGIN_LINK.search(self.output())
        assert found, f"`fondation up` printed no login link:\n{self.output()}"
        return found[0]

    # ------------------------------------------------------------------ the same database, from the test

    @cached_property
    def database(self) -> Database:
        return open_database(self.database_url)

    @cached_property
    def settings(self) -> Settings:
        return Settings(_env_file=None, database_url=self.database_url, secret_key=self.secret_key)  # type: ignore[call-arg]

    @cached_property
    def queue(self) -> JobQueue:
        return JobQueue(self.database)

    @cached_property
    def accounts(self) -> Accounts:
        return Accounts(self.database, self.settings)

    # ------------------------------------------------------------------ the end

    def close(self) -> None:
        """SIGTERM the process group (a graceful stop of web app and worker), SIGKILL it if that hangs."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
            except ProcessLookupError:
                pass
        if "database" in self.__dict__:
            self.database.dispose()
        self._log.close()


@contextmanager
def running_web_server(workdir: Path, **kwargs: Any) -> Iterator[WebServer]:
    server = WebServer(workdir, **kwargs)
    try:
        yield server
    finally:
        server.close()


#: The `start_web_server` fixture: `start_web_server(name, slow=None, **env)` starts one more server.
StartWebServer = Callable[..., WebServer]


@pytest.fixture(scope="module")
def start_web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartWebServer]:
    """Start `fondation up` servers for a module (each on its own database); all are stopped at its end."""
    started: list[WebServer] = []

    def start(name: str = "web", **kwargs: Any) -> WebServer:
        server = WebServer(tmp_path_factory.mktemp(name), **kwargs)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.close()

"""Fixtures shared by the whole suite: a fresh, migrated database on each backend.

`make test` runs every backend-parametrised test on SQLite and on a real PostgreSQL (started by
scripts/with-postgres.sh, which exports FONDATION_TEST_PG_URL). FONDATION_TEST_BACKENDS=sqlite
narrows a local run to SQLite explicitly; a missing PostgreSQL is otherwise an error, not a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli_harness import Cli, Run
from fondation.queue import JobQueue, RetryPolicy
from fondation.store import Database, open_database
from local_llm import local_llm_url  # noqa: F401 - the session fixture of the real local model
from worker_harness import FONDATION, WorkerProcess

BACKENDS = [b.strip() for b in os.environ.get("FONDATION_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each backend-dependent test on every backend, or on those named by `@pytest.mark.backends(...)`."""
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        metafunc.parametrize("backend", [b for b in BACKENDS if marker is None or b in marker.args])


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    url = os.environ.get("FONDATION_TEST_PG_URL")
    if not url:
        pytest.fail(
            "FONDATION_TEST_PG_URL is not set: run `make test` (it starts a throwaway PostgreSQL) "
            "or narrow the run with FONDATION_TEST_BACKENDS=sqlite"
        )
    return url


def _pg_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> str:
    """A migrated database that fresh test databases are copied from (cheaper than migrating each)."""
    name = f"fondation_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    open_database(_pg_url(pg_admin_url, name)).dispose()
    return name


def new_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest, *, migrated: bool) -> str:
    """A URL to a database nobody else uses; empty, or already migrated."""
    if backend == "sqlite":
        path = tmp_path / f"fondation-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{path}"
        if migrated:
            open_database(url).dispose()
        return url
    admin = request.getfixturevalue("pg_admin_url")
    name = f"t_{uuid.uuid4().hex[:12]}"
    template = f" TEMPLATE {request.getfixturevalue('pg_template')}" if migrated else ""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}{template}")

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    request.addfinalizer(drop)
    return _pg_url(admin, name)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database on the test's backend."""
    return new_database_url(backend, tmp_path, request, migrated=True)


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh database with no schema at all."""
    return new_database_url(backend, tmp_path, request, migrated=False)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = open_database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def policy() -> RetryPolicy:
    """Retries come back after at most 2 s, so tests can drive them by moving job clocks."""
    return RetryPolicy(base_seconds=1.0, cap_seconds=2.0, max_attempts=3)


@pytest.fixture
def queue(database: Database, policy: RetryPolicy) -> JobQueue:
    return JobQueue(database, policy)


@pytest.fixture
def start_worker(database_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real `fondation worker` processes on the test's database; all are killed at the end."""
    started: list[WorkerProcess] = []

    def start(worker_id: str = "w1", **kwargs: Any) -> WorkerProcess:
        worker = WorkerProcess(database_url, tmp_path, worker_id, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.close()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: cheaper than migrating in every test's first command."""
    path = tmp_path_factory.mktemp("template") / "db.sqlite"
    open_database(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def db_url(tmp_path: Path, migrated_template: Path) -> str:
    shutil.copyfile(migrated_template, tmp_path / "db.sqlite")
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    """The console script on a fresh SQLite database, with a clean environment, in the test's directory."""
    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LC_ALL": "C.UTF-8",
        "LOGNAME": "alice",
        "FONDATION_DATABASE_URL": db_url,
        "FONDATION_ENV_FILE": str(tmp_path / "absent.env"),
    }

    def run(*args: str, TIMEOUT: float = 30, **env: str) -> Run:
        done = subprocess.run(
            [str(FONDATION), *args],
            env={**base_env, **env},
            cwd=tmp_path,
            capture_output=True,
            encoding="utf-8",
            timeout=TIMEOUT,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    return run

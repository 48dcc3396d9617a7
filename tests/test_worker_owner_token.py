"""A job's owner clones with their own GitHub token: the worker hands it to that job's child only.

Real workers, the real course job and a smart-HTTP git server whose `private.git` (the sample project,
which has something to teach) demands the token; every backend. The token must reach the git server
and nothing else: no job event, no error, no log.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fondation.accounts import Accounts
from fondation.config import Settings
from fondation.domain.jobs import ErrorKind, Job, JobStatus
from fondation.domain.sources import SourceSpec
from fondation.queue import JobQueue
from fondation.sources.spec import parse_source
from fondation.store import Database
from git_servers import TOKEN, SmartHttpServer, git
from sample_project import make_project
from worker_harness import StartWorker, WorkerProcess, finished, wait_until

COURSE_JOB = "fondation.worker.course_job:run"
#: FONDATION_SECRET_KEY, the same for this test's Accounts and for the worker that decrypts the token.
SECRET = "owner-token-test-secret"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SmartHttpServer]:
    """The sample project served as `public.git` and as `private.git` (which needs the token)."""
    project = make_project(tmp_path / "shop")
    git("init", "--quiet", "-b", "main", cwd=project)
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "-m", "shop", cwd=project)
    for name in ("public", "private"):
        git("clone", "--quiet", "--bare", str(project), str(tmp_path / "served" / f"{name}.git"))
    server = SmartHttpServer(tmp_path / "served")
    yield server
    server.close()


def _accounts(database: Database, secret: str = SECRET) -> Accounts:
    return Accounts(database, Settings(_env_file=None, database_url=database.url, secret_key=secret))  # type: ignore[call-arg]


def _user(database: Database, name: str, token: str | None = None, *, secret: str = SECRET) -> int:
    accounts = _accounts(database, secret)
    user = accounts.add_user(name)
    if token is not None:
        accounts.set_github_token(name, token, check=False)
    return user.id


def _worker(start_worker: StartWorker, server: SmartHttpServer) -> WorkerProcess:
    return start_worker(
        "w1",
        FONDATION_JOB_HANDLER=COURSE_JOB,
        FONDATION_SECRET_KEY=SECRET,
        FONDATION_GIT_TOKEN_HOSTS=f"http://127.0.0.1:{server.port}",
    )


def _run(queue: JobQueue, source: SourceSpec, owner_id: int) -> Job:
    job = queue.enqueue(source, owner_id=owner_id).job
    return wait_until(lambda: finished(queue, job.id), timeout=90, what=f"job {job.id} to finish")


def _assert_token_nowhere(queue: JobQueue, worker: WorkerProcess, *jobs: Job) -> None:
    for job in jobs:
        assert TOKEN not in (job.error_message or "") and TOKEN not in json.dumps(job.result or {})
        for event in queue.events(job.id):
            assert TOKEN not in (event.reason or "") and TOKEN not in json.dumps(event.data or {}), event
    assert TOKEN not in worker.log()


def test_an_owners_private_repository_clones_with_their_token_and_only_theirs(
    queue: JobQueue, database: Database, start_worker: StartWorker, server: SmartHttpServer
) -> None:
    private = parse_source(server.url("private.git"))
    alice = _user(database, "alice", TOKEN)
    bob = _user(database, "bob")
    worker = _worker(start_worker, server)

    done = _run(queue, private, alice)
    assert done.status is JobStatus.SUCCEEDED, done.error_message
    assert done.owner_id == alice and done.result["chapters"] >= 1
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert set(server.authorizations) == {expected}  # the server saw alice's token, and no other
    seen = len(server.authorizations)

    # Same repository, same worker, another owner without a token: the first owner's token is not reused.
    refused = _run(queue, private, bob)
    assert refused.id != done.id
    assert (refused.status, refused.error_kind) == (JobStatus.DEAD, ErrorKind.AUTH), refused.error_message
    assert "authentication failed" in (refused.error_message or "")
    assert len(server.authorizations) == seen
    _assert_token_nowhere(queue, worker, done, refused)


def test_a_token_that_cannot_be_decrypted_is_skipped_with_a_warning(
    queue: JobQueue, database: Database, start_worker: StartWorker, server: SmartHttpServer
) -> None:
    carol = _user(database, "carol", TOKEN, secret="another-key")  # stored under a key the worker lacks
    worker = _worker(start_worker, server)

    public = _run(queue, parse_source(server.url("public.git")), carol)
    assert public.status is JobStatus.SUCCEEDED, public.error_message
    private = _run(queue, parse_source(server.url("private.git")), carol)
    assert (private.status, private.error_kind) == (JobStatus.DEAD, ErrorKind.AUTH), private.error_message
    assert server.authorizations == []
    warnings = [line for line in worker.log().splitlines() if "GitHub token could not be read" in line]
    assert len(warnings) == 2 and all(json.loads(line)["owner_id"] == carol for line in warnings)
    _assert_token_nowhere(queue, worker, public, private)


def test_a_users_job_never_clones_with_the_operators_token(
    queue: JobQueue, database: Database, start_worker: StartWorker, server: SmartHttpServer
) -> None:
    """The worker's own FONDATION_GIT_TOKEN serves operators' jobs only: a user without a token of their
    own must not get courses of the private repositories the operator's token can read."""
    private = parse_source(server.url("private.git"))
    dave = _user(database, "dave")
    worker = start_worker(
        "w1",
        FONDATION_JOB_HANDLER=COURSE_JOB,
        FONDATION_SECRET_KEY=SECRET,
        FONDATION_GIT_TOKEN_HOSTS=f"http://127.0.0.1:{server.port}",
        FONDATION_GIT_TOKEN=TOKEN,
        GITHUB_TOKEN=TOKEN,
    )

    users = _run(queue, private, dave)
    assert (users.status, users.error_kind) == (JobStatus.DEAD, ErrorKind.AUTH), users.error_message
    assert server.authorizations == []

    operators = queue.enqueue(private).job  # no owner: the operator's job, with the operator's token
    operators = wait_until(lambda: finished(queue, operators.id), timeout=90, what="the operator's job")
    assert operators.status is JobStatus.SUCCEEDED, operators.error_message
    assert len(server.authorizations) >= 1
    _assert_token_nowhere(queue, worker, users, operators)

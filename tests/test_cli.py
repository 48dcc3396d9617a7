"""The real `fondation` console script, run in a subprocess with a clean environment.

What matters to a user and to scripts: the output says what happened, `--json` parses, and every
failure ends as exactly one `error: …` line on stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cli_harness import Cli
from fondation.domain.jobs import ErrorKind
from fondation.queue import JobQueue
from fondation.store import open_database

UNREACHABLE_PG = "postgresql://nobody@127.0.0.1:1/x"


@pytest.fixture
def queue(db_url: str) -> JobQueue:
    """The same database, driven in-process to play the worker's part (claim, fail)."""
    return JobQueue(open_database(db_url))


def test_version_and_help(cli: Cli) -> None:
    assert cli("--version").ok().strip() == "fondation 0.1.0"
    help_text = cli("--help").ok()
    assert "Exit codes" in help_text and "submit" in help_text


def test_db_status_then_migrate(cli: Cli, tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    assert cli("db", "status", "--json", FONDATION_DATABASE_URL=empty).json() == {
        "url": empty,
        "backend": "sqlite",
        "current": None,
        "head": "0003",
        "state": "empty",
    }
    assert "migrated from an empty schema to revision 0003" in cli("db", "migrate", FONDATION_DATABASE_URL=empty).ok()
    assert "already at revision 0003" in cli("db", "migrate", FONDATION_DATABASE_URL=empty).ok()
    status = cli("db", "status", FONDATION_DATABASE_URL=empty).ok()
    assert "0003" in status and "current" in status


def test_submit_then_list_show_events(cli: Cli) -> None:
    assert cli("submit", "Owner/Repo", "--ref", "main", "--priority", "3").ok().strip() == (
        "job 1 queued for https://github.com/owner/repo.git at main"
    )
    listing = cli("jobs", "list").ok()
    assert "https://github.com/owner/repo.git" in listing and "pending" in listing

    [job] = cli("jobs", "list", "--status", "PENDING", "--json").json()
    assert (job["id"], job["status"], job["ref"], job["priority"]) == (1, "pending", "main", 3)
    assert job["created_at"].endswith("+00:00")
    assert cli("jobs", "list", "--status", "dead", "--json").json() == []
    assert cli("jobs", "show", "1", "--json").json() == {**job, "checkpoints": {}}
    assert "https://github.com/owner/repo.git" in cli("jobs", "show", "1").ok()

    [event] = cli("jobs", "events", "1", "--json").json()
    assert (event["kind"], event["to_status"], event["actor"]) == ("enqueued", "pending", "cli:alice")
    assert "cli:alice" in cli("jobs", "events", "1").ok()


def test_submit_dedupes_unless_forced(cli: Cli, tmp_path: Path) -> None:
    cli("submit", "a/b").ok()
    again = cli("submit", "https://github.com/A/B.git")
    assert again.ok().strip() == (
        "job 1 is already active (pending) for https://github.com/a/b.git; use --force to queue another"
    )
    forced = cli("submit", "a/b", "--force", "--max-attempts", "2", "--json").json()
    assert (forced["created"], forced["job"]["id"], forced["job"]["max_attempts"]) == (True, 2, 2)
    assert cli("submit", "a/b", "--json").json()["created"] is False

    (tmp_path / "project").mkdir()
    local = cli("submit", "./project", "--json").json()["job"]
    assert local["source"] == str((tmp_path / "project").resolve())
    refused = cli("submit", "./project", FONDATION_ALLOW_LOCAL_SOURCES="false")
    assert "local directories and archives are not accepted" in refused.error(2)


def test_cancel_and_retry(cli: Cli) -> None:
    cli("submit", "a/b").ok()
    assert cli("jobs", "cancel", "1").ok().strip() == "job 1 is canceled"
    assert cli("jobs", "retry", "1").ok().startswith("job 1 is pending again")
    assert "job 1 is pending: only failed, dead or canceled jobs can be retried" in cli("jobs", "retry", "1").error(1)
    events = cli("jobs", "events", "1", "--json").json()
    assert [(e["kind"], e["actor"]) for e in events] == [
        ("enqueued", "cli:alice"),
        ("canceled", "cli:alice"),
        ("retried", "cli:alice"),
    ]


def test_reclaim_expired_and_requeue(cli: Cli, queue: JobQueue) -> None:
    for source in ("a/expired", "a/busy", "a/broken"):
        cli("submit", source).ok()
    [expired] = queue.claim("w1", lease_seconds=0.01)
    [busy] = queue.claim("w2", lease_seconds=600)
    [broken] = queue.claim("w3", lease_seconds=600)
    queue.fail(broken, ErrorKind.PERMANENT, "no such repository")
    time.sleep(0.05)

    assert cli("jobs", "reclaim-expired").ok().strip() == f"reclaimed 1 job: {expired.job_id} → pending"
    assert cli("jobs", "reclaim-expired", "--json").json() == {"count": 0, "jobs": []}

    assert "no running job to requeue" in cli("jobs", "requeue").ok()
    forced = cli("jobs", "requeue", "--force", "--json").json()
    assert forced["count"] == 1
    assert (forced["jobs"][0]["id"], forced["jobs"][0]["status"]) == (busy.job_id, "pending")
    assert cli("jobs", "requeue", "--status", "dead").ok().strip() == f"requeued 1 job: {broken.job_id} → pending"
    assert cli("jobs", "events", str(broken.job_id), "--json").json()[-1]["actor"] == "cli:alice"


def test_config_show_masks_the_database_password(cli: Cli) -> None:
    url = "postgresql://fondation:s3cr3t-pw@db.example.org/fondation"
    text = cli("config", "show", FONDATION_DATABASE_URL=url).ok()
    view = cli("config", "show", "--json", FONDATION_DATABASE_URL=url).json()
    assert "s3cr3t-pw" not in text + json.dumps(view)
    assert view["FONDATION_DATABASE_URL"] == "postgresql://fondation:****@db.example.org/fondation"
    assert "fondation:****@db.example.org" in text


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["jobs", "show", "99"], {}, 1, "error: no job with id 99"),
        (["jobs", "events", "0"], {}, 2, "'ID'"),
        (["submit", "not a source"], {}, 2, "whitespace"),
        (["submit", "ftp://example.org/a/b"], {}, 2, "unsupported scheme 'ftp://'"),
        (["submit", "./missing"], {}, 2, "no such directory or archive"),
        (["submit", "--", "--upload-pack=x"], {}, 2, "must not start with '-'"),
        (["submit", "a/b", "--ref", "--x"], {}, 2, "must not start with '-'"),
        (["jobs", "list", "--status", "bogus"], {}, 2, "pending, running, succeeded, failed, dead, canceled"),
        (["jobs", "requeue", "--status", "pending"], {}, 2, "'pending' is not one of: running, failed, dead"),
        (["jobs"], {}, 2, "fondation jobs --help"),
        (["jobs", "list"], {"LEASE_TIME": "1000", "HEARTBEAT_INTERVAL": "1000"}, 2, "LEASE_TIME"),
        (["config", "show"], {"FONDATION_MAX_ATTEMPTS": "0"}, 2, "FONDATION_MAX_ATTEMPTS"),
        (["jobs", "list"], {"FONDATION_DATABASE_URL": "mysql://db/x"}, 2, "unknown scheme 'mysql'"),
        (["db", "status"], {"FONDATION_DATABASE_URL": "postgresql+nodriver://db/x"}, 1, "no usable driver"),
        (["jobs", "list"], {"FONDATION_DATABASE_URL": UNREACHABLE_PG}, 1, "is not usable"),
        (["db", "status"], {"FONDATION_DATABASE_URL": UNREACHABLE_PG}, 1, "is not usable"),
    ],
)
def test_every_failure_is_one_line_and_an_exit_code(
    cli: Cli, args: list[str], env: dict[str, str], code: int, message: str
) -> None:
    started = time.monotonic()
    line = cli(*args, **env).error(code)
    assert message in line
    assert time.monotonic() - started < 10


def test_a_credential_in_a_source_is_never_printed(cli: Cli) -> None:
    result = cli("submit", "https://alice:ghp_TopSecret123@github.com/a/b")
    assert "credentials" in result.error(2)
    assert "TopSecret" not in result.stdout + result.stderr


def test_a_job_in_the_wrong_state_is_refused(cli: Cli, queue: JobQueue) -> None:
    cli("submit", "a/b").ok()
    lease = queue.claim("w1", lease_seconds=600)[0]
    queue.complete(lease)
    assert "job 1 is already succeeded" in cli("jobs", "cancel", "1").error(1)

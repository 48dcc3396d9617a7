"""`fondation doctor`: every check against the real thing it checks, and the fix it gives when it fails.

A real worker answers /health, a real PostgreSQL measures the clock, schema revisions are set in the
database itself, the disk threshold is raised past what the disk has, git is taken off PATH, and the LLM
providers are called through their SDKs against the local fake APIs.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cli_harness import Cli, Run
from fake_llm_servers import FakeAnthropic, FakeOpenAI, Reply
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.queue import JobQueue, RetryPolicy
from fondation.store import open_database
from fondation.store.migrations_runner import HEAD
from worker_harness import StartWorker, free_port

NAMES = ["configuration", "database", "clock", "disk", "temp_dir", "git", "provider", "worker_health"]
SECRET_KEY = "doctor-test-secret-key-0123456789abcdef"


def checks(run: Run) -> dict[str, dict[str, Any]]:
    report = json.loads(run.stdout)
    assert report["ok"] is (run.code == 0), (run.code, run.stderr)
    return {check["name"]: check for check in report["checks"]}


def doctor(cli: Cli, tmp_path: Path, **env: str) -> Run:
    """`fondation doctor --json` with no worker expected at a free port and a temp dir of the test's own."""
    defaults = {
        "FONDATION_HEALTH_PORT": str(free_port()),
        "FONDATION_TEMP_DIR": str(tmp_path / "temp"),
        "FONDATION_MIN_FREE_DISK_MB": "1",
    }
    return cli("doctor", "--json", TIMEOUT=90, **{**defaults, **env})


def test_a_healthy_machine_with_a_live_worker(
    cli: Cli, database_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    worker = start_worker("w1")
    env = {
        "FONDATION_DATABASE_URL": database_url,
        "FONDATION_HEALTH_PORT": str(worker.port),
        "FONDATION_TEMP_DIR": str(worker.temp_dir),
        "FONDATION_SECRET_KEY": SECRET_KEY,
    }
    run = doctor(cli, tmp_path, **env)
    found = checks(run)
    assert run.code == 0 and list(found) == NAMES
    assert {name: check["status"] for name, check in found.items()} == dict.fromkeys(NAMES, "ok"), found
    assert f"schema revision {HEAD}" in found["database"]["detail"]
    assert "s from this machine's" in found["clock"]["detail"]
    skew = float(found["clock"]["detail"].split(" is ")[1].split(" s ")[0])
    assert abs(skew) < 1.0
    assert found["worker_health"]["detail"].startswith("worker w1 at ")
    assert found["git"]["detail"].startswith("git version")
    assert all(check["fix"] == "" for check in found.values())

    text = cli("doctor", **env)
    assert text.code == 0 and all(name in text.stdout for name in NAMES)


@pytest.mark.parametrize(
    ("revision", "declared", "status", "words", "fix"),
    [
        ("0002", True, "fail", "older than this Fondation", "fondation db migrate"),
        ("9999", True, "warn", "a rollback", "upgrade this machine's Fondation"),
        ("9999", False, "fail", "newer than this Fondation knows", "upgrade Fondation"),
    ],
    ids=["outdated", "compatible", "too-new"],
)
def test_a_database_at_another_schema_is_reported_and_left_alone(
    cli: Cli, db_url: str, tmp_path: Path, revision: str, declared: bool, status: str, words: str, fix: str
) -> None:
    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        if not declared:  # a newer release that did not declare this one able to run on its schema
            conn.execute("DELETE FROM system_state WHERE key = 'compatible_from'")
    run = doctor(cli, tmp_path)
    found = checks(run)
    assert (found["database"]["status"], run.code) == (status, 1 if status == "fail" else 0)
    assert words in found["database"]["detail"] and fix in found["database"]["fix"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (revision,), "doctor migrated"


def test_a_missing_sqlite_file_is_not_created(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "none" / "fondation.db"
    run = doctor(cli, tmp_path, FONDATION_DATABASE_URL=f"sqlite:///{missing}")
    found = checks(run)
    assert run.code == 0  # warnings only
    assert found["database"]["status"] == "warn" and "fondation db migrate" in found["database"]["fix"]
    assert not missing.parent.exists()


def test_an_unreachable_database_fails_without_showing_its_password(cli: Cli, tmp_path: Path) -> None:
    url = f"postgresql://fondation:hunter2-secret@127.0.0.1:{free_port()}/fondation"
    run = doctor(cli, tmp_path, FONDATION_DATABASE_URL=url)
    found = checks(run)
    assert run.code == 1
    assert found["database"]["status"] == "fail" and "FONDATION_DATABASE_URL" in found["database"]["fix"]
    assert "hunter2-secret" not in run.stdout + run.stderr
    assert found["clock"]["status"] == "warn" and "not measured" in found["clock"]["detail"]
    assert found["git"]["status"] == "ok", "the checks that need no database still ran"


def test_an_invalid_configuration_is_the_first_finding(cli: Cli, tmp_path: Path) -> None:
    run = doctor(cli, tmp_path, FONDATION_LEASE_TIME="100")
    found = checks(run)
    assert run.code == 1 and list(found) == ["configuration", "git"]
    assert found["configuration"]["status"] == "fail" and "LEASE_TIME" in found["configuration"]["detail"]


def test_settings_that_contradict_each_other(cli: Cli, tmp_path: Path) -> None:
    run = doctor(
        cli,
        tmp_path,
        FONDATION_WEB_HOST="0.0.0.0",
        GITHUB_CLIENT_ID="Iv1.0123456789",
        FONDATION_CLAUDE_CONFIG_DIR=str(tmp_path / "creds"),
        FONDATION_CLAUDE_BACKUP_DIR=str(tmp_path / "creds" / "backups"),
        FONDATION_MAX_CONCURRENT_JOBS="64",
        FONDATION_JOB_MEMORY_MB="1000000",
    )
    found = checks(run)
    assert run.code == 1
    config = found["configuration"]
    assert config["status"] == "fail"
    for words in ("not https", "GITHUB_CLIENT_SECRET", "inside FONDATION_CLAUDE_CONFIG_DIR", "more than this machine"):
        assert words in config["detail"], words
    assert "FONDATION_PUBLIC_URL=https://" in config["fix"] and "FONDATION_MAX_CONCURRENT_JOBS" in config["fix"]


@pytest.mark.backends("postgresql")
def test_a_shared_database_without_a_shared_secret_key_warns(cli: Cli, database_url: str, tmp_path: Path) -> None:
    run = doctor(cli, tmp_path, FONDATION_DATABASE_URL=database_url)
    found = checks(run)
    assert run.code == 0
    assert found["configuration"]["status"] == "warn" and "FONDATION_SECRET_KEY" in found["configuration"]["fix"]
    assert found["database"]["status"] == "ok" and found["clock"]["status"] == "ok"


def test_leftover_attempt_directories_and_a_full_disk(cli: Cli, db_url: str, tmp_path: Path) -> None:
    database = open_database(db_url)
    queue = JobQueue(database, RetryPolicy())
    queue.enqueue(SourceSpec(SourceKind.LOCAL, str(tmp_path), "here"))
    [lease] = queue.claim("w-elsewhere", lease_seconds=600)
    database.dispose()
    temp = tmp_path / "temp"
    live = temp / f"job-{lease.job.id}-{lease.job.attempts}"
    for directory in (live, temp / "job-90-1", temp / "job-91-3"):
        directory.mkdir(parents=True)
        (directory / "checkout.bin").write_bytes(bytes(512 * 1024))

    found = checks(doctor(cli, tmp_path))
    assert found["temp_dir"]["status"] == "warn"
    assert (
        "3 attempt directories; 2 of them (1.0 MB) belong to attempts no longer running" in found["temp_dir"]["detail"]
    )
    assert found["temp_dir"]["fix"] == "`fondation tmp clean` removes them"

    cli("tmp", "clean", FONDATION_TEMP_DIR=str(temp)).ok()
    assert checks(doctor(cli, tmp_path))["temp_dir"]["status"] == "ok" and live.is_dir()

    full = doctor(cli, tmp_path, FONDATION_MIN_FREE_DISK_MB=str(10**9))
    disk = checks(full)["disk"]
    assert full.code == 1 and disk["status"] == "fail" and "workers do not claim" in disk["detail"]
    assert "fondation tmp clean" in disk["fix"]


def test_git_missing_fails(cli: Cli, tmp_path: Path) -> None:
    run = doctor(cli, tmp_path, PATH=str(tmp_path / "empty-bin"))
    found = checks(run)
    assert run.code == 1 and found["git"]["status"] == "fail" and "install git" in found["git"]["fix"]


def test_claude_without_any_credential_fails_before_calling(cli: Cli, tmp_path: Path) -> None:
    with FakeAnthropic() as fake:
        run = doctor(
            cli,
            tmp_path,
            FONDATION_PROVIDER="claude-cli",
            FONDATION_CLAUDE_CONFIG_DIR=str(tmp_path / "no-creds"),
            FONDATION_ANTHROPIC_BASE_URL=fake.url,
        )
        assert fake.requests == []
    provider = checks(run)["provider"]
    assert run.code == 1 and provider["status"] == "fail" and "no Claude credentials" in provider["detail"]
    assert "fondation claude login" in provider["fix"] and "fondation claude restore latest" in provider["fix"]


GOOD_KEY = "sk-ant-api03-doctor-good-key-0123456789"
BAD_KEY = "sk-ant-api03-doctor-revoked-key-98765"


@pytest.mark.parametrize(
    ("key", "reply", "status", "words"),
    [
        (GOOD_KEY, Reply.text("OK"), "ok", "a test call answered"),
        (BAD_KEY, Reply.text("OK"), "fail", "the credential was refused"),
        (GOOD_KEY, Reply.error(529, "Overloaded"), "warn", "did not get through"),
        ("", Reply.text("OK"), "fail", "no API key"),
    ],
    ids=["accepted", "refused", "overloaded", "no-key"],
)
def test_the_anthropic_api_is_called_once(
    cli: Cli, tmp_path: Path, key: str, reply: Reply, status: str, words: str
) -> None:
    with FakeAnthropic(api_key=GOOD_KEY) as fake:
        fake.script(reply)
        run = doctor(
            cli,
            tmp_path,
            FONDATION_PROVIDER="anthropic",
            FONDATION_ANTHROPIC_API_KEY=key,
            FONDATION_ANTHROPIC_BASE_URL=fake.url,
        )
        steps = [request.step for request in fake.requests if request.path == "/v1/messages"]
    provider = checks(run)["provider"]
    assert (provider["status"], run.code) == (status, 1 if status == "fail" else 0), provider
    assert words in provider["detail"]
    assert steps == ([] if not key else ["doctor"])
    if status == "fail" and key:
        assert "FONDATION_ANTHROPIC_API_KEY" in provider["fix"]
    assert GOOD_KEY not in run.stdout and BAD_KEY not in run.stdout


def test_a_refused_openai_key_names_the_variable(cli: Cli, tmp_path: Path) -> None:
    with FakeOpenAI(api_key="sk-openai-right-0123456789") as fake:
        run = doctor(
            cli,
            tmp_path,
            FONDATION_PROVIDER="openai",
            FONDATION_OPENAI_API_KEY="sk-openai-wrong-0123456789",
            FONDATION_OPENAI_BASE_URL=fake.url,
        )
    provider = checks(run)["provider"]
    assert run.code == 1 and provider["status"] == "fail" and "FONDATION_OPENAI_API_KEY" in provider["fix"]
    assert "sk-openai-wrong" not in run.stdout

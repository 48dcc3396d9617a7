"""The security breach procedure: `fondation security lockdown` and `fondation security rotate-key`.

The lockdown drill proves each door shut from the outside: a session cookie, an API token and a login
link that worked against the web app are refused afterwards, the stored GitHub token and the Claude
credentials are gone, and a real worker claims nothing until `fondation queue resume`.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from cli_harness import Run
from fondation.accounts import Accounts
from fondation.accounts.secretbox import SecretBox
from fondation.domain.errors import ConfigError
from fondation.domain.jobs import JobStatus
from fondation.store import Database
from fondation.store.schema import auth_events, users
from helpers import source
from web_harness import SECRET, WebApp, login, make_settings
from worker_harness import FONDATION, StartWorker, finished, wait_until, worker_env

pytest_plugins = ["web_harness"]

GITHUB_TOKEN = "ghp_LockdownDrillToken0123456789abcdefgh"
NEW_KEY = "the-new-secret-key-after-the-breach-42"


def fondation(database_url: str, tmp_path: Path, *args: str, stdin: str = "", **env: str) -> Run:
    """The console script on the test's database, with the web app's key and the test's Claude folder."""
    defaults = {"FONDATION_SECRET_KEY": SECRET, "FONDATION_CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}
    environment = worker_env(database_url, tmp_path / "temp", LOGNAME="oncall", **{**defaults, **env})
    done = subprocess.run(
        [str(FONDATION), *args], env=environment, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    return Run(done.returncode, done.stdout, done.stderr)


def stored_github_tokens(database: Database) -> dict[str, str | None]:
    query = select(users.c.name, users.c.github_token).order_by(users.c.name)
    return dict(database.read(lambda conn: conn.execute(query).all()))


def claude_folder(tmp_path: Path) -> Path:
    """A credentials folder shaped like the Claude CLI's: the credentials file and a settings subfolder."""
    folder = tmp_path / "claude"
    (folder / "statsig").mkdir(parents=True)
    (folder / ".credentials.json").write_text('{"claudeAiOauth": {"accessToken": "sk-ant-oat01-drill"}}')
    (folder / "statsig" / "cache").write_text("cached")
    return folder


def test_lockdown_shuts_every_door_and_stops_every_claim(
    web: WebApp, database_url: str, tmp_path: Path, start_worker: StartWorker
) -> None:
    folder = claude_folder(tmp_path)
    web.accounts.set_github_token("alice", GITHUB_TOKEN, check=False)
    spare_link = web.accounts.login_link(web.root.user)
    browser, other = web.api(), web.api()  # two clients, each with its own cookies (no live views needed)
    login(browser, "bob")
    # Before: a session, an API token and a login link each let someone in.
    assert browser.get("/api/v1/jobs").status_code == 200
    assert browser.get("/settings").status_code == 200
    assert other.get("/api/v1/jobs", headers=web.alice.headers).status_code == 200
    assert other.get(f"/login/link/{web.accounts.login_link(web.root.user)}").status_code == 303
    assert other.get("/settings").status_code == 200  # root's session, from the link
    assert stored_github_tokens(web.database)["alice"] is not None

    # Without a terminal, a lockdown needs --yes: refused, and nothing changed.
    refused = fondation(database_url, tmp_path, "security", "lockdown")
    assert refused.error(2) == "error: standard input is not a terminal: confirm the lockdown with --yes"
    assert browser.get("/api/v1/jobs").status_code == 200 and web.queue.pause_state() is None

    done = fondation(database_url, tmp_path, "security", "lockdown", "--yes").ok().splitlines()
    assert done[:5] == [
        "done   queue paused, no worker claims; jobs still running: 0",
        "done   browser sessions ended: 2",
        "done   API tokens and login links revoked: 4",
        "done   stored GitHub tokens wiped: 1",
        f"done   Claude credential files removed from {folder}: 2",
    ]
    assert "fondation security rotate-key" in done[5] and "fondation queue resume" in done[5]

    # After: every way in is refused.
    assert browser.get("/api/v1/jobs").status_code == 401
    assert browser.get("/settings").status_code == 303
    assert browser.get("/settings").headers["location"].startswith("/login")
    assert other.get("/api/v1/jobs", headers=web.alice.headers).status_code == 401
    assert other.get("/api/v1/jobs", headers=web.root.headers).status_code == 401
    assert other.get("/settings").status_code == 303
    assert other.get(f"/login/link/{spare_link}").status_code == 401
    assert stored_github_tokens(web.database) == {"alice": None, "bob": None, "root": None}
    assert list(folder.iterdir()) == []
    pause = web.queue.pause_state()
    assert pause is not None and pause.value == {"reason": "security lockdown"} and pause.updated_by == "cli:oncall"
    kinds = [
        (row.kind, row.user_name, row.success)
        for row in web.database.read(lambda conn: conn.execute(select(auth_events)).all())
        if row.kind == "security_lockdown"
    ]
    assert kinds == [("security_lockdown", "cli:oncall", True)]

    # Workers obey the pause: a pending job waits on a live worker until the queue is resumed.
    job = web.queue.enqueue(source("after-lockdown"), options={"do": "succeed"}).job
    worker = start_worker("w1")
    polled_after = datetime.now(UTC) + timedelta(seconds=1)  # five polls (every 0.2 s) with the job waiting
    wait_until(lambda: datetime.fromisoformat(worker.health()[1]["last_poll_at"]) > polled_after, what="polls")
    assert web.queue.get(job.id).status is JobStatus.PENDING
    claimed = {
        sample.name: sample.value
        for family in text_string_to_metric_families(worker.metrics())
        for sample in family.samples
    }
    assert claimed["fondation_jobs_claimed_total"] == 0
    status = json.loads(fondation(database_url, tmp_path, "queue", "status", "--json").ok())
    assert (status["paused"], status["reason"], status["counts"]["pending"]) == (True, "security lockdown", 1)

    resumed = fondation(database_url, tmp_path, "queue", "resume").ok()
    assert resumed.startswith("queue resumed after a security lockdown")
    done_job = wait_until(lambda: finished(web.queue, job.id), timeout=15, what="the job to run once resumed")
    assert (done_job.status, done_job.worker_id) == (JobStatus.SUCCEEDED, "w1")


def test_queue_pause_and_resume_are_recorded(web: WebApp, database_url: str, tmp_path: Path) -> None:
    paused = fondation(database_url, tmp_path, "queue", "pause", "--reason", "disk full on worker-2").ok()
    assert paused == "queue paused: no worker claims until `fondation queue resume` (0 running jobs go on)\n"
    shown = fondation(database_url, tmp_path, "queue", "status").ok().splitlines()
    assert shown[0].startswith("claiming: PAUSED since ") and "by cli:oncall: disk full on worker-2" in shown[0]
    assert fondation(database_url, tmp_path, "queue", "resume").ok() == "queue resumed: workers claim again\n"
    again = fondation(database_url, tmp_path, "queue", "resume").ok()
    assert again == "the queue was not paused: workers claim as usual\n"
    assert json.loads(fondation(database_url, tmp_path, "queue", "status", "--json").ok())["paused"] is False
    recorded = web.database.read(
        lambda conn: conn.execute(
            select(auth_events.c.kind, auth_events.c.user_name, auth_events.c.detail)
            .where(auth_events.c.kind.like("queue_%"))
            .order_by(auth_events.c.id)
        ).all()
    )
    assert [tuple(row) for row in recorded] == [
        ("queue_paused", "cli:oncall", "disk full on worker-2"),
        ("queue_resumed", "cli:oncall", None),
    ]


def test_rotate_key_re_encrypts_every_stored_secret_and_back(web: WebApp, database_url: str, tmp_path: Path) -> None:
    web.accounts.set_github_token("alice", GITHUB_TOKEN, check=False)
    web.accounts.set_github_token("bob", GITHUB_TOKEN + "-bob", check=False)
    before = stored_github_tokens(web.database)

    run = fondation(
        database_url, tmp_path, "security", "rotate-key", "--old-key-stdin", stdin=SECRET + "\n",
        FONDATION_SECRET_KEY=NEW_KEY,
    )  # fmt: skip
    assert run.ok().startswith("re-encrypted 2 stored secrets under the new FONDATION_SECRET_KEY")
    after = stored_github_tokens(web.database)
    assert after["root"] is None and all(after[name] != before[name] for name in ("alice", "bob"))
    new_accounts = Accounts(web.database, make_settings(web.database), secret=NEW_KEY)
    assert new_accounts.github_token(web.alice.user.id) == GITHUB_TOKEN
    assert new_accounts.github_token(web.bob.user.id) == GITHUB_TOKEN + "-bob"
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        web.accounts.github_token(web.alice.user.id)  # the old key alone no longer opens them

    # And back, the old key from FONDATION_OLD_SECRET_KEY this time.
    back = fondation(
        database_url, tmp_path, "security", "rotate-key", FONDATION_SECRET_KEY=SECRET, FONDATION_OLD_SECRET_KEY=NEW_KEY
    )
    assert back.ok().startswith("re-encrypted 2 stored secrets")
    assert web.accounts.github_token(web.alice.user.id) == GITHUB_TOKEN
    for output in (run.stdout + run.stderr, back.stdout + back.stderr):
        assert SECRET not in output and NEW_KEY not in output and GITHUB_TOKEN not in output
    rotations = web.database.read(
        lambda conn: conn.execute(
            select(auth_events.c.detail).where(auth_events.c.kind == "secret_key_rotated").order_by(auth_events.c.id)
        ).all()
    )
    assert [row.detail for row in rotations] == ["2 secrets re-encrypted", "2 secrets re-encrypted"]


def test_rotate_key_refuses_a_secret_neither_key_opens_and_changes_nothing(
    web: WebApp, database_url: str, tmp_path: Path
) -> None:
    web.accounts.set_github_token("alice", GITHUB_TOKEN, check=False)
    stray = SecretBox("a-key-nobody-has-any-more").encrypt("ghp_strayTokenFromLongAgo")
    web.accounts.store.update_user(web.bob.user.id, github_token=stray)
    before = stored_github_tokens(web.database)

    run = fondation(database_url, tmp_path, "security", "rotate-key", FONDATION_SECRET_KEY=NEW_KEY,
                    FONDATION_OLD_SECRET_KEY=SECRET)  # fmt: skip
    line = run.error(2)
    assert "the stored GitHub token of 'bob' opens with neither the old key nor the new one" in line
    assert "nothing was re-encrypted" in line and "fondation users github-token NAME --clear" in line
    assert stored_github_tokens(web.database) == before  # alice's was not rotated either: one transaction


@pytest.mark.backends("sqlite")
def test_rotate_key_needs_a_distinct_old_key(web: WebApp, database_url: str, tmp_path: Path) -> None:
    web.accounts.set_github_token("alice", GITHUB_TOKEN, check=False)
    before = stored_github_tokens(web.database)
    no_old = fondation(database_url, tmp_path, "security", "rotate-key", FONDATION_SECRET_KEY=NEW_KEY)
    assert "no old key: give it on one line of standard input with --old-key-stdin" in no_old.error(2)
    same = fondation(database_url, tmp_path, "security", "rotate-key", "--old-key-stdin", stdin=SECRET + "\n")
    assert "the old key and FONDATION_SECRET_KEY are the same" in same.error(2)
    empty = fondation(database_url, tmp_path, "security", "rotate-key", "--old-key-stdin", stdin="\n")
    assert "no old key on standard input" in empty.error(2)
    assert stored_github_tokens(web.database) == before

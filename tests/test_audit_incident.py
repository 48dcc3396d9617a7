"""`fondation audit export` and `fondation incident report`, over logs written by real activity.

The export merges the auth and job event logs in time order, filters them by time, and never carries
a secret. The incident report is drawn over a drill: a worker killed mid-job (its job reclaimed and
finished elsewhere), a job that dies of a permanent error and is retried by hand, a job that misses
its deadline once, and a queue paused meanwhile; the report must tell exactly that story.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cli_harness import Run
from fondation.accounts import Accounts
from fondation.accounts.tokens import token_hash
from fondation.config import Settings
from fondation.domain.jobs import ErrorKind, Progress
from fondation.domain.users import AuthenticationError
from fondation.ops.audit import audit_events, parse_time
from fondation.ops.incident import CHECKLIST
from fondation.queue import JobQueue
from fondation.store import Database
from fondation.store.schema import auth_events, job_events
from helpers import source
from worker_harness import FONDATION, StartWorker, finished, wait_until, worker_env

SECRET = "audit-test-secret-key-0123456789"
PASSWORD = "a long enough password"
GITHUB_TOKEN = "ghp_AuditExportToken0123456789abcdefghij"


def fondation(database_url: str, tmp_path: Path, *args: str, **env: str) -> Run:
    environment = worker_env(database_url, tmp_path / "temp", LOGNAME="oncall", FONDATION_SECRET_KEY=SECRET, **env)
    done = subprocess.run(
        [str(FONDATION), *args], env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    return Run(done.returncode, done.stdout, done.stderr)


def exported(run: Run) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.ok().splitlines()]


def rows_in(database: Database) -> int:
    count = func.count()
    return int(
        database.read(
            lambda conn: (
                conn.execute(select(count).select_from(job_events)).scalar_one()
                + conn.execute(select(count).select_from(auth_events)).scalar_one()
            )
        )
    )


# ---------------------------------------------------------------------------------------------- audit export


def test_audit_export_merges_both_logs_in_time_order_filters_and_holds_no_secret(
    queue: JobQueue, database: Database, database_url: str, tmp_path: Path
) -> None:
    accounts = Accounts(database, Settings(_env_file=None, database_url=database_url, secret_key=SECRET))  # type: ignore[call-arg]
    user = accounts.add_user("carol", PASSWORD)
    with pytest.raises(AuthenticationError):
        accounts.authenticate("carol", "not the password at all", remote="203.0.113.9")
    accounts.authenticate("carol", PASSWORD, remote="203.0.113.9")
    session = accounts.start_session(user)
    api_token = accounts.issue_api_token("carol", "ci")
    link = accounts.login_link(user)
    assert accounts.use_login_link(link, remote="203.0.113.9") is not None
    accounts.set_github_token("carol", GITHUB_TOKEN, check=False)
    ciphertext = accounts.store.github_token(user.id)
    assert ciphertext is not None

    job = queue.enqueue(source(1), actor="cli:carol").job
    [lease] = queue.claim("w1", lease_seconds=30)
    queue.progress(lease, Progress("cloning", 1, 6, "cloning"))
    queue.fail(lease, ErrorKind.TRANSIENT, "connection reset")
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(0.05)
    fondation(database_url, tmp_path, "queue", "pause", "--reason", "audit drill").ok()
    fondation(database_url, tmp_path, "queue", "resume").ok()
    queue.cancel(job.id, actor="cli:carol")

    everything = exported(fondation(database_url, tmp_path, "audit", "export"))
    assert len(everything) == rows_in(database)
    times = [datetime.fromisoformat(event["time"]) for event in everything]
    assert times == sorted(times)
    kinds = [(event["source"], event["kind"]) for event in everything]
    assert [kind for kind in kinds if kind[0] == "job"] == [
        ("job", "enqueued"),
        ("job", "claimed"),
        ("job", "progress"),
        ("job", "failed"),
        ("job", "canceled"),
    ]
    assert [kind for source_, kind in kinds if source_ == "auth"] == [
        "user_added",
        "login",
        "login",
        "token_issued",
        "login_link",
        "github_token_set",
        "queue_paused",
        "queue_resumed",
    ]
    logins = [(e["success"], e["remote"]) for e in everything if e["kind"] == "login"]
    assert logins == [(False, "203.0.113.9"), (True, "203.0.113.9")]
    failed = next(e for e in everything if e["kind"] == "failed")
    assert (failed["job_id"], failed["actor"], failed["reason"]) == (job.id, "w1", "transient: connection reset")
    paused = next(e for e in everything if e["kind"] == "queue_paused")
    assert (paused["user_name"], paused["detail"]) == ("cli:oncall", "audit drill")
    # The job events of a job come before what followed them: the pause comes after the failure, the cancel last.
    assert kinds.index(("job", "failed")) < kinds.index(("auth", "queue_paused")) < kinds.index(("job", "canceled"))

    text = "\n".join(json.dumps(event) for event in everything)
    secrets = [PASSWORD, api_token, link, GITHUB_TOKEN, ciphertext, session.cookie, session.csrf_token, SECRET]
    for secret in [*secrets, token_hash(api_token), token_hash(link)]:
        assert secret not in text

    after = exported(fondation(database_url, tmp_path, "audit", "export", "--since", middle.isoformat()))
    assert [e["kind"] for e in after] == ["queue_paused", "queue_resumed", "canceled"]
    out = tmp_path / "audit.jsonl"
    written = fondation(database_url, tmp_path, "audit", "export", "--until", middle.isoformat(), "--out", str(out))
    before = [json.loads(line) for line in out.read_text().splitlines()]
    assert written.ok() == f"wrote {len(before)} events to {out}\n"
    assert before + after == everything
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    # The other forms of time, in-process: a time ago, and a future date that nothing reaches.
    assert len(list(audit_events(database, since=parse_time("1h")))) == len(everything)
    assert list(audit_events(database, since=parse_time("2999-01-01"))) == []

    bad = fondation(database_url, tmp_path, "audit", "export", "--since", "yesterday")
    assert "cannot read the time 'yesterday': use ISO 8601" in bad.error(2)


# ------------------------------------------------------------------------------------------- incident report


def position(timeline: list[str], needle: str) -> int:
    """The index of the one timeline entry that contains `needle`."""
    found = [index for index, text in enumerate(timeline) if needle in text]
    assert len(found) == 1, (needle, timeline)
    return found[0]


def test_incident_report_over_a_drill_tells_what_happened(
    queue: JobQueue, database_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    marker = tmp_path / "attempts.txt"
    options = {"do": "sleep", "seconds": 0.3, "first_seconds": 60, "marker": str(marker)}
    killed = queue.enqueue(source("killed"), options=options).job
    w1 = start_worker("w1")
    wait_until(lambda: marker.exists() and marker.read_text(), timeout=15, what="the job to start on w1")
    w1.kill()
    broken = queue.enqueue(source("broken"), options={"do": "fail", "kind": "permanent", "message": "no such repo"}).job
    slow = queue.enqueue(source("slow"), options={"do": "sleep", "seconds": 0.2, "first_seconds": 30}).job
    fondation(database_url, tmp_path, "queue", "pause", "--reason", "drill: w1 gone").ok()
    start_worker("w2", concurrency=2, FONDATION_JOB_TIMEOUT="4")
    fondation(database_url, tmp_path, "queue", "resume").ok()
    wait_until(lambda: finished(queue, broken.id), timeout=20, what="the broken job to die")
    fondation(database_url, tmp_path, "jobs", "retry", str(broken.id)).ok()
    for job in (killed, slow, broken):
        wait_until(lambda job=job: finished(queue, job.id), timeout=30, what=f"job {job.id} to finish")
    assert queue.get(broken.id).attempts == 2
    start_worker("w1")  # w1 back, under the same id
    until = datetime.now(UTC)

    window = ["--since", since.isoformat(), "--until", until.isoformat()]
    facts = json.loads(
        fondation(database_url, tmp_path, "incident", "report", *window, "--severity", "p2", "--json").ok()
    )
    assert facts["severity"] == "P2"
    assert facts["outcomes"] == {"succeeded after retry": 2, "dead": 1, "canceled": 0, "still pending": 0}
    assert [(job["outcome"], job["id"], job["attempts"]) for job in facts["jobs"]] == [
        ("succeeded after retry", killed.id, 2),
        ("succeeded after retry", slow.id, 2),
        ("dead", broken.id, 2),
    ]
    assert facts["jobs"][2]["error_kind"] == "permanent" and facts["jobs"][2]["error"] == "no such repo"
    assert facts["error_kinds"] == {"permanent": 2, "lease_expired": 1, "deadline": 1}

    entries = facts["timeline"]
    moments = [datetime.fromisoformat(e["at"]) for e in entries]
    assert moments == sorted(moments)
    texts = [e["text"] for e in entries]
    k, b, s = killed.id, broken.id, slow.id
    story = [
        [
            "worker w1 lost",
            f"job {k} reclaimed by reaper:w2",
            f"job {k} claimed again by w2 (attempt 2)",
            f"job {k} recovered: succeeded on attempt 2 (w2)",
        ],
        ["queue paused by cli:oncall: drill: w1 gone", "queue resumed by cli:oncall"],
        [
            f"job {b} dead after attempt 1 (w2): permanent: no such repo",
            f"job {b} retried by cli:oncall (dead → pending)",
            f"job {b} claimed again by w2 (attempt 2)",
            f"job {b} dead after attempt 2",
        ],
        [
            f"job {s} attempt 1 failed on w2, retry scheduled: deadline",
            f"job {s} claimed again by w2 (attempt 2)",
            f"job {s} recovered: succeeded on attempt 2 (w2)",
        ],
    ]
    for thread in story:
        at = [position(texts, needle) for needle in thread]
        assert at == sorted(at), thread
    assert position(texts, "worker w1 lost") < position(texts, f"job {k} reclaimed")
    assert "(worker w1)" in texts[position(texts, f"job {k} reclaimed")]
    assert position(texts, "queue paused") < position(texts, f"job {b} dead after attempt 1")
    # w1's first start is gone from the registry (its restart replaced it); its loss and its return are in.
    assert position(texts, "worker w1 lost") == 0 and entries[0]["kind"] == "worker_lost"
    assert position(texts, "worker w1 lost") < position(texts, "worker w2 started")
    assert entries[position(texts, "worker w2 started")]["kind"] == "worker_started"
    assert entries[-1]["kind"] == "worker_back" and entries[-1]["text"].startswith("worker w1 back: started on ")
    assert (facts["start"], facts["end"]) == (entries[0]["at"], entries[-1]["at"])

    out = tmp_path / "report.md"
    said = fondation(database_url, tmp_path, "incident", "report", *window, "--severity", "P2", "--out", str(out))
    assert said.ok() == f"wrote the incident report to {out}: 3 jobs affected, {len(entries)} timeline entries\n"
    report = out.read_text()
    assert report.startswith(f"# Incident Report - {since:%Y-%m-%d}\n\n## Summary\n- **Duration**: ")
    assert "- **Impact**: 3 jobs affected (2 succeeded after retry, 1 dead, 0 canceled, 0 still pending)" in report
    assert "- **Severity**: P2" in report
    assert f"| succeeded after retry | {k} | succeeded | 2 |" in report
    assert f"| dead | {b} | dead | 2 | " in report and "| permanent: no such repo |" in report
    assert "| permanent | 2 |\n| lease_expired | 1 |\n| deadline | 1 |" in report
    timeline = [line for line in report.splitlines() if line.startswith("- 20")]
    first = position(texts, "worker w1 lost")
    assert [line.split(" - ", 1)[1] for line in timeline] == [
        ("First failure: " if index == first else "") + text for index, text in enumerate(texts)
    ]
    for heading in ("## Timeline", "## Root Cause\n_TO WRITE", "## Resolution\n_TO WRITE", "## Lessons Learned",
                    "## Action Items\n- [ ] _TO WRITE", "## Post-Incident Checklist"):  # fmt: skip
        assert heading in report
    assert report.endswith("\n".join(f"- [ ] {item}" for item in CHECKLIST) + "\n")

    quiet = ["--since", (since - timedelta(hours=2)).isoformat(), "--until", (since - timedelta(hours=1)).isoformat()]
    empty = fondation(database_url, tmp_path, "incident", "report", *quiet).ok()
    assert "- **Duration**: no abnormal event recorded in the window examined" in empty
    assert "- **Impact**: 0 jobs affected" in empty and "- **Severity**: _TO WRITE: P1/P2/P3/P4_" in empty
    assert "error: " in fondation(database_url, tmp_path, "incident", "report", "--severity", "P5").error(2)

"""Drill, runbook incident 4: the Claude CLI's login stops working, and the runbook's commands bring it back.

Everything is real but the API: a `fondation worker` runs course jobs through the real Claude Code CLI
(node_modules/.bin/claude), which reads its login from FONDATION_CLAUDE_CONFIG_DIR and talks to the fake
Anthropic API, which accepts one OAuth token and answers 401 to any other. The operator's side is the
console script, as the runbook types it:

1. before the incident, `fondation claude backup` saves a working login;
2. the incident: the stored login is replaced by one the API refuses (revoked upstream). A job submitted
   with `--provider claude-cli` ends `dead`, kind `auth`, after one attempt; the worker's /health says
   `degraded: provider auth`;
3. investigation: `fondation doctor` fails its provider check with the fix to re-authenticate or restore;
4. resolution: `fondation claude restore latest`, then `fondation doctor` passes and `fondation jobs
   retry ID` runs the job to success, after which /health is ok again.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from cli_harness import Run
from fake_llm_servers import FakeAnthropic, Reply
from fondation.domain.jobs import ErrorKind, JobStatus
from fondation.queue import JobQueue
from fondation.store.courses import CourseStore
from sample_project import make_project
from test_claude_credentials import write_login
from test_pipeline_claude_cli import _prompt
from test_pipeline_llm import Model
from worker_harness import FONDATION, StartWorker, finished, wait_until

ROOT = Path(__file__).resolve().parent.parent
CLAUDE = ROOT / "node_modules" / ".bin" / "claude"
GOOD = "sk-ant-oat01-drill-working-login-7d6c5b4a"
REVOKED = "sk-ant-oat01-drill-revoked-login-3e2f1a0b"


def console_script(env: dict[str, str], cwd: Path) -> Callable[..., Run]:
    """`fondation ARGS` as the operator runs it, with the drill's configuration."""

    def run(*args: str, **extra: str) -> Run:
        done = subprocess.run(
            [str(FONDATION), *args],
            env={**env, **extra},
            cwd=cwd,
            capture_output=True,
            encoding="utf-8",
            timeout=120,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    return run


def test_a_refused_claude_login_is_found_by_doctor_and_fixed_by_restoring_the_backup(
    queue: JobQueue, database_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    assert CLAUDE.exists(), f"{CLAUDE} is missing: run `make assets`"
    shop = make_project(tmp_path / "shop")
    folder = tmp_path / "srv" / "claude-creds"
    write_login(folder, GOOD)
    model = Model(shop, prompt_of=_prompt)
    with FakeAnthropic(model, api_key=GOOD) as fake:
        fake.script_step("doctor", Reply.text("OK"))
        settings = {
            "FONDATION_DATABASE_URL": database_url,
            "FONDATION_PROVIDER": "claude-cli",
            "FONDATION_CLAUDE_COMMAND": str(CLAUDE),
            "FONDATION_CLAUDE_CONFIG_DIR": str(folder),
            "FONDATION_CLAUDE_BACKUP_DIR": str(tmp_path / "srv" / "backups" / "claude-creds"),
            "FONDATION_ANTHROPIC_BASE_URL": fake.url,
            "FONDATION_CLAUDE_OAUTH_TOKEN": "",
            "FONDATION_ANTHROPIC_API_KEY": "",
            # Anything the CLI tries to reach besides the API (a token refresh) goes to the fake, which refuses.
            "HTTPS_PROXY": fake.origin,
            "NO_PROXY": "127.0.0.1",
        }
        operator = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "LC_ALL": "C.UTF-8",
            "FONDATION_ENV_FILE": str(tmp_path / "absent.env"),
            **settings,
        }
        fondation = console_script(operator, tmp_path)

        # 1. Before the incident: the working login is backed up.
        fondation("claude", "backup").ok()

        # 2. The incident: the stored login is one the API no longer accepts.
        write_login(folder, REVOKED)
        worker = start_worker("w1", FONDATION_JOB_HANDLER="fondation.worker.course_job:run", **settings)
        operator.update(FONDATION_HEALTH_PORT=str(worker.port), FONDATION_TEMP_DIR=str(worker.temp_dir))
        job_id = fondation("submit", str(shop), "--provider", "claude-cli", "--max-chapters", "2", "--json").json()[
            "job"
        ]["id"]
        dead = wait_until(lambda: finished(queue, job_id), timeout=120, what="the job to end")
        assert (dead.status, dead.attempts, dead.error_kind) == (JobStatus.DEAD, 1, ErrorKind.AUTH), dead
        assert sum(model.calls.values()) == 0, "the refused login reached the model"
        refused_calls = fake.calls("/v1/messages")
        assert 1 <= refused_calls <= 2
        status, health = worker.health()
        assert (status, health["checks"]["provider"]["status"]) == (200, "degraded")

        # 3. Investigation: the doctor says what is wrong and what to do.
        diagnosis = fondation("doctor", "--json")
        assert diagnosis.code == 1, diagnosis.stderr
        checks = {check["name"]: check for check in json.loads(diagnosis.stdout)["checks"]}
        provider = checks["provider"]
        assert provider["status"] == "fail" and "refused" in provider["detail"]
        assert "fondation claude login" in provider["fix"] and "fondation claude restore latest" in provider["fix"]
        assert checks["worker_health"]["status"] == "warn" and "provider auth" in checks["worker_health"]["detail"]
        assert [name for name, check in checks.items() if check["status"] == "fail"] == ["provider"]

        # 4. Resolution: restore the backup, check, retry the job.
        restored = fondation("claude", "restore", "latest").ok()
        assert "fondation jobs retry ID" in restored
        healed = fondation("doctor", "--json")
        assert healed.code == 0, healed.stdout
        provider = {check["name"]: check for check in json.loads(healed.stdout)["checks"]}["provider"]
        assert provider["status"] == "ok" and "a test call answered" in provider["detail"]
        fondation("jobs", "retry", str(job_id)).ok()
        done = wait_until(lambda: finished(queue, job_id), timeout=180, what="the retried job to finish")
        assert done.status is JobStatus.SUCCEEDED, done.error_message
        assert done.attempts == 2
        assert model.calls["abstractions"] >= 1 and model.calls["chapter"] == 2
        assert CourseStore(queue.db).for_job(job_id).provider == "claude-cli"
        wait_until(lambda: worker.health()[1]["checks"]["provider"]["status"] == "ok", what="health back to ok")

    said = diagnosis.stdout + healed.stdout + restored + (dead.error_message or "") + worker.log()
    assert GOOD not in said and REVOKED not in said

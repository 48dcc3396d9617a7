"""`fondation doctor`: can this machine run Fondation? Each check says what it found and what to try.

The checks, in the order an operator would look: the configuration (what `load_settings` validates, plus
cross-checks between settings), the database (reachable, at this version's schema), the clock skew
between this machine and the database, free disk and leftovers in TEMP_DIR, git, the default LLM
provider (its credentials and one tiny real call, since a stored login can look fine and be refused),
and the local worker's `/health`.

A check never raises: what it cannot observe is itself a finding. The doctor changes nothing: it
migrates no database and creates no SQLite file, and its one provider call asks for a one-word answer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from pydantic import SecretStr

from fondation.config import Settings, is_loopback, load_settings
from fondation.domain.errors import ConfigError, DatabaseError
from fondation.ops.claude_credentials import credentials_status

if TYPE_CHECKING:
    from fondation.store import Database

MB = 1024 * 1024
#: How long the provider's test call and the local worker's /health may take.
PROBE_TIMEOUT_SECONDS = 30.0
HEALTH_TIMEOUT_SECONDS = 2.0
#: Clock skew above this is worth a warning: ages shown by the CLI and the monitor drift by as much.
CLOCK_SKEW_WARN_SECONDS = 5.0
#: Under this many times FONDATION_MIN_FREE_DISK_MB free, the disk check warns before workers stop claiming.
DISK_WARN_FACTOR = 2
#: What to do when a Claude login is refused or missing (runbook incident 4).
CLAUDE_LOGIN_FIX = (
    "re-authenticate: run `fondation claude login`, or `fondation claude restore latest` to go back to the "
    "last backup; then `fondation jobs retry ID` for the jobs that ended dead with kind auth"
)
_KEY_FIXES = {
    "anthropic": "set a valid FONDATION_ANTHROPIC_API_KEY, restart the workers, then `fondation jobs retry ID`",
    "openai": "set a valid FONDATION_OPENAI_API_KEY, restart the workers, then `fondation jobs retry ID`",
}


class CheckStatus(StrEnum):
    OK = "ok"
    #: Works, but something deserves attention.
    WARN = "warn"
    #: Something a worker needs does not work: `fondation doctor` exits 1.
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    """One check's verdict: what was found (`detail`) and, unless all is well, what to try (`fix`)."""

    name: str
    status: CheckStatus
    detail: str
    fix: str = ""


def diagnose() -> list[Check]:
    """Every check, with the configuration read from the environment (an invalid one is the first finding)."""
    try:
        settings = load_settings()
    except ConfigError as error:
        fix = "correct the variable named above (in the environment or the .env file), then run `fondation doctor`"
        return [Check("configuration", CheckStatus.FAIL, str(error), fix), check_git()]
    checks = [check_configuration(settings)]
    database, database_check = _open_database(settings)
    checks.append(database_check)
    try:
        checks.append(check_clock(database) if database is not None else _clock_unmeasured())
        checks.append(check_disk(settings))
        checks.append(check_temp_dir(settings, _running_attempts(database) if database is not None else None))
    finally:
        if database is not None:
            database.dispose()
    checks += [check_git(), check_provider(settings), check_worker_health(settings)]
    return checks


# --------------------------------------------------------------------------------------------- configuration


def check_configuration(settings: Settings) -> Check:
    """Cross-checks the validation of each setting alone cannot make."""
    problems: list[tuple[CheckStatus, str, str]] = []
    if settings.backend == "postgresql" and not _is_set(settings.secret_key):
        problems.append(
            (
                CheckStatus.WARN,
                "FONDATION_SECRET_KEY is not set while the database is PostgreSQL: each machine makes its own "
                "key, so sessions and stored GitHub tokens work on one machine only",
                "set the same FONDATION_SECRET_KEY in every process that shares the database",
            )
        )
    if not is_loopback(settings.web_host) and not settings.effective_public_url.startswith("https://"):
        problems.append(
            (
                CheckStatus.WARN,
                f"the web app listens on {settings.web_host} but its public URL "
                f"{settings.effective_public_url} is not https: session cookies travel without Secure",
                "put a TLS reverse proxy in front and set FONDATION_PUBLIC_URL=https://…",
            )
        )
    needed = settings.max_concurrent_jobs * settings.job_memory_mb
    total = psutil.virtual_memory().total / MB
    if needed > total:
        problems.append(
            (
                CheckStatus.WARN,
                f"{settings.max_concurrent_jobs} jobs at once may use {needed} MB (FONDATION_JOB_MEMORY_MB each), "
                f"more than this machine's {total:.0f} MB",
                "lower FONDATION_MAX_CONCURRENT_JOBS or FONDATION_JOB_MEMORY_MB",
            )
        )
    if bool(settings.github_client_id) != _is_set(settings.github_client_secret):
        problems.append(
            (
                CheckStatus.WARN,
                "only one of GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET is set: GitHub sign-in stays off",
                "set both (from the GitHub OAuth app) or neither",
            )
        )
    backups = Path(os.path.realpath(settings.claude_backup_dir))
    if backups.is_relative_to(os.path.realpath(settings.claude_config_dir)):
        problems.append(
            (
                CheckStatus.FAIL,
                f"FONDATION_CLAUDE_BACKUP_DIR ({settings.claude_backup_dir}) is inside FONDATION_CLAUDE_CONFIG_DIR "
                f"({settings.claude_config_dir}): a restore or a revoke would wipe the backups",
                "point FONDATION_CLAUDE_BACKUP_DIR outside the credentials folder",
            )
        )
    if not problems:
        return Check(
            "configuration", CheckStatus.OK, f"valid (database {settings.backend}, provider {settings.provider})"
        )
    worst = CheckStatus.FAIL if any(status is CheckStatus.FAIL for status, _, _ in problems) else CheckStatus.WARN
    return Check("configuration", worst, "; ".join(p[1] for p in problems), "; ".join(p[2] for p in problems))


def _is_set(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value())


# ------------------------------------------------------------------------------------------------- database


def _open_database(settings: Settings) -> tuple[Database | None, Check]:
    """The database handle (None unless it is reachable at a schema this code runs on) and its check."""
    from sqlalchemy.engine import make_url

    from fondation.store import Database
    from fondation.store.migrations_runner import schema_status

    if settings.backend == "sqlite":
        path = Path(make_url(settings.database_url).database or "").expanduser()
        if not path.is_file():
            return None, Check(
                "database",
                CheckStatus.WARN,
                f"no SQLite database at {path} yet",
                "the first command that needs it creates it; or run `fondation db migrate` now",
            )
    reach_fix = "check FONDATION_DATABASE_URL and that the database server is up and reachable from here"
    try:
        database = Database(
            settings.database_url,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            sqlite_synchronous=settings.sqlite_synchronous,
        )
    except DatabaseError as error:
        return None, Check("database", CheckStatus.FAIL, str(error), reach_fix)
    started = time.perf_counter()
    try:
        status = schema_status(database)
    except DatabaseError as error:
        database.dispose()
        return None, Check("database", CheckStatus.FAIL, str(error), reach_fix)
    where = f"{settings.backend} at {database.display_url}, answered in {(time.perf_counter() - started) * 1000:.0f} ms"
    revision = f"schema revision {status.current or 'none'} (this Fondation needs {status.head})"
    verdicts = {
        "current": (CheckStatus.OK, "", ""),
        "compatible": (
            CheckStatus.WARN,
            ": migrated by a newer Fondation, which this one can still run on (a rollback)",
            "upgrade this machine's Fondation to the release that migrated the database",
        ),
        "empty": (CheckStatus.WARN, ": no schema yet", "run `fondation db migrate` (or any command creates it)"),
        "outdated": (CheckStatus.FAIL, ": older than this Fondation", "run `fondation db migrate`"),
        "too_new": (
            CheckStatus.FAIL,
            ": newer than this Fondation knows",
            "upgrade Fondation on this machine before using this database",
        ),
    }
    verdict, note, fix = verdicts[status.state]
    if status.state not in ("current", "compatible"):
        database.dispose()
        return None, Check("database", verdict, f"{where}; {revision}{note}", fix)
    return database, Check("database", verdict, f"{where}; {revision}{note}", fix)


def check_clock(database: Database) -> Check:
    """This machine's clock against the database's: leases follow the database, ages shown follow this one."""
    sql = (
        f"SELECT {database.dialect.now}"
        if database.is_sqlite
        else "SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8"
    )
    try:
        before = time.time()
        remote = float(database.scalar(sql))
        after = time.time()
    except DatabaseError as error:
        return Check("clock", CheckStatus.WARN, f"not measured: {error}", "see the database check")
    skew = remote - (before + after) / 2
    detail = f"the database clock is {skew:+.3f} s from this machine's (round trip {(after - before) * 1000:.0f} ms)"
    if abs(skew) > CLOCK_SKEW_WARN_SECONDS:
        return Check(
            "clock",
            CheckStatus.WARN,
            detail,
            "synchronise both clocks with NTP (e.g. `timedatectl set-ntp true`); leases follow the database's "
            "clock and stay correct, but the ages this machine shows drift",
        )
    return Check("clock", CheckStatus.OK, detail)


def _clock_unmeasured() -> Check:
    return Check("clock", CheckStatus.WARN, "not measured: the database is not usable", "see the database check")


def _running_attempts(database: Database) -> set[tuple[int, int]] | None:
    from fondation.queue import JobQueue, RetryPolicy

    try:
        return JobQueue(database, RetryPolicy()).running_attempts()
    except DatabaseError:
        return None


# ---------------------------------------------------------------------------------------------------- disk


def check_disk(settings: Settings) -> Check:
    """Free space where attempts work: below FONDATION_MIN_FREE_DISK_MB workers stop claiming."""
    temp_dir = settings.temp_dir
    existing = temp_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return Check(
            "disk",
            CheckStatus.FAIL,
            f"{existing} is not writable: workers cannot make attempt directories under TEMP_DIR ({temp_dir})",
            "give the workers' user write access to TEMP_DIR, or point FONDATION_TEMP_DIR elsewhere",
        )
    free = shutil.disk_usage(existing).free / MB
    minimum = settings.min_free_disk_mb
    detail = f"{free:.0f} MB free on the file system of TEMP_DIR ({temp_dir}); workers need {minimum} MB to claim"
    fix = (
        "`fondation tmp clean` removes attempt directories left behind (`--all` with the workers stopped); "
        "then free space on that file system or grow it"
    )
    if free < minimum:
        return Check("disk", CheckStatus.FAIL, f"{detail}: workers do not claim", fix)
    if free < DISK_WARN_FACTOR * minimum:
        return Check("disk", CheckStatus.WARN, f"{detail}: close to it", fix)
    return Check("disk", CheckStatus.OK, detail)


def check_temp_dir(settings: Settings, running: set[tuple[int, int]] | None) -> Check:
    """How much TEMP_DIR holds, and how much of it attempts that no longer run left behind."""
    temp_dir = settings.temp_dir
    if not temp_dir.is_dir():
        return Check("temp_dir", CheckStatus.OK, f"{temp_dir} does not exist yet (workers create it)")
    total = _size(temp_dir)
    attempts = [entry for entry in temp_dir.iterdir() if entry.name.startswith("job-") and entry.is_dir()]
    detail = f"{temp_dir} holds {total / MB:.1f} MB, {len(attempts)} attempt director{_ies(len(attempts))}"
    if running is None:
        return Check("temp_dir", CheckStatus.OK, f"{detail} (which are leftovers is unknown without the database)")
    live = {f"job-{job_id}-{attempt}" for job_id, attempt in running}
    leftovers = [entry for entry in attempts if entry.name not in live]
    if not leftovers:
        return Check("temp_dir", CheckStatus.OK, detail)
    left = sum(_size(entry) for entry in leftovers) / MB
    return Check(
        "temp_dir",
        CheckStatus.WARN,
        f"{detail}; {len(leftovers)} of them ({left:.1f} MB) belong to attempts no longer running",
        "`fondation tmp clean` removes them",
    )


def _size(root: Path) -> int:
    total = 0
    for current, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(current, name)).st_size
            except OSError:  # removed meanwhile by its worker
                continue
    return total


def _ies(count: int) -> str:
    return "y" if count == 1 else "ies"


# ----------------------------------------------------------------------------------------------------- git


def check_git() -> Check:
    """Workers clone with the system git."""
    fix = "install git (e.g. `apt-get install git`) where the workers run"
    found = shutil.which("git")
    if found is None:
        return Check("git", CheckStatus.FAIL, "git is not on PATH: workers cannot clone repositories", fix)
    try:
        version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Check("git", CheckStatus.FAIL, f"{found} does not run: {error}", fix)
    if version.returncode != 0:
        return Check("git", CheckStatus.FAIL, f"`{found} --version` exited with {version.returncode}", fix)
    return Check("git", CheckStatus.OK, f"{version.stdout.strip()} at {found}")


# ------------------------------------------------------------------------------------------------ provider


def check_provider(settings: Settings, name: str | None = None) -> Check:
    """The provider (`name`, else the default one) has credentials and answers one tiny real call."""
    name = name or settings.provider
    if name == "offline":
        return Check("provider", CheckStatus.OK, "offline: courses are written without an LLM, nothing to check")
    login_fix = _login_fix(settings, name)
    if name == "claude-cli":
        missing = _missing_claude_credentials(settings)
        if missing:
            return Check("provider", CheckStatus.FAIL, missing, login_fix)
    # Imported only now: the providers' SDKs take a second or more to load, for nothing in the cases above.
    from fondation.domain.jobs import ErrorKind
    from fondation.providers.base import ProviderError, Request
    from fondation.providers.factory import make_provider

    provider = make_provider(name, settings)
    readiness = provider.check_ready()
    if not readiness.ready:
        return Check("provider", CheckStatus.FAIL, f"{name}: {readiness.detail}", _not_ready_fix(name, login_fix))
    probe = Request(
        system="You are a health check. Answer with the single word OK.",
        prompt="Say OK.",
        step="doctor",
        max_tokens=16,
        timeout_seconds=PROBE_TIMEOUT_SECONDS,
    )
    started = time.monotonic()
    try:
        provider.complete(probe)
    except ProviderError as error:
        if error.kind is ErrorKind.AUTH:
            return Check("provider", CheckStatus.FAIL, f"{name}: the credential was refused: {error}", login_fix)
        if error.kind is ErrorKind.TRANSIENT:
            return Check(
                "provider",
                CheckStatus.WARN,
                f"{name}: the test call did not get through: {error}",
                "the API is unreachable, rate limited or overloaded: check the network (HTTPS_PROXY) and the base "
                "URL, then run `fondation doctor` again",
            )
        return Check(
            "provider",
            CheckStatus.FAIL,
            f"{name}: the test call failed: {error}",
            "check FONDATION_MODEL and the provider's settings",
        )
    elapsed = time.monotonic() - started
    return Check("provider", CheckStatus.OK, f"{name}: {readiness.detail}; a test call answered in {elapsed:.1f} s")


def _missing_claude_credentials(settings: Settings) -> str:
    """Why the Claude CLI has no credential at all ("" when it has one, in the folder or the environment)."""
    if _is_set(settings.claude_oauth_token) or _is_set(settings.anthropic_api_key):
        return ""
    status = credentials_status(settings.claude_config_dir)
    if status.credential is not None:
        return ""
    where = f"{settings.claude_config_dir} does not exist" if not status.exists else "no login is stored there"
    if status.problem:
        where = status.problem
    return (
        f"claude-cli: no Claude credentials: {where} (FONDATION_CLAUDE_CONFIG_DIR), and neither "
        "FONDATION_CLAUDE_OAUTH_TOKEN nor FONDATION_ANTHROPIC_API_KEY is set"
    )


def _login_fix(settings: Settings, name: str) -> str:
    if name != "claude-cli":
        return _KEY_FIXES.get(name, "")
    if _is_set(settings.claude_oauth_token):
        return (
            "FONDATION_CLAUDE_OAUTH_TOKEN is what the CLI uses: set a new one (`fondation claude login "
            "--setup-token` prints one), restart the workers, then `fondation jobs retry ID`"
        )
    if _is_set(settings.anthropic_api_key):
        return _KEY_FIXES["anthropic"]
    return CLAUDE_LOGIN_FIX


def _not_ready_fix(name: str, login_fix: str) -> str:
    if name == "claude-cli":
        return (
            "if the command is missing: install Claude Code (npm install -g @anthropic-ai/claude-code) or set "
            f"FONDATION_CLAUDE_COMMAND; if it is not signed in: {login_fix}"
        )
    return login_fix or "check the provider's settings"


# ------------------------------------------------------------------------------------------- worker health


def check_worker_health(settings: Settings) -> Check:
    """The local worker's `/health` (FONDATION_HEALTH_HOST/PORT), if this machine runs one."""
    host = "127.0.0.1" if settings.health_host in ("", "0.0.0.0") else settings.health_host
    host = "::1" if host == "::" else host
    url = (
        f"http://[{host}]:{settings.health_port}/health"
        if ":" in host
        else f"http://{host}:{settings.health_port}/health"
    )
    try:
        code, body = _get(url)
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return Check(
            "worker_health",
            CheckStatus.WARN,
            f"no worker answers at {url} ({reason})",
            "if this machine should run a worker: `sudo systemctl status fondation-worker`, then start it "
            "(`sudo systemctl start fondation-worker`, or `fondation worker`)",
        )
    try:
        report = json.loads(body)
        status = str(report["status"])
        checks = report.get("checks") or {}
    except (ValueError, KeyError, TypeError):
        return Check("worker_health", CheckStatus.WARN, f"{url} answered HTTP {code} but not with a worker's health")
    problems = [
        f"{check_name}: {check.get('detail') or check.get('error') or check.get('status')}"
        for check_name, check in checks.items()
        if isinstance(check, dict) and check.get("status") != "ok"
    ]
    summary = (
        f"worker {report.get('worker_id')} at {url}: {status}, "
        f"{report.get('active_jobs')}/{report.get('max_concurrent_jobs')} jobs"
    )
    if status == "ok":
        return Check("worker_health", CheckStatus.OK, summary)
    detail = f"{summary} ({'; '.join(problems)})" if problems else summary
    verdict = CheckStatus.FAIL if status == "unhealthy" else CheckStatus.WARN
    return Check("worker_health", verdict, detail, "follow the failing check's detail; `fondation monitor` shows more")


def _get(url: str) -> tuple[int, bytes]:
    """GET `url`: (status, body), an HTTP error status included (503 carries the unhealthy report)."""
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_SECONDS) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()

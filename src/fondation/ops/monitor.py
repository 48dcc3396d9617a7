"""`fondation monitor`: one snapshot of everything the on-call checklist looks at, and what it means.

What `monitor.sh` was: the worker registry, the queue (depth, oldest waiting job, expired leases, slow
attempts, failures and the error rate), this machine's disk, TEMP_DIR and memory, the default LLM
provider, the claim pause, and the local worker's `/health`. Each problem becomes a `Finding` with the
runbook's severity and the command to try; `findings.exit_code_for` turns the worst one into an exit
code for cron and alerting.

Collecting never fails on what it observes: a database that does not answer or a health endpoint that
is not there are findings, not crashes, because the monitor is what runs when things are broken.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import psutil

from fondation.config import Settings, mask_url_password
from fondation.domain.errors import DatabaseError
from fondation.domain.jobs import ErrorKind, Job, JobStatus
from fondation.ops.findings import Finding, Severity, sort_findings
from fondation.queue.stats import AttemptOutcomes, FailureCount, QueueStats

if TYPE_CHECKING:
    from fondation.queue import JobQueue, WorkerInfo

#: The runbook's windows: the error rate over 15 minutes, failures by kind over the last hour.
ERROR_RATE_WINDOW_SECONDS = 15 * 60.0
FAILURE_WINDOW_SECONDS = 3600.0
#: The local worker's /health must answer within this, or it counts as unreachable.
HEALTH_TIMEOUT_SECONDS = 2.0
#: A live view asks the provider (which may start the Claude CLI twice) at most this often.
PROVIDER_RECHECK_SECONDS = 60.0
#: Jobs named in a finding's message; the snapshot itself lists them all (up to the stats' limit).
_NAMED_JOBS = 5
MB = 1024 * 1024
_ATTEMPT_DIR_PREFIX = "job-"

# ---------------------------------------------------------------------------------------------- the views


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One registered worker; `state` is up, down (silent longer than a lease) or stopped (said goodbye)."""

    id: str
    state: str
    hostname: str
    pid: int
    version: str
    active_jobs: int
    concurrency: int
    started_at: datetime
    last_seen_at: datetime
    seconds_since_seen: float


@dataclass(frozen=True, slots=True)
class JobRef:
    """A job named by a finding: `seconds` is how long it has run, or how long ago its lease expired."""

    id: int
    worker_id: str | None
    source: str
    seconds: float


@dataclass(frozen=True, slots=True)
class PauseView:
    by: str
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class QueueView:
    depth: dict[str, int]
    #: Jobs that still need a worker: pending, and failed ones waiting for their retry.
    waiting: int
    oldest_waiting_seconds: float
    expired_leases: list[JobRef]
    slow_jobs: list[JobRef]
    failures_last_hour: list[FailureCount]
    error_rate: AttemptOutcomes
    claims_paused: PauseView | None


@dataclass(frozen=True, slots=True)
class DatabaseView:
    backend: str
    url: str
    reachable: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class DiskView:
    temp_dir: str
    free_mb: float
    total_mb: float
    minimum_mb: int
    temp_dir_mb: float
    attempt_dirs: int


@dataclass(frozen=True, slots=True)
class MemoryView:
    used_percent: float
    used_mb: float
    total_mb: float
    limit_percent: float


@dataclass(frozen=True, slots=True)
class ProviderView:
    name: str
    ready: bool
    detail: str


@dataclass(frozen=True, slots=True)
class HealthView:
    """The local worker's /health: `status` is its own verdict (ok, degraded, unhealthy) when it answered."""

    url: str
    reachable: bool
    http_status: int | None
    status: str | None
    worker_id: str | None
    checks: dict[str, Any]
    error: str | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the monitor saw at `taken_at`, and its findings, worst first.

    `workers` and `queue` are None when the database did not answer.
    """

    taken_at: datetime
    hostname: str
    database: DatabaseView
    workers: list[WorkerView] | None
    queue: QueueView | None
    disk: DiskView
    memory: MemoryView
    provider: ProviderView
    health: HealthView
    findings: list[Finding]


# ---------------------------------------------------------------------------------------------- collecting


class Monitor:
    """Takes snapshots; keeps the database open between them (a live view refreshes every few seconds)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queue: JobQueue | None = None
        self._provider: ProviderView | None = None
        self._provider_checked = 0.0

    def __enter__(self) -> Monitor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._queue is not None:
            self._queue.db.dispose()
            self._queue = None

    def snapshot(self) -> Snapshot:
        database, workers, queue = self._read_database()
        disk = disk_view(self.settings)
        memory = memory_view(self.settings)
        provider = self._provider_view()
        health = health_view(self.settings)
        observed = Snapshot(
            taken_at=datetime.now(UTC),
            hostname=socket.gethostname(),
            database=database,
            workers=workers,
            queue=queue,
            disk=disk,
            memory=memory,
            provider=provider,
            health=health,
            findings=[],
        )
        return replace(observed, findings=assess(observed, self.settings))

    def _read_database(self) -> tuple[DatabaseView, list[WorkerView] | None, QueueView | None]:
        url = mask_url_password(self.settings.database_url)
        try:
            queue = self._open_queue()
            workers, view = read_queue(queue, self.settings)
        except DatabaseError as error:
            self.close()  # connect afresh next time: the server may be back
            return DatabaseView(self.settings.backend, url, False, str(error)), None, None
        return DatabaseView(self.settings.backend, url, True, None), workers, view

    def _open_queue(self) -> JobQueue:
        if self._queue is None:
            from fondation.queue import JobQueue
            from fondation.store import open_database

            database = open_database(
                self.settings.database_url,
                sqlite_busy_timeout_ms=self.settings.sqlite_busy_timeout_ms,
                sqlite_synchronous=self.settings.sqlite_synchronous,
            )
            self._queue = JobQueue(database)
        return self._queue

    def _provider_view(self) -> ProviderView:
        if self._provider is None or time.monotonic() - self._provider_checked > PROVIDER_RECHECK_SECONDS:
            self._provider = provider_view(self.settings)
            self._provider_checked = time.monotonic()
        return self._provider


def read_queue(queue: JobQueue, settings: Settings) -> tuple[list[WorkerView], QueueView]:
    """The registry and the queue's figures, every age judged by the database's clock."""
    from fondation.queue import WorkerRegistry

    stats = QueueStats(queue.db)
    now = stats.database_now()
    workers = [
        WorkerView(
            id=info.id,
            state=_state(info, now, settings.lease_seconds),
            hostname=info.hostname,
            pid=info.pid,
            version=info.version,
            active_jobs=info.active_jobs,
            concurrency=info.concurrency,
            started_at=info.started_at,
            last_seen_at=info.last_seen_at,
            seconds_since_seen=round(max(info.seconds_silent(now), 0.0), 3),
        )
        for info in WorkerRegistry(queue.db).list()
    ]
    counts = queue.counts()
    pause = queue.pause_state()
    view = QueueView(
        depth={status.value: count for status, count in counts.items()},
        waiting=counts[JobStatus.PENDING] + counts[JobStatus.FAILED],
        oldest_waiting_seconds=round(queue.oldest_ready_age(), 3),
        expired_leases=[_job_ref(job, now, since_lease=True) for job in stats.stuck()],
        slow_jobs=[_job_ref(job, now) for job in stats.running_longer_than(settings.monitor_slow_after_seconds)],
        failures_last_hour=stats.failures_by_kind(FAILURE_WINDOW_SECONDS),
        error_rate=stats.attempt_outcomes(ERROR_RATE_WINDOW_SECONDS),
        claims_paused=None
        if pause is None
        else PauseView(pause.updated_by, pause.updated_at, str((pause.value or {}).get("reason", ""))),
    )
    return workers, view


def _state(info: WorkerInfo, now: datetime, lease_seconds: float) -> str:
    if info.status == "stopped":
        return "stopped"
    return "up" if info.is_up(now, lease_seconds) else "down"


def _job_ref(job: Job, now: datetime, *, since_lease: bool = False) -> JobRef:
    since = job.lease_expires_at if since_lease else job.started_at
    seconds = (now - since).total_seconds() if since is not None else 0.0
    return JobRef(job.id, job.worker_id, job.source, round(seconds, 3))


def disk_view(settings: Settings) -> DiskView:
    """Free space of TEMP_DIR's file system (the workers' guard) and what TEMP_DIR itself holds."""
    temp_dir = settings.temp_dir
    existing = temp_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    size, attempt_dirs = _tree_usage(temp_dir)
    return DiskView(
        temp_dir=str(temp_dir),
        free_mb=round(usage.free / MB, 1),
        total_mb=round(usage.total / MB, 1),
        minimum_mb=settings.min_free_disk_mb,
        temp_dir_mb=round(size / MB, 1),
        attempt_dirs=attempt_dirs,
    )


def _tree_usage(root: Path) -> tuple[int, int]:
    """Bytes on disk under `root` (as `du` counts them, links not followed) and its attempt directories."""
    total, attempt_dirs = 0, 0
    pending = [(root, True)]
    while pending:
        directory, top = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:  # gone meanwhile (an attempt finished), or not readable
            continue
        for entry in entries:
            try:
                total += entry.stat(follow_symlinks=False).st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    pending.append((Path(entry.path), False))
                    attempt_dirs += top and entry.name.startswith(_ATTEMPT_DIR_PREFIX)
            except OSError:
                continue
    return total, attempt_dirs


def memory_view(settings: Settings) -> MemoryView:
    """This machine's memory: used is what is not available (page cache that can be dropped is not used)."""
    memory = psutil.virtual_memory()
    used = memory.total - memory.available
    return MemoryView(
        used_percent=round(100.0 * used / memory.total, 1),
        used_mb=round(used / MB, 1),
        total_mb=round(memory.total / MB, 1),
        limit_percent=settings.monitor_memory_percent,
    )


def provider_view(settings: Settings) -> ProviderView:
    """The default provider's own readiness check (the Claude CLI: found and signed in; APIs: a key set)."""
    if settings.provider == "offline":
        return ProviderView("offline", True, "offline generation: no LLM needed")
    from fondation.providers.factory import make_provider  # the SDKs load only when an LLM is configured

    readiness = make_provider(settings.provider, settings).check_ready()
    return ProviderView(settings.provider, readiness.ready, readiness.detail)


def health_url(settings: Settings) -> str:
    """Where this machine's worker serves /health (a wildcard bind address is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.health_host, settings.health_host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.health_port}/health"


def health_view(settings: Settings) -> HealthView:
    url = health_url(settings)
    if settings.health_port == 0:
        return HealthView(url, False, None, None, None, {}, "FONDATION_HEALTH_PORT is 0: the port is picked at start")
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_SECONDS) as response:
            code, raw = response.status, response.read()
    except urllib.error.HTTPError as error:  # 503 carries the same JSON document
        code, raw = error.code, error.read()
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return HealthView(url, False, None, None, None, {}, f"no answer: {reason}")
    try:
        body = json.loads(raw)
        return HealthView(
            url, True, code, str(body["status"]), body.get("worker_id"), dict(body.get("checks", {})), None
        )
    except (ValueError, KeyError, TypeError):
        return HealthView(url, False, code, None, None, {}, f"HTTP {code} without a Fondation health document")


# ---------------------------------------------------------------------------------------------- judging


def assess(snapshot: Snapshot, settings: Settings) -> list[Finding]:
    """Every finding the snapshot supports, worst first (see `ops.findings` for what each severity means)."""
    findings: list[Finding] = []
    if not snapshot.database.reachable:
        findings.append(
            Finding(
                Severity.P1,
                "database_unreachable",
                snapshot.database.error or "the database does not answer",
                "check the database server and FONDATION_DATABASE_URL (`fondation doctor`); workers retry on their "
                "own and lose no job",
            )
        )
    if snapshot.queue is not None and snapshot.workers is not None:
        findings += _queue_findings(snapshot.queue, snapshot.workers, settings)
        findings += _worker_findings(snapshot.workers)
    findings += _resource_findings(snapshot.disk, snapshot.memory)
    findings += _provider_findings(snapshot.provider, snapshot.queue)
    findings += _health_findings(snapshot.health, snapshot.workers, snapshot.hostname)
    return sort_findings(findings)


def _queue_findings(queue: QueueView, workers: list[WorkerView], settings: Settings) -> list[Finding]:
    findings = []
    live = [worker for worker in workers if worker.state == "up"]
    free_slots = sum(max(worker.concurrency - worker.active_jobs, 0) for worker in live)
    waiting = f"{queue.waiting} job{'s' if queue.waiting != 1 else ''} waiting"
    oldest = f"the oldest for {queue.oldest_waiting_seconds:.0f} s"
    stuck_after = settings.monitor_stuck_after_seconds
    if queue.waiting and not live:
        findings.append(
            Finding(
                Severity.P1,
                "no_live_worker",
                f"no live worker while {waiting} ({oldest})",
                "start a worker: `sudo systemctl start fondation-worker` (or `fondation worker`); "
                "`fondation workers list` shows when each was last seen",
            )
        )
    if queue.claims_paused is not None:
        pause = queue.claims_paused
        findings.append(
            Finding(
                Severity.P1 if queue.waiting else Severity.P4,
                "claims_paused",
                f"claims are paused (by {pause.by} at {pause.at:%Y-%m-%d %H:%M:%SZ}: {pause.reason or 'no reason'}) "
                f"while {waiting}",
                "`fondation queue resume` once the incident is over",
            )
        )
    elif live and queue.oldest_waiting_seconds > stuck_after:
        if free_slots:
            findings.append(
                Finding(
                    Severity.P1,
                    "queue_stuck",
                    f"{waiting}, {oldest} (over {stuck_after:g} s), while live workers have {free_slots} free "
                    "slot(s) and claim nothing",
                    "see why the workers do not claim: the disk and memory findings, the worker's /health and log; "
                    "`fondation tmp clean` frees TEMP_DIR",
                )
            )
        else:
            findings.append(
                Finding(
                    Severity.P3,
                    "backlog",
                    f"{waiting}, {oldest} (over {stuck_after:g} s): every live worker is busy",
                    "add a worker (`fondation worker` with its own WORKER_ID) or raise MAX_CONCURRENT_JOBS",
                )
            )
    findings += _error_findings(queue, settings)
    if queue.expired_leases:
        findings.append(
            Finding(
                Severity.P3,
                "expired_leases",
                f"{len(queue.expired_leases)} running job(s) past their lease, their worker gone: "
                f"{_name_jobs(queue.expired_leases)}",
                "`fondation jobs reclaim-expired` (a live worker's reaper does it within FONDATION_REAPER_INTERVAL)",
            )
        )
    if queue.slow_jobs:
        findings.append(
            Finding(
                Severity.P3,
                "slow_jobs",
                f"{len(queue.slow_jobs)} attempt(s) running longer than {settings.monitor_slow_after_seconds:g} s: "
                f"{_name_jobs(queue.slow_jobs)}",
                "`fondation jobs show ID` for its progress; `fondation jobs cancel ID` if it makes none "
                "(FONDATION_JOB_TIMEOUT stops it in any case)",
            )
        )
    return findings


def _error_findings(queue: QueueView, settings: Settings) -> list[Finding]:
    rate = queue.error_rate
    kinds = ", ".join(f"{failure.kind} {failure.count}" for failure in queue.failures_last_hour)
    if (
        rate.rate is not None
        and rate.ended >= settings.monitor_error_min_attempts
        and rate.rate > settings.monitor_error_rate
    ):
        return [
            Finding(
                Severity.P2,
                "error_rate",
                f"{rate.failed} of {rate.ended} attempts that ended in the last {rate.window_seconds / 60:g} min "
                f"failed ({rate.rate:.0%}, threshold {settings.monitor_error_rate:.0%}); last hour by kind: {kinds}",
                "`fondation jobs list --status dead` and `fondation jobs show ID`; auth: `fondation doctor`; "
                "resource: memory and disk; transient: network and the provider's status",
            )
        ]
    if queue.failures_last_hour:
        return [
            Finding(
                Severity.P4,
                "failures",
                f"attempts failed in the last hour: {kinds}",
                "`fondation jobs list --status failed` (retries waiting) or `--status dead`, then "
                "`fondation jobs show ID`",
            )
        ]
    return []


def _worker_findings(workers: list[WorkerView]) -> list[Finding]:
    """Workers that vanished without stopping: their jobs come back with their leases; this says who is gone."""
    return [
        Finding(
            Severity.P4,
            "worker_lost",
            f"worker {worker.id} ({worker.hostname}, pid {worker.pid}) not seen for {worker.seconds_since_seen:.0f} s "
            "and did not stop cleanly",
            "restart it (`sudo systemctl restart fondation-worker`), or ignore a retired machine",
        )
        for worker in workers
        if worker.state == "down"
    ]


def _resource_findings(disk: DiskView, memory: MemoryView) -> list[Finding]:
    findings = []
    if disk.minimum_mb and disk.free_mb < disk.minimum_mb:
        findings.append(
            Finding(
                Severity.P2,
                "disk_low",
                f"free disk in TEMP_DIR ({disk.temp_dir}) is {disk.free_mb:.0f} MB, below FONDATION_MIN_FREE_DISK_MB "
                f"({disk.minimum_mb} MB): workers here claim nothing; TEMP_DIR holds {disk.temp_dir_mb:.0f} MB in "
                f"{disk.attempt_dirs} attempt dir(s)",
                "`fondation tmp clean` removes what no running attempt uses; then free or grow the disk",
            )
        )
    if memory.used_percent >= memory.limit_percent:
        findings.append(
            Finding(
                Severity.P2,
                "memory_high",
                f"memory {memory.used_percent:.0f}% used ({memory.used_mb:.0f} of {memory.total_mb:.0f} MB), at or "
                f"above FONDATION_MONITOR_MEMORY_PERCENT ({memory.limit_percent:g}%)",
                "find the process (`ps aux --sort=-rss | head`); lower MAX_CONCURRENT_JOBS or FONDATION_JOB_MEMORY_MB; "
                "restart the worker",
            )
        )
    return findings


def _provider_findings(provider: ProviderView, queue: QueueView | None) -> list[Finding]:
    findings = []
    if not provider.ready:
        findings.append(
            Finding(
                Severity.P3,
                "provider_not_ready",
                f"provider {provider.name} is not ready: {provider.detail}",
                "`fondation doctor`; for claude-cli `fondation claude status`, then `fondation claude login` or "
                "`fondation claude restore latest`",
            )
        )
    failures = queue.failures_last_hour if queue is not None else []
    auth = sum(failure.count for failure in failures if failure.kind == ErrorKind.AUTH)
    if auth:
        findings.append(
            Finding(
                Severity.P3,
                "auth_failures",
                f"{auth} attempt(s) failed to authenticate in the last hour (LLM provider or git)",
                "`fondation jobs list --status dead` shows which; re-authenticate (`fondation claude login`, "
                "FONDATION_GIT_TOKEN), then `fondation jobs retry ID`",
            )
        )
    return findings


#: How bad a degraded check of the local worker's /health is.
_DEGRADED_CHECKS = {"disk": Severity.P2, "memory": Severity.P2, "provider": Severity.P3}


def _health_findings(health: HealthView, workers: list[WorkerView] | None, hostname: str) -> list[Finding]:
    if not health.reachable:
        local_up = [w.id for w in workers or [] if w.hostname == hostname and w.state == "up"]
        if local_up:
            return [
                Finding(
                    Severity.P3,
                    "health_unreachable",
                    f"worker {', '.join(local_up)} of this host is up, but {health.url} does not answer: "
                    f"{health.error}",
                    "check FONDATION_HEALTH_HOST/FONDATION_HEALTH_PORT; `kill -USR1 PID` writes a stuck worker's "
                    "stacks to its log",
                )
            ]
        return [Finding(Severity.P4, "no_local_worker", f"no worker health at {health.url}: {health.error}")]
    findings = []
    who = f"local worker {health.worker_id or ''}".rstrip()
    if health.status == "unhealthy":
        failing = "; ".join(
            f"{name}: {check.get('error') or check.get('detail') or 'unhealthy'}"
            for name, check in health.checks.items()
            if isinstance(check, dict) and check.get("status") == "unhealthy"
        )
        findings.append(
            Finding(
                Severity.P2,
                "worker_unhealthy",
                f"{who} is unhealthy: {failing}",
                "database: check the server and FONDATION_DATABASE_URL; poll loop: `kill -USR1 PID`, then "
                "`sudo systemctl restart fondation-worker`",
            )
        )
    for name, check in health.checks.items():
        if isinstance(check, dict) and check.get("status") == "degraded":
            findings.append(
                Finding(
                    _DEGRADED_CHECKS.get(name, Severity.P4),
                    f"worker_{name}",
                    f"{who} degraded: {name}: {check.get('detail', 'degraded')}",
                    "see the disk, memory or provider findings" if name in _DEGRADED_CHECKS else "",
                )
            )
    return findings


def _name_jobs(refs: list[JobRef]) -> str:
    named = ", ".join(f"{ref.id} ({ref.worker_id or 'no worker'}, {ref.seconds:.0f} s)" for ref in refs[:_NAMED_JOBS])
    return named + (f" and {len(refs) - _NAMED_JOBS} more" if len(refs) > _NAMED_JOBS else "")

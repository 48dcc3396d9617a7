"""The worker: claim jobs, run each in its own child process, keep their leases, finalise them.

Threads, each with one job:

- the claim loop (`run`, the caller's thread): reaper, guards, claims, then sleeps until woken by a
  notification, a freed slot, or the poll interval;
- the lease keeper: heartbeats every running job from the parent (CPU-heavy children cannot starve
  it), polls for cancels, enforces the deadline and the memory limit, beats the worker registry;
- one supervisor per attempt: starts the child, forwards its progress (fenced), and finalises the
  job when the child exits — retrying through a database outage until the write lands or the lease is
  known lost;
- the PostgreSQL listener and the health server.

Whatever goes wrong, the rule is the protocol's: a fenced write that matches nothing means the job
belongs to someone else now — kill the child and write nothing more.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fondation import __version__
from fondation.config import Settings
from fondation.domain.courses import NewCourse
from fondation.domain.errors import ConfigError, DatabaseError, LeaseLostError
from fondation.domain.jobs import ErrorKind, Job, JobStatus, Lease, Progress
from fondation.domain.secrets import mask_secrets
from fondation.logs import get_logger
from fondation.queue import JobQueue, RetryPolicy, WorkerRegistry
from fondation.store import Database, open_database
from fondation.worker import guards, workdirs
from fondation.worker.child_process import ChildProcess, describe_exit
from fondation.worker.course_job import COURSE_FILE_KEY, load_course_file, write_checkpoints_file
from fondation.worker.health import HealthServer
from fondation.worker.metrics import WorkerMetrics
from fondation.worker.protocol import JobSpec

if TYPE_CHECKING:
    from fondation.accounts import Accounts
    from fondation.worker.wakeup import PgListener

MB = 1024 * 1024
KEEPER_TICK_SECONDS = 0.5
FINALISE_BACKOFF_CAP_SECONDS = 10.0
HEALTH_DB_TIMEOUT_SECONDS = 2.0


class KillReason:
    """Why the parent killed a child; decides how the attempt is finalised."""

    CANCEL = "cancel"
    DEADLINE = "deadline"
    MEMORY = "memory"
    LEASE_LOST = "lease_lost"
    SHUTDOWN = "shutdown"


@dataclass
class Attempt:
    """One running attempt as the parent tracks it."""

    lease: Lease
    work_dir: Path
    started: float
    next_heartbeat: float
    log: Any
    child: ChildProcess | None = None
    kill_reason: str | None = None
    outcome: dict[str, Any] | None = None  # the child's final `result` or `error` message
    course: NewCourse | None = None  # the course the child wrote, read back before its directory goes
    peak_rss: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def job_id(self) -> int:
        return self.lease.job_id

    def kill(self, reason: str) -> None:
        """Stop the child for `reason`; the first reason wins."""
        if self.kill_reason is None:
            self.kill_reason = reason
        if self.child is not None:
            self.child.kill()


@dataclass
class HealthState:
    """What the loops last saw, for /health."""

    started_at: float = field(default_factory=time.time)
    last_poll_at: float | None = None
    last_claim_at: float | None = None
    database_error: str | None = None
    guard_reasons: list[str] = field(default_factory=list)
    guard_report: guards.GuardReport | None = None
    #: The last LLM authentication failure, until a later job with an LLM provider succeeds.
    provider_auth_error: str | None = None


class Worker:
    """A long-running worker process (`fondation worker`), also usable from Python and tests."""

    def __init__(
        self,
        settings: Settings,
        *,
        worker_id: str | None = None,
        concurrency: int | None = None,
        health_host: str | None = None,
        health_port: int | None = None,
        database: Database | None = None,
        serve_health: bool = True,
    ) -> None:
        self.settings = settings
        self.id = worker_id or settings.worker_id
        self.concurrency = concurrency or settings.max_concurrent_jobs
        self.db = database or open_database(
            settings.database_url,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            sqlite_synchronous=settings.sqlite_synchronous,
            pool_size=self.concurrency + 4,
        )
        self.queue = JobQueue(
            self.db, RetryPolicy(settings.retry_base_seconds, settings.retry_cap_seconds, settings.max_attempts)
        )
        self.registry = WorkerRegistry(self.db)
        self.metrics = WorkerMetrics(self.queue)
        self.temp_dir = settings.temp_dir
        self.state = HealthState()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.stop_now = threading.Event()
        self._attempts: dict[int, Attempt] = {}
        self._lock = threading.Lock()
        self._supervisors: list[threading.Thread] = []
        self._log = get_logger(worker_id=self.id)
        self._listener: PgListener | None = None
        self._health: HealthServer | None = None
        self._health_bind = (
            (health_host or settings.health_host, settings.health_port if health_port is None else health_port)
            if serve_health
            else None
        )
        self._db_probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health-db")
        self._accounts: Accounts | None = None  # created on the first job that has an owner
        self.queue.add_enqueue_listener(self.wake.set)

    # ------------------------------------------------------------------ lifecycle

    @property
    def health_address(self) -> tuple[str, int] | None:
        return self._health.address if self._health else None

    def request_stop(self) -> None:
        """First call: drain gracefully. Second call: stop now (kill children, release leases)."""
        if self.stopping.is_set():
            self.stop_now.set()
        self.stopping.set()
        self.wake.set()

    def run(self) -> int:
        """Run until stopped; returns the process exit code (0 after a clean drain)."""
        self.registry.register(
            self.id,
            concurrency=self.concurrency,
            stale_after_seconds=self.settings.lease_seconds,
            info={"temp_dir": str(self.temp_dir), "backend": self.settings.backend},
        )
        self._clean_leftovers()
        if self._health_bind:
            # Bound after registering, so a duplicate worker is refused for its id, not for the port.
            self._health = HealthServer(*self._health_bind, self.health_report, self.metrics.render)
            self._health.start()
            host, port = self._health.address
            self._log.info("health server listening", url=f"http://{host}:{port}/health")
        if not self.db.is_sqlite:
            from fondation.worker.wakeup import PgListener  # psycopg: ~9 MB a SQLite worker never needs

            self._listener = PgListener(self.settings.database_url, on_job=self.wake.set, on_cancel=self._cancel)
            self._listener.start()
        keeper = threading.Thread(target=self._keep_leases, name="lease-keeper", daemon=True)
        keeper.start()
        self.metrics.up.set(1)
        self._log.info(
            "worker started",
            concurrency=self.concurrency,
            backend=self.settings.backend,
            version=__version__,
            pid=os.getpid(),
        )
        try:
            self._claim_loop()
            self._drain()
        finally:
            self.metrics.up.set(0)
            self.stopping.set()
            keeper.join(timeout=5)
            if self._listener:
                self._listener.stop()
            self._mark_stopped()
            if self._health:
                self._health.stop()
            self._db_probe.shutdown(wait=False, cancel_futures=True)
        self._log.info("worker stopped")
        return 0

    def _clean_leftovers(self) -> None:
        try:
            removed = workdirs.clean_leftovers(self.temp_dir, self.queue.running_attempts)
        except (DatabaseError, OSError) as error:
            self._log.warning("could not clean leftover temp dirs", error=str(error))
            return
        if removed:
            self._log.info("removed leftover temp dirs", count=len(removed))

    def _mark_stopped(self) -> None:
        try:
            self.registry.stop(self.id)
        except DatabaseError as error:
            self._log.warning("could not mark the worker stopped", error=str(error))

    # ------------------------------------------------------------------ claim loop

    def _claim_loop(self) -> None:
        next_reap = time.monotonic() + random.uniform(0, self.settings.reaper_interval_seconds)
        outage_backoff = 0.0
        while not self.stopping.is_set():
            self.state.last_poll_at = time.time()
            self.wake.clear()
            try:
                if time.monotonic() >= next_reap:
                    self._reap()
                    next_reap = time.monotonic() + self.settings.reaper_interval_seconds * random.uniform(0.8, 1.2)
                full = self._claim()
                self.state.database_error = None
                outage_backoff = 0.0
            except DatabaseError as error:
                self.state.database_error = mask_secrets(str(error))
                outage_backoff = min(max(outage_backoff * 2, 0.5), self.settings.poll_seconds, 10.0)
                self._log.warning(
                    "database unavailable, will retry", error=self.state.database_error, retry_in=outage_backoff
                )
                self.stopping.wait(outage_backoff)
                continue
            if not full:
                self.wake.wait(self.settings.poll_seconds)

    def _reap(self) -> None:
        reclaimed = self.queue.reclaim_expired(actor=f"reaper:{self.id}")
        if reclaimed:
            self.metrics.reclaimed.inc(len(reclaimed))
            self._log.info("reclaimed expired leases", jobs=[job.id for job in reclaimed])

    def _claim(self) -> bool:
        """Claim what fits; True when every free slot got a job (there may be more waiting)."""
        with self._lock:
            free = self.concurrency - len(self._attempts)
        if free <= 0:
            return False
        report = guards.check(
            self.temp_dir,
            min_free_disk_mb=self.settings.min_free_disk_mb,
            worker_memory_mb=self.settings.worker_memory_mb,
        )
        self.state.guard_report = report
        if report.reasons != self.state.guard_reasons:
            for reason in report.reasons:
                self._log.warning("not claiming", reason=reason)
        self.state.guard_reasons = report.reasons
        if report.reasons:
            return False
        leases = self.queue.claim(self.id, lease_seconds=self.settings.lease_seconds, limit=free)
        for lease in leases:
            self.state.last_claim_at = time.time()
            self.metrics.claimed.inc()
            self._start(lease)
        return len(leases) == free

    # ------------------------------------------------------------------ one attempt

    def _start(self, lease: Lease) -> None:
        job = lease.job
        now = time.monotonic()
        attempt = Attempt(
            lease=lease,
            work_dir=workdirs.attempt_dir(self.temp_dir, job.id, job.attempts),
            started=now,
            next_heartbeat=now + self.settings.heartbeat_seconds,
            log=get_logger(worker_id=self.id, job_id=job.id, attempt=job.attempts),
        )
        with self._lock:
            self._attempts[job.id] = attempt
            self.metrics.active.set(len(self._attempts))
        thread = threading.Thread(target=self._supervise, args=(attempt,), name=f"job-{job.id}", daemon=True)
        self._supervisors = [t for t in self._supervisors if t.is_alive()]
        self._supervisors.append(thread)
        thread.start()

    def _supervise(self, attempt: Attempt) -> None:
        job = attempt.lease.job
        returncode: int | None = None
        try:
            workdirs.create_attempt_dir(self.temp_dir, job.id, job.attempts)
            self._hand_over_checkpoints(attempt)
            spec = JobSpec(
                job_id=job.id,
                attempt=job.attempts,
                source=job.source,
                ref=job.ref,
                options=job.options,
                work_dir=str(attempt.work_dir),
                handler=self.settings.job_handler,
                worker_id=self.id,
            )
            attempt.child = ChildProcess(spec, env=self._child_env(attempt))
            attempt.log.info("job started", source=job.source, pid=attempt.child.pid)
            if attempt.kill_reason:  # canceled or stopped while the child was starting
                attempt.child.kill()
            for message in attempt.child.messages():
                self._on_message(attempt, message)
            returncode = attempt.child.wait()
        except OSError as error:
            attempt.outcome = {
                "type": "error",
                "kind": ErrorKind.RESOURCE.value,
                "message": f"could not start the job process: {error}",
            }
        finally:
            # Removed before the final write: once a release commits, the next claim runs the same
            # attempt number again, in a directory of the same name that must not be ours to delete.
            self._collect_course(attempt)
            workdirs.remove(attempt.work_dir)
            try:
                self._finalise(attempt, returncode)
            finally:
                with self._lock:
                    self._attempts.pop(job.id, None)
                    self.metrics.active.set(len(self._attempts))
                attempt.done.set()
                self.wake.set()

    def _child_env(self, attempt: Attempt) -> dict[str, str] | None:
        """The child's environment: this worker's, with the git token replaced by the job owner's own.

        A user's job clones with that user's GitHub token (sent only to FONDATION_GIT_TOKEN_HOSTS) and
        never with the operator's FONDATION_GIT_TOKEN: otherwise any user could have courses made of
        the private repositories the operator's token can read. None (inherit unchanged) for an
        operator's job. A token that cannot be read (database down, FONDATION_SECRET_KEY changed) is
        logged, never shown, and the job runs without one: a public repository still clones, a private
        one fails with kind `auth`, which tells the user what to fix.
        """
        owner_id = attempt.lease.job.owner_id
        if owner_id is None:
            return None
        try:
            with self._lock:
                if self._accounts is None:
                    from fondation.accounts import Accounts  # argon2, cryptography: only once a job has an owner

                    self._accounts = Accounts(self.db, self.settings)
                accounts = self._accounts
            token = accounts.github_token(owner_id)
        except (DatabaseError, ConfigError, OSError) as error:
            attempt.log.warning(
                "the owner's GitHub token could not be read: running without it",
                owner_id=owner_id,
                error=mask_secrets(str(error)),
            )
            token = None
        env = {name: value for name, value in os.environ.items() if name not in _GIT_TOKEN_VARIABLES}
        # Set even when empty: an environment variable wins over a FONDATION_ENV_FILE the child might read.
        env["FONDATION_GIT_TOKEN"] = token or ""
        return env

    def _hand_over_checkpoints(self, attempt: Attempt) -> None:
        """Give the child the step outputs it may reuse (this job's earlier attempts', the repository's
        last generation's): the child never reads the database. Without them it only redoes work."""
        try:
            known = self.queue.reusable_checkpoints(attempt.lease.job_id)
        except DatabaseError as error:
            attempt.log.warning("no checkpoints handed over: database unavailable", error=str(error))
            return
        if known:
            write_checkpoints_file(attempt.work_dir, known)

    def _collect_course(self, attempt: Attempt) -> None:
        """Read back the course a successful child wrote into its directory (its result names the file).

        An unreadable course turns the success into a transient error: a job never succeeds without
        the course it claims to have made.
        """
        outcome = attempt.outcome or {}
        result = outcome.get("result")
        if outcome.get("type") != "result" or not isinstance(result, dict) or COURSE_FILE_KEY not in result:
            return
        result = dict(result)
        course_file = Path(str(result.pop(COURSE_FILE_KEY)))
        try:
            attempt.course = load_course_file(course_file, attempt.work_dir)
            attempt.outcome = {**outcome, "result": result}
        except (OSError, ValueError, TypeError, KeyError) as error:
            message = f"the job's course could not be read back: {error}"
            attempt.outcome = {"type": "error", "kind": ErrorKind.TRANSIENT.value, "message": message}

    def _on_message(self, attempt: Attempt, message: dict[str, Any]) -> None:
        if message["type"] in ("result", "error"):
            attempt.outcome = message
            return
        if attempt.kill_reason:
            return
        if message["type"] == "checkpoint":
            self._checkpoint(attempt, message)
            return
        if message["type"] == "usage":
            self.metrics.count_usage(message)
            return
        if message["type"] != "progress":
            return
        try:
            progress = Progress(
                phase=str(message.get("phase") or "running"),
                step=message.get("step"),
                total_steps=message.get("total_steps"),
                message=mask_secrets(str(message["message"])) if message.get("message") else None,
                percent=message.get("percent"),
                details=dict(message.get("details") or {}),
            )
        except (TypeError, ValueError) as error:
            attempt.log.warning("ignored malformed progress from the job", error=str(error))
            return
        try:
            self.queue.progress(attempt.lease, progress, actor=self.id)
        except LeaseLostError:
            self._lose(attempt)
        except DatabaseError as error:
            attempt.log.warning("progress not recorded: database unavailable", error=str(error))

    def _checkpoint(self, attempt: Attempt, message: dict[str, Any]) -> None:
        step, key = message.get("step"), message.get("key")
        if not isinstance(step, str) or not isinstance(key, str) or "data" not in message:
            attempt.log.warning("ignored malformed checkpoint from the job")
            return
        try:
            self.queue.checkpoint(attempt.lease, step, key, message["data"])
        except LeaseLostError:
            self._lose(attempt)
        except DatabaseError as error:
            attempt.log.warning("checkpoint not recorded: database unavailable", step=step, error=str(error))

    def _lose(self, attempt: Attempt) -> None:
        if attempt.kill_reason != KillReason.LEASE_LOST:
            attempt.log.warning("lease lost: another worker owns this job now; stopping it")
            self.metrics.lease_lost.inc()
        attempt.kill(KillReason.LEASE_LOST)

    def _finalise(self, attempt: Attempt, returncode: int | None) -> None:
        """Write the attempt's end once, through any database outage, unless the lease is gone."""
        if attempt.kill_reason == KillReason.LEASE_LOST:
            return
        write, describe = self._final_write(attempt, returncode)
        delay = 0.5
        while True:
            try:
                job = write()
            except LeaseLostError:
                self._lose(attempt)
                return
            except DatabaseError as error:
                if self.stop_now.is_set():
                    attempt.log.warning("giving the job to the reaper: database unavailable at shutdown")
                    return
                attempt.log.warning("could not finalise yet, retrying", error=str(error), retry_in=delay)
                time.sleep(delay)
                delay = min(delay * 2, FINALISE_BACKOFF_CAP_SECONDS)
                continue
            self._count(job, attempt)
            attempt.log.info(
                "job finished",
                outcome=describe,
                status=job.status.value,
                seconds=round(time.monotonic() - attempt.started, 3),
            )
            return

    def _final_write(self, attempt: Attempt, returncode: int | None) -> tuple[Callable[[], Job], str]:
        """The one queue call that ends this attempt, and a word for the log."""
        lease, queue, reason = attempt.lease, self.queue, attempt.kill_reason
        if reason == KillReason.SHUTDOWN:
            return lambda: queue.release(lease, "worker shutting down"), "released"
        if reason == KillReason.CANCEL:
            return lambda: queue.fail(lease, ErrorKind.CANCELED, "canceled by request"), "canceled"
        if reason == KillReason.DEADLINE:
            message = f"attempt ran longer than FONDATION_JOB_TIMEOUT ({self.settings.job_timeout_seconds:g} s)"
            return lambda: queue.fail(lease, ErrorKind.DEADLINE, message), "deadline"
        if reason == KillReason.MEMORY:
            message = (
                f"job used {attempt.peak_rss / MB:.0f} MB, above FONDATION_JOB_MEMORY_MB "
                f"({self.settings.job_memory_mb} MB)"
            )
            return lambda: queue.fail(lease, ErrorKind.RESOURCE, message), "memory"
        outcome = attempt.outcome or {}
        if outcome.get("type") == "result" and returncode == 0:
            result = outcome.get("result") if isinstance(outcome.get("result"), dict) else {}
            return lambda: queue.complete(lease, result, course=attempt.course), "completed"
        if outcome.get("type") == "error":
            kind = _error_kind(outcome.get("kind"))
            message = mask_secrets(str(outcome.get("message") or "the job failed"))
            return lambda: queue.fail(lease, kind, message), f"error ({kind.value})"
        message = f"job process {describe_exit(returncode if returncode is not None else -9)} without a result"
        return lambda: queue.fail(lease, ErrorKind.TRANSIENT, message), "crashed"

    def _count(self, job: Job, attempt: Attempt) -> None:
        self.metrics.duration.observe(time.monotonic() - attempt.started)
        if job.options.get("provider", "offline") != "offline":
            if job.error_kind is ErrorKind.AUTH and job.status is not JobStatus.SUCCEEDED:
                self.state.provider_auth_error = job.error_message or "authentication failed"
            elif job.status is JobStatus.SUCCEEDED:
                self.state.provider_auth_error = None
        if job.status is JobStatus.SUCCEEDED:
            self.metrics.succeeded.inc()
        elif job.status is JobStatus.PENDING:
            self.metrics.released.inc()
        elif job.status is JobStatus.CANCELED:
            self.metrics.canceled.inc()
        else:
            self.metrics.failed.labels(kind=(job.error_kind or ErrorKind.TRANSIENT).value).inc()
            if job.status is JobStatus.DEAD:
                self.metrics.dead.inc()

    # ------------------------------------------------------------------ lease keeper

    def _keep_leases(self) -> None:
        next_cancel_poll = time.monotonic() + self.settings.cancel_poll_seconds
        next_registry_beat = time.monotonic()
        while not (self.stopping.is_set() and not self._attempts):
            now = time.monotonic()
            for attempt in self._running():
                self._guard_attempt(attempt, now)
            if now >= next_cancel_poll:
                next_cancel_poll = now + self.settings.cancel_poll_seconds
                self._poll_cancels()
            if now >= next_registry_beat:
                next_registry_beat = now + self.settings.heartbeat_seconds
                try:
                    self.registry.beat(self.id, active_jobs=len(self._attempts))
                except DatabaseError as error:
                    self._log.warning("worker heartbeat failed", error=str(error))
            time.sleep(KEEPER_TICK_SECONDS)

    def _running(self) -> list[Attempt]:
        with self._lock:
            return [a for a in self._attempts.values() if a.kill_reason is None and a.child is not None]

    def _guard_attempt(self, attempt: Attempt, now: float) -> None:
        assert attempt.child is not None
        if now - attempt.started > self.settings.job_timeout_seconds:
            attempt.log.warning("deadline passed: stopping the job", limit=self.settings.job_timeout_seconds)
            attempt.kill(KillReason.DEADLINE)
            return
        rss = attempt.child.rss_bytes()
        attempt.peak_rss = max(attempt.peak_rss, rss)
        if rss > self.settings.job_memory_mb * MB:
            attempt.log.warning("memory limit exceeded: stopping the job", rss_mb=round(rss / MB))
            attempt.kill(KillReason.MEMORY)
            return
        if now >= attempt.next_heartbeat:
            self._heartbeat(attempt, now)

    def _heartbeat(self, attempt: Attempt, now: float) -> None:
        try:
            reply = self.queue.heartbeat(attempt.lease, lease_seconds=self.settings.lease_seconds)
        except LeaseLostError:
            if attempt.child is not None and attempt.child.popen.returncode is not None:
                return  # the child has exited: its fenced final write (perhaps already done) has the last word
            self._lose(attempt)
            return
        except DatabaseError as error:
            self.metrics.heartbeat_failures.inc()
            attempt.log.warning("heartbeat failed, retrying soon", error=str(error))
            attempt.next_heartbeat = now + min(5.0, self.settings.heartbeat_seconds)
            return
        attempt.next_heartbeat = now + self.settings.heartbeat_seconds
        if reply.cancel_requested:
            self._cancel(attempt.job_id)

    def _poll_cancels(self) -> None:
        running = {a.job_id for a in self._running()}
        if not running:
            return
        try:
            wanted = self.queue.cancel_requested_among(running)
        except DatabaseError:
            return
        for job_id in wanted:
            self._cancel(job_id)

    def _cancel(self, job_id: int) -> None:
        with self._lock:
            attempt = self._attempts.get(job_id)
        if attempt is not None and attempt.kill_reason is None:
            attempt.log.info("cancel requested: stopping the job")
            attempt.kill(KillReason.CANCEL)

    # ------------------------------------------------------------------ shutdown

    def _drain(self) -> None:
        """Give running jobs the grace period, then stop their children and release their leases."""
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds
        if self._attempts:
            self._log.info("draining", jobs=sorted(self._attempts), grace=self.settings.shutdown_grace_seconds)
        while self._attempts and time.monotonic() < deadline and not self.stop_now.is_set():
            self.stop_now.wait(0.2)
        with self._lock:
            remaining = list(self._attempts.values())
        for attempt in remaining:
            attempt.kill(KillReason.SHUTDOWN)
        for attempt in remaining:
            attempt.done.wait(timeout=30)

    # ------------------------------------------------------------------ health

    def health_report(self) -> dict[str, Any]:
        """The /health document: `ok`, `degraded` (working, with a problem) or `unhealthy`."""
        checks: dict[str, dict[str, Any]] = {
            "database": self._check_database(),
            "poll_loop": self._check_poll_loop(),
            "disk": self._check_guard("disk"),
            "memory": self._check_guard("memory"),
            "provider": self._check_provider(),
        }
        if self._listener is not None:
            checks["listener"] = (
                {"status": "ok"}
                if self._listener.connected.is_set()
                else {"status": "degraded", "detail": "LISTEN connection lost: polling until it is back"}
            )
        statuses = {check["status"] for check in checks.values()}
        status = "unhealthy" if "unhealthy" in statuses else "degraded" if "degraded" in statuses else "ok"
        if self.stopping.is_set():
            status = "degraded" if status == "ok" else status
            checks["shutdown"] = {"status": "degraded", "detail": "draining: not claiming new jobs"}
        return {
            "status": status,
            "worker_id": self.id,
            "version": __version__,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "uptime_seconds": round(time.time() - self.state.started_at, 3),
            "active_jobs": len(self._attempts),
            "max_concurrent_jobs": self.concurrency,
            "running": sorted(self._attempts),
            "last_poll_at": _iso(self.state.last_poll_at),
            "last_claim_at": _iso(self.state.last_claim_at),
            "checks": checks,
        }

    def _check_provider(self) -> dict[str, Any]:
        """Degraded after an LLM job failed to authenticate, until an LLM job succeeds again (runbook incident 4)."""
        if self.state.provider_auth_error:
            return {"status": "degraded", "detail": f"provider auth: {self.state.provider_auth_error}"}
        if self.settings.provider == "offline":
            return {"status": "ok", "detail": "default provider: offline generation"}
        return {"status": "ok", "detail": f"default provider: {self.settings.provider}"}

    def _check_database(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            self._db_probe.submit(self.db.ping).result(timeout=HEALTH_DB_TIMEOUT_SECONDS)
        except FutureTimeout:
            return {"status": "unhealthy", "error": f"no answer within {HEALTH_DB_TIMEOUT_SECONDS:g} s"}
        except DatabaseError as error:
            return {"status": "unhealthy", "error": mask_secrets(str(error))}
        latency = round((time.perf_counter() - started) * 1000, 2)
        if self.state.database_error:
            return {"status": "unhealthy", "latency_ms": latency, "error": self.state.database_error}
        return {"status": "ok", "latency_ms": latency, "backend": self.settings.backend}

    def _check_poll_loop(self) -> dict[str, Any]:
        last = self.state.last_poll_at
        limit = 3 * max(self.settings.poll_seconds, 10.0 if self.state.database_error else 0.0)
        if last is None:
            return {"status": "ok", "detail": "starting"}
        age = time.time() - last
        if age > limit and not self.stopping.is_set():
            return {"status": "unhealthy", "detail": f"no loop iteration for {age:.0f} s (limit {limit:g} s)"}
        return {"status": "ok", "seconds_since_last_poll": round(age, 3)}

    def _check_guard(self, which: str) -> dict[str, Any]:
        report = self.state.guard_report
        if report is None:
            return {"status": "ok", "detail": "not checked yet"}
        if which == "disk":
            figures = {"free_mb": round(report.free_disk_mb), "minimum_mb": report.min_free_disk_mb}
            ok, reason = report.disk_ok, report.reasons[0] if not report.disk_ok else None
        else:
            figures = {"worker_rss_mb": round(report.worker_rss_mb), "limit_mb": report.worker_memory_mb}
            ok, reason = report.memory_ok, report.reasons[-1] if not report.memory_ok else None
        return {"status": "ok", **figures} if ok else {"status": "degraded", "detail": reason, **figures}


#: Every variable the child's settings could take a git token from (see `Settings.git_token`).
_GIT_TOKEN_VARIABLES = frozenset({"FONDATION_GIT_TOKEN", "GITHUB_TOKEN"})


def _error_kind(value: Any) -> ErrorKind:
    try:
        return ErrorKind(value)
    except ValueError:
        return ErrorKind.TRANSIENT


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()

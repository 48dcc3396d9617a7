"""`fondation monitor` over a real database: each finding appears exactly when its condition holds.

The snapshot is taken in-process by the real `Monitor` against a real database (both backends), a
real health server and this machine's real disk and memory; the CLI's exit codes, JSON document,
plain piped output and live terminal view are checked through the console script itself.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import typer.core
import typer.main

import fondation.ops.monitor
from cli_harness import Cli
from fondation.cli.app import app
from fondation.config import Settings
from fondation.domain.jobs import ErrorKind, JobStatus
from fondation.ops.findings import Finding, Severity, exit_code_for, sort_findings, worst_severity
from fondation.ops.monitor import Monitor, Snapshot
from fondation.queue import JobQueue, WorkerRegistry
from fondation.store import Database
from fondation.worker.health import HealthServer
from helpers import advance_clock, source
from worker_harness import FONDATION, free_port

LEASE_SECONDS = 3.0


def settings_for(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """The monitor's settings: the test's database, a private TEMP_DIR, no worker on the health port."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "temp_dir": tmp_path / "temp",
        "health_port": free_port(),
        "lease_time_ms": int(LEASE_SECONDS * 1000),
        "heartbeat_interval_ms": 500,
        "min_free_disk_mb": 1,
        "monitor_memory_percent": 100.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def snapshot(database_url: str, tmp_path: Path, **overrides: Any) -> Snapshot:
    with Monitor(settings_for(database_url, tmp_path, **overrides)) as monitor:
        return monitor.snapshot()


def by_code(found: Snapshot) -> dict[str, Finding]:
    return {finding.code: finding for finding in found.findings}


def register(database: Database, worker_id: str = "w1", *, concurrency: int = 1) -> WorkerRegistry:
    registry = WorkerRegistry(database)
    registry.register(worker_id, concurrency=concurrency, stale_after_seconds=LEASE_SECONDS)
    return registry


@contextmanager
def health_server(document: dict[str, Any]) -> Iterator[int]:
    """The worker's real health server on a free port, answering `document`; yields the port."""
    server = HealthServer("127.0.0.1", 0, lambda: document, lambda: b"")
    server.start()
    try:
        yield server.address[1]
    finally:
        server.stop()


def health_document(status: str, **checks: dict[str, Any]) -> dict[str, Any]:
    base = {name: {"status": "ok"} for name in ("database", "poll_loop", "disk", "memory", "provider")}
    return {"status": status, "worker_id": "w1", "checks": {**base, **checks}}


# ---------------------------------------------------------------------------------------------- severities


def test_severity_order_and_exit_codes() -> None:
    p1, p2, p3, p4 = (Finding(severity, severity.value.lower(), "m") for severity in Severity)
    assert exit_code_for([]) == 0 and worst_severity([]) is None
    assert exit_code_for([p4]) == 0
    assert exit_code_for([p4, p3]) == 1
    assert exit_code_for([p2, p4]) == 1
    assert exit_code_for([p3, p1, p4]) == 2
    assert worst_severity([p3, p2, p4]) is Severity.P2
    assert [f.code for f in sort_findings([p4, p2, p1, p3])] == ["p1", "p2", "p3", "p4"]


# ---------------------------------------------------------------------------------------------- the queue


def test_an_idle_system_has_nothing_above_p4(database_url: str, tmp_path: Path) -> None:
    found = snapshot(database_url, tmp_path)
    assert found.database.reachable and found.workers == [] and found.queue is not None
    assert found.queue.depth == dict.fromkeys([s.value for s in JobStatus], 0)
    assert [(f.severity, f.code) for f in found.findings] == [(Severity.P4, "no_local_worker")]
    assert found.provider.ready and found.provider.name == "offline"


def test_waiting_jobs_without_a_live_worker_are_p1(
    queue: JobQueue, database: Database, database_url: str, tmp_path: Path
) -> None:
    assert "no_live_worker" not in by_code(snapshot(database_url, tmp_path))  # nothing waits
    job = queue.enqueue(source(1)).job
    found = snapshot(database_url, tmp_path)
    p1 = by_code(found)["no_live_worker"]
    assert p1.severity is Severity.P1 and "1 job waiting" in p1.message and "fondation worker" in p1.fix
    assert found.queue is not None and found.queue.waiting == 1

    registry = register(database)
    found = snapshot(database_url, tmp_path)
    assert "no_live_worker" not in by_code(found)
    assert found.workers is not None and [(w.id, w.state) for w in found.workers] == [("w1", "up")]

    advance_clock(database, LEASE_SECONDS + 1)  # the worker falls silent for longer than a lease
    found = snapshot(database_url, tmp_path)
    codes = by_code(found)
    assert codes["no_live_worker"].severity is Severity.P1
    assert codes["worker_lost"].severity is Severity.P4 and "w1" in codes["worker_lost"].message
    assert found.workers is not None and found.workers[0].state == "down"

    registry.stop("w1")  # a worker that said goodbye is no loss, but still no live worker
    codes = by_code(snapshot(database_url, tmp_path))
    assert "worker_lost" not in codes and "no_live_worker" in codes

    queue.cancel(job.id)
    assert "no_live_worker" not in by_code(snapshot(database_url, tmp_path))


def test_queue_stuck_is_p1_when_a_live_worker_has_a_free_slot_and_a_backlog_p3_when_all_are_busy(
    queue: JobQueue, database: Database, database_url: str, tmp_path: Path
) -> None:
    registry = register(database, concurrency=2)
    queue.enqueue(source(1))
    codes = by_code(snapshot(database_url, tmp_path, monitor_stuck_after_seconds=30))
    assert "queue_stuck" not in codes and "backlog" not in codes

    advance_clock(database, 60)
    registry.beat("w1", active_jobs=1)  # alive, one slot free, yet the job has waited 60 s
    codes = by_code(snapshot(database_url, tmp_path, monitor_stuck_after_seconds=30))
    assert codes["queue_stuck"].severity is Severity.P1
    assert "1 free slot" in codes["queue_stuck"].message and "backlog" not in codes
    assert "queue_stuck" not in by_code(snapshot(database_url, tmp_path, monitor_stuck_after_seconds=120))

    registry.beat("w1", active_jobs=2)  # every slot busy: slow processing, not a stuck queue
    codes = by_code(snapshot(database_url, tmp_path, monitor_stuck_after_seconds=30))
    assert codes["backlog"].severity is Severity.P3 and "queue_stuck" not in codes


def test_paused_claims_are_p1_while_jobs_wait_and_p4_otherwise(
    queue: JobQueue, database: Database, database_url: str, tmp_path: Path
) -> None:
    register(database)
    queue.pause(actor="cli:ops", reason="incident 7")
    codes = by_code(snapshot(database_url, tmp_path))
    assert codes["claims_paused"].severity is Severity.P4 and "incident 7" in codes["claims_paused"].message

    queue.enqueue(source(1))
    advance_clock(database, 60)
    WorkerRegistry(database).beat("w1", active_jobs=0)
    found = snapshot(database_url, tmp_path, monitor_stuck_after_seconds=30)
    codes = by_code(found)
    assert codes["claims_paused"].severity is Severity.P1 and "cli:ops" in codes["claims_paused"].message
    assert "fondation queue resume" in codes["claims_paused"].fix
    assert "queue_stuck" not in codes  # the pause says why nothing is claimed
    assert found.queue is not None and found.queue.claims_paused is not None

    queue.resume()
    codes = by_code(snapshot(database_url, tmp_path, monitor_stuck_after_seconds=30))
    assert "claims_paused" not in codes and "queue_stuck" in codes


def test_expired_leases_and_slow_attempts_are_p3(
    queue: JobQueue, database: Database, database_url: str, tmp_path: Path
) -> None:
    gone = queue.enqueue(source(1)).job
    queue.claim("w-gone", lease_seconds=5)
    slow = queue.enqueue(source(2)).job
    queue.claim("w-slow", lease_seconds=3600)
    codes = by_code(snapshot(database_url, tmp_path))
    assert "expired_leases" not in codes and "slow_jobs" not in codes

    advance_clock(database, 100)
    found = snapshot(database_url, tmp_path, monitor_slow_after_seconds=50)
    codes = by_code(found)
    assert codes["expired_leases"].severity is Severity.P3
    assert f"{gone.id} (w-gone" in codes["expired_leases"].message
    assert "fondation jobs reclaim-expired" in codes["expired_leases"].fix
    assert codes["slow_jobs"].severity is Severity.P3
    assert found.queue is not None
    assert {ref.id for ref in found.queue.slow_jobs} == {gone.id, slow.id}
    assert [ref.id for ref in found.queue.expired_leases] == [gone.id]
    assert 94 <= found.queue.expired_leases[0].seconds <= 110

    assert "slow_jobs" not in by_code(snapshot(database_url, tmp_path, monitor_slow_after_seconds=500))
    queue.reclaim_expired()
    assert "expired_leases" not in by_code(snapshot(database_url, tmp_path))


def _ended_attempts(queue: JobQueue, outcomes: list[ErrorKind | None]) -> None:
    """One attempt per entry: None succeeds, a kind fails with it."""
    for n, kind in enumerate(outcomes):
        queue.enqueue(source(f"rate{n}"))
        [lease] = queue.claim("w1", lease_seconds=60)
        if kind is None:
            queue.complete(lease)
        else:
            queue.fail(lease, kind, "on purpose")


def test_error_rate_is_p2_above_its_threshold_once_enough_attempts_ended(
    queue: JobQueue, database_url: str, tmp_path: Path
) -> None:
    _ended_attempts(queue, [ErrorKind.RESOURCE, ErrorKind.RESOURCE, ErrorKind.TRANSIENT, None])
    found = snapshot(database_url, tmp_path, monitor_error_rate=0.5, monitor_error_min_attempts=4)
    assert found.queue is not None
    rate = found.queue.error_rate
    assert (rate.ended, rate.failed, rate.rate) == (4, 3, 0.75)
    assert [(f.kind, f.count) for f in found.queue.failures_last_hour] == [("resource", 2), ("transient", 1)]
    p2 = by_code(found)["error_rate"]
    assert p2.severity is Severity.P2
    assert "3 of 4 attempts" in p2.message and "resource 2, transient 1" in p2.message

    for quieter in ({"monitor_error_min_attempts": 5}, {"monitor_error_rate": 0.75}):
        codes = by_code(snapshot(database_url, tmp_path, **quieter))
        assert "error_rate" not in codes
        assert codes["failures"].severity is Severity.P4 and "resource 2" in codes["failures"].message


def test_auth_failures_are_p3(queue: JobQueue, database_url: str, tmp_path: Path) -> None:
    _ended_attempts(queue, [None, ErrorKind.PERMANENT])
    assert "auth_failures" not in by_code(snapshot(database_url, tmp_path))
    _ended_attempts(queue, [ErrorKind.AUTH])
    found = snapshot(database_url, tmp_path)
    auth = by_code(found)["auth_failures"]
    assert auth.severity is Severity.P3 and auth.message.startswith("1 attempt(s) failed to authenticate")
    assert found.queue is not None and found.queue.error_rate.ended == 3


# ---------------------------------------------------------------------------------------------- this machine


def test_disk_below_the_minimum_is_p2_and_temp_dir_usage_is_measured(database_url: str, tmp_path: Path) -> None:
    leftover = tmp_path / "temp" / "job-7-1"
    leftover.mkdir(parents=True)
    (leftover / "clone.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (tmp_path / "temp" / "not-an-attempt").mkdir()

    found = snapshot(database_url, tmp_path)
    assert "disk_low" not in by_code(found)
    assert found.disk.attempt_dirs == 1 and 3.0 <= found.disk.temp_dir_mb < 3.5
    assert found.disk.temp_dir == str(tmp_path / "temp") and 0 < found.disk.free_mb <= found.disk.total_mb

    found = snapshot(database_url, tmp_path, min_free_disk_mb=10**9)
    disk = by_code(found)["disk_low"]
    assert disk.severity is Severity.P2
    assert "FONDATION_MIN_FREE_DISK_MB (1000000000 MB)" in disk.message and "fondation tmp clean" in disk.fix
    assert "disk_low" not in by_code(snapshot(database_url, tmp_path, min_free_disk_mb=0))  # 0 disables


def test_memory_at_its_threshold_is_p2(database_url: str, tmp_path: Path) -> None:
    found = snapshot(database_url, tmp_path, monitor_memory_percent=100.0)
    assert "memory_high" not in by_code(found)
    assert 0 < found.memory.used_percent < 100 and 0 < found.memory.used_mb < found.memory.total_mb
    memory = by_code(snapshot(database_url, tmp_path, monitor_memory_percent=0.01))["memory_high"]
    assert memory.severity is Severity.P2 and "FONDATION_MONITOR_MEMORY_PERCENT (0.01%)" in memory.message


def test_a_provider_that_is_not_ready_is_p3(database_url: str, tmp_path: Path) -> None:
    found = snapshot(database_url, tmp_path, provider="anthropic")
    provider = by_code(found)["provider_not_ready"]
    assert provider.severity is Severity.P3 and "FONDATION_ANTHROPIC_API_KEY" in provider.message
    assert not found.provider.ready

    ready = snapshot(database_url, tmp_path, provider="anthropic", anthropic_api_key="sk-ant-test-123")
    assert ready.provider.ready and "provider_not_ready" not in by_code(ready)
    assert "sk-ant-test-123" not in json.dumps([ready.provider.detail, [f.message for f in ready.findings]])

    missing = snapshot(database_url, tmp_path, provider="claude-cli", claude_command="no-such-claude-command")
    assert "not found" in by_code(missing)["provider_not_ready"].message


# ---------------------------------------------------------------------------------------------- /health


def test_local_health_findings_follow_the_worker_s_own_checks(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    with health_server(health_document("ok")) as port:
        found = snapshot(database_url, tmp_path, health_port=port)
        assert found.health.reachable and found.health.status == "ok" and found.health.http_status == 200
        assert not [f for f in found.findings if f.code.startswith(("worker_", "health_", "no_local"))]

    disk = {"status": "degraded", "detail": "free disk in TEMP_DIR is 3 MB, below FONDATION_MIN_FREE_DISK_MB"}
    provider = {"status": "degraded", "detail": "provider auth: claude: Invalid API key"}
    with health_server(health_document("degraded", disk=disk, provider=provider)) as port:
        codes = by_code(snapshot(database_url, tmp_path, health_port=port))
        assert codes["worker_disk"].severity is Severity.P2 and "3 MB" in codes["worker_disk"].message
        assert codes["worker_provider"].severity is Severity.P3
        assert "worker_unhealthy" not in codes

    database_check = {"status": "unhealthy", "error": "no answer within 2 s"}
    with health_server(health_document("unhealthy", database=database_check)) as port:
        found = snapshot(database_url, tmp_path, health_port=port)
        unhealthy = by_code(found)["worker_unhealthy"]
        assert unhealthy.severity is Severity.P2 and "database: no answer within 2 s" in unhealthy.message
        assert found.health.http_status == 503

    # Nobody answers: information only, unless a worker of this very host is registered up.
    assert by_code(snapshot(database_url, tmp_path))["no_local_worker"].severity is Severity.P4
    register(database)
    codes = by_code(snapshot(database_url, tmp_path))
    assert codes["health_unreachable"].severity is Severity.P3 and "no_local_worker" not in codes


def test_an_unreachable_database_is_p1_and_the_rest_is_still_reported(tmp_path: Path) -> None:
    url = f"postgresql://fondation:secret-pw@127.0.0.1:{free_port()}/nowhere"
    found = snapshot(url, tmp_path)
    assert not found.database.reachable and found.workers is None and found.queue is None
    database = by_code(found)["database_unreachable"]
    assert database.severity is Severity.P1 and "secret-pw" not in database.message + found.database.url
    assert found.disk.free_mb > 0 and found.memory.total_mb > 0 and found.provider.ready
    assert exit_code_for(found.findings) == 2


# ---------------------------------------------------------------------------------------------- the command


@pytest.fixture
def monitor_cli(cli: Cli, tmp_path: Path) -> Callable[..., Any]:
    """`fondation monitor ARGS` with a private TEMP_DIR and a health port nobody listens on."""
    port = str(free_port())

    def run(*args: str, **env: str) -> Any:
        return cli("monitor", *args, FONDATION_TEMP_DIR=str(tmp_path / "temp"), FONDATION_HEALTH_PORT=port, **env)

    return run


def test_exit_codes_follow_the_worst_finding(cli: Cli, monitor_cli: Callable[..., Any]) -> None:
    assert monitor_cli("--once").code == 0
    assert monitor_cli("--once", FONDATION_MIN_FREE_DISK_MB=str(10**9)).code == 1  # P2
    cli("submit", "octo/repo").ok()
    pending = monitor_cli("--once")
    assert pending.code == 2, pending.stdout
    assert pending.stderr == ""
    bad = monitor_cli("--interval", "0")
    assert "--interval" in bad.error(2)
    assert "FONDATION_MONITOR_ERROR_RATE" in monitor_cli("--once", FONDATION_MONITOR_ERROR_RATE="2").error(2)


def test_json_document_is_stable(cli: Cli, monitor_cli: Callable[..., Any]) -> None:
    cli("submit", "octo/repo").ok()
    done = monitor_cli("--json")
    assert done.code == 2 and done.stderr == ""
    document = json.loads(done.stdout)
    assert list(document) == [
        "worst_severity",
        "exit_code",
        "taken_at",
        "hostname",
        "database",
        "workers",
        "queue",
        "disk",
        "memory",
        "provider",
        "health",
        "findings",
    ]
    assert (document["worst_severity"], document["exit_code"]) == ("P1", 2)
    assert document["findings"][0] == {
        "severity": "P1",
        "code": "no_live_worker",
        "message": document["findings"][0]["message"],
        "fix": document["findings"][0]["fix"],
    }
    assert set(document["queue"]) == {
        "depth",
        "waiting",
        "oldest_waiting_seconds",
        "expired_leases",
        "slow_jobs",
        "failures_last_hour",
        "error_rate",
        "claims_paused",
    }
    assert document["queue"]["depth"]["pending"] == 1 and document["queue"]["waiting"] == 1
    assert set(document["queue"]["error_rate"]) == {
        "window_seconds",
        "ended",
        "failed",
        "rate",
    }
    assert set(document["health"]) == {"url", "reachable", "http_status", "status", "worker_id", "checks", "error"}
    assert set(document["disk"]) == {"temp_dir", "free_mb", "total_mb", "minimum_mb", "temp_dir_mb", "attempt_dirs"}


def test_piped_output_is_plain_text_with_one_line_per_finding(cli: Cli, monitor_cli: Callable[..., Any]) -> None:
    cli("submit", "octo/repo").ok()
    done = monitor_cli()  # no --once: piped means one snapshot
    assert done.code == 2 and "\x1b[" not in done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].startswith("fondation monitor ") and lines[0].endswith(
        ": P1 critical: page on-call (respond within 15 min)"
    )
    [page] = [line for line in lines if line.startswith("P1 ")]
    assert re.fullmatch(r"P1 no_live_worker: no live worker while 1 job waiting \(the oldest for \d+ s\)", page)
    assert lines[lines.index(page) + 1].startswith("   try: start a worker: ")
    assert any(line.startswith("queue: pending 1  running 0") for line in lines)
    assert any(line.startswith("local worker health http://127.0.0.1:") for line in lines)


def test_on_a_terminal_the_view_refreshes_until_ctrl_c(tmp_path: Path, db_url: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LC_ALL": "C.UTF-8",
        "TERM": "xterm-256color",
        "COLUMNS": "160",
        "LINES": "60",
        "FONDATION_DATABASE_URL": db_url,
        "FONDATION_TEMP_DIR": str(tmp_path / "temp"),
        "FONDATION_HEALTH_PORT": str(free_port()),
        "FONDATION_ENV_FILE": str(tmp_path / "absent.env"),
    }
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(FONDATION), "monitor", "--interval", "0.5"], stdin=follower, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 30
    while screen.count(b"fondation monitor") < 3 and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            screen += os.read(leader, 65536)
    assert screen.count(b"fondation monitor") >= 3, screen.decode(errors="replace")
    assert b"\x1b[" in screen  # a terminal gets the styled, redrawn view
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    os.close(leader)


def _parse(command: Any, args: list[str]) -> None:
    """Parse `args` as the real CLI would, down to the leaf command, without running anything."""
    context = command.make_context(command.name, args)
    if isinstance(command, typer.core.TyperGroup):
        _, subcommand, rest = command.resolve_command(context, [*context._protected_args, *context.args])
        assert subcommand is not None
        _parse(subcommand, rest)


def test_every_command_a_finding_suggests_exists() -> None:
    source = Path(fondation.ops.monitor.__file__).read_text()
    suggested = sorted(set(re.findall(r"`(fondation [^`]+)`", source)))
    assert len(suggested) >= 10
    root = typer.main.get_command(app)
    for line in suggested:
        _parse(root, ["12" if word == "ID" else word for word in line.split()[1:]])

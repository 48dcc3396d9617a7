"""`fondation monitor`: the on-call view — a live screen on a terminal, one snapshot and an exit code elsewhere."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from fondation.cli.common import JsonOption
from fondation.cli.output import console, format_time, jsonable, new_table, print_json
from fondation.config import load_settings
from fondation.ops.findings import Severity, exit_code_for, worst_severity

if TYPE_CHECKING:
    from fondation.ops.monitor import JobRef, Monitor, Snapshot

SEVERITY_STYLES = {Severity.P1: "bold red", Severity.P2: "red", Severity.P3: "yellow", Severity.P4: "dim"}


def monitor(
    once: Annotated[bool, typer.Option("--once", help="Print one snapshot and exit (the default when piped).")] = False,
    as_json: JsonOption = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.5, max=3600, help="Seconds between refreshes of the live view.")
    ] = 5.0,
) -> None:
    """Workers, queue, failures, disk, memory, provider and the local worker's /health, with findings P1..P4.

    On a terminal the view refreshes until Ctrl-C. With --once, --json or when piped it prints one
    snapshot and exits by the worst finding, for cron and alerting: 0 nothing worse than P4 (all clear,
    or information only); 1 the worst finding is P2 or P3; 2 a P1 (or invalid usage or configuration).
    """
    from fondation.ops.monitor import Monitor  # the database stack loads only when the command runs

    settings = load_settings()
    with Monitor(settings) as watcher:
        if as_json or once or not console.is_terminal:
            snapshot = watcher.snapshot()
            if as_json:
                print_json(snapshot_json(snapshot))
            else:
                console.print(render(snapshot))
            raise typer.Exit(exit_code_for(snapshot.findings))
        _live(watcher, interval)


def _live(watcher: Monitor, interval: float) -> None:
    """Refresh the view every `interval` seconds until Ctrl-C (the normal way to leave it: exit code 0)."""
    try:
        with Live(render(watcher.snapshot()), console=console, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(render(watcher.snapshot()), refresh=True)
    except KeyboardInterrupt:
        return


def snapshot_json(snapshot: Snapshot) -> dict[str, object]:
    """The --json document: the snapshot's fields, with the worst severity and the exit code it implies."""
    worst = worst_severity(snapshot.findings)
    return {
        "worst_severity": worst.value if worst else None,
        "exit_code": exit_code_for(snapshot.findings),
        **jsonable(snapshot),
    }


def render(snapshot: Snapshot) -> RenderableType:
    """The whole view: a verdict line, the findings, then each section the on-call checklist looks at."""
    blank = Text("")
    return Group(
        _headline(snapshot),
        blank,
        _findings(snapshot),
        blank,
        _workers(snapshot),
        _queue(snapshot),
        blank,
        _resources(snapshot),
    )


def _headline(snapshot: Snapshot) -> Text:
    worst = worst_severity(snapshot.findings)
    verdict = (
        Text(f"{worst.value} {worst.response}", style=SEVERITY_STYLES[worst])
        if worst
        else Text("all clear", style="green")
    )
    return Text.assemble(
        ("fondation monitor ", "bold"),
        f"{format_time(snapshot.taken_at)} on {snapshot.hostname} ({snapshot.database.backend}): ",
        verdict,
    )


def _findings(snapshot: Snapshot) -> Text:
    """One line per finding, worst first (`grep '^P1 '` finds the pages), and the command to try under it."""
    if not snapshot.findings:
        return Text("no findings")
    lines = Text()
    for finding in snapshot.findings:
        lines.append(f"{finding.severity.value} {finding.code}", style=SEVERITY_STYLES[finding.severity])
        lines.append(f": {finding.message}\n")
        if finding.fix:
            lines.append(f"   try: {finding.fix}\n", style="dim")
    lines.rstrip()
    return lines


def _workers(snapshot: Snapshot) -> RenderableType:
    if snapshot.workers is None:
        return Text(f"workers: unknown (database not usable: {snapshot.database.error})")
    if not snapshot.workers:
        return Text("workers: none has registered yet")
    table = new_table("WORKER", "STATE", "HOST", "PID", "VERSION", "ACTIVE", "STARTED", "LAST SEEN")
    for worker in snapshot.workers:
        style = {"up": "green", "down": "red"}.get(worker.state, "dim")
        table.add_row(
            worker.id,
            Text(worker.state, style=style),
            worker.hostname,
            str(worker.pid),
            worker.version,
            f"{worker.active_jobs}/{worker.concurrency}",
            format_time(worker.started_at),
            f"{worker.seconds_since_seen:.0f} s ago",
        )
    return table


def _queue(snapshot: Snapshot) -> RenderableType:
    queue = snapshot.queue
    if queue is None:
        return Text("queue: unknown (database not usable)")
    depth = "  ".join(f"{status} {count}" for status, count in queue.depth.items())
    rate = queue.error_rate
    shown_rate = "no attempt ended" if rate.rate is None else f"{rate.failed}/{rate.ended} failed ({rate.rate:.0%})"
    failures = ", ".join(f"{f.kind} {f.count}" for f in queue.failures_last_hour) or "none"
    paused = queue.claims_paused
    lines = [
        f"queue: {depth}",
        f"oldest waiting job: {queue.oldest_waiting_seconds:.0f} s",
        f"running past their lease: {_job_list(queue.expired_leases)}",
        f"running long: {_job_list(queue.slow_jobs)}",
        f"failures, last hour: {failures}",
        f"error rate, last {rate.window_seconds / 60:g} min: {shown_rate}",
        "claims: "
        + ("open" if paused is None else f"PAUSED by {paused.by} at {format_time(paused.at)}: {paused.reason}"),
    ]
    return Text("\n".join(lines))


def _resources(snapshot: Snapshot) -> RenderableType:
    disk, memory, provider, health = snapshot.disk, snapshot.memory, snapshot.provider, snapshot.health
    if health.reachable:
        checks = ", ".join(
            f"{name} {check.get('status')}" for name, check in health.checks.items() if isinstance(check, dict)
        )
        shown_health = f"{health.status} (HTTP {health.http_status}; {checks})"
    else:
        shown_health = f"unreachable ({health.error})"
    lines = [
        f"disk: {disk.free_mb:.0f} MB free of {disk.total_mb:.0f} MB for {disk.temp_dir} "
        f"(minimum {disk.minimum_mb} MB); TEMP_DIR holds {disk.temp_dir_mb:.0f} MB "
        f"in {disk.attempt_dirs} attempt dir(s)",
        f"memory: {memory.used_percent:.0f}% used ({memory.used_mb:.0f} of {memory.total_mb:.0f} MB)",
        f"provider {provider.name}: {'ready' if provider.ready else 'NOT READY'} ({provider.detail})",
        f"local worker health {health.url}: {shown_health}",
    ]
    return Text("\n".join(lines))


def _job_list(refs: list[JobRef]) -> str:
    if not refs:
        return "none"
    return ", ".join(f"job {ref.id} on {ref.worker_id or '?'} ({ref.seconds:.0f} s)" for ref in refs)

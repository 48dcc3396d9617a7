"""`fondation worker` (the long-running worker), `fondation workers list`, `fondation tmp clean`."""

from __future__ import annotations

import faulthandler
import signal
from dataclasses import asdict
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated

import typer
from rich.text import Text

from fondation.cli.common import JsonOption, open_queue
from fondation.cli.output import console, format_time, new_table, print_json, say
from fondation.config import load_settings
from fondation.logs import configure_logging

workers_app = typer.Typer(help="The worker registry.")
tmp_app = typer.Typer(help="The workers' temp directory (TEMP_DIR).")


def worker(
    worker_id: Annotated[str | None, typer.Option("--id", help="Worker id (default: WORKER_ID).")] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=256, help="Jobs at once (default: MAX_CONCURRENT_JOBS).")
    ] = None,
    health_host: Annotated[str | None, typer.Option(help="Health server address (default 127.0.0.1).")] = None,
    health_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Health server port (default 8080; 0 picks one).")
    ] = None,
) -> None:
    """Run a worker until SIGTERM/SIGINT: claim jobs, run each in its own process, serve /health and /metrics.

    The first signal drains (no new claims, running jobs get FONDATION_SHUTDOWN_GRACE seconds, then
    their leases are released); a second signal stops at once.
    """
    from fondation.worker.runtime import Worker  # the database stack loads only when a worker runs

    overrides = {"worker_id": worker_id} if worker_id else {}
    settings = load_settings(**overrides)
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    runtime = Worker(settings, concurrency=concurrency, health_host=health_host, health_port=health_port)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        runtime.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A worker that seems stuck can be asked where each of its threads is: `kill -USR1 PID` writes
    # every thread's stack to stderr (the worker's log), without stopping it.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    raise typer.Exit(runtime.run())


@workers_app.command("list")
def list_workers(as_json: JsonOption = False) -> None:
    """Every registered worker: up or down (by last seen against the lease time), active jobs, version."""
    from fondation.queue import WorkerRegistry

    settings = load_settings()
    with open_queue(settings) as queue:
        found = WorkerRegistry(queue.db).list()
    now = datetime.now(UTC)
    rows = []
    for info in found:
        up = info.is_up(now, settings.lease_seconds)
        rows.append((info, "up" if up else "down", info.seconds_silent(now)))
    if as_json:
        print_json(
            [{**asdict(info), "state": state, "seconds_since_seen": round(silent, 3)} for info, state, silent in rows]
        )
        return
    if not rows:
        say("no worker has registered yet")
        return
    table = new_table("ID", "STATE", "HOST", "PID", "VERSION", "ACTIVE", "STARTED", "LAST SEEN")
    for info, state, _ in rows:
        table.add_row(
            info.id,
            Text(state, style="green" if state == "up" else "red"),
            info.hostname,
            str(info.pid),
            info.version,
            f"{info.active_jobs}/{info.concurrency}",
            format_time(info.started_at),
            format_time(info.last_seen_at),
        )
    console.print(table)


@tmp_app.command("clean")
def clean(
    everything: Annotated[
        bool, typer.Option("--all", help="Remove every attempt directory, running ones too (workers stopped).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove attempt directories left in TEMP_DIR by attempts that no longer run anywhere."""
    from fondation.worker import workdirs

    settings = load_settings()
    with open_queue(settings) as queue:
        # Asked after listing the directory (a callable): a claim made meanwhile is not mistaken for a leftover.
        removed = workdirs.clean_leftovers(settings.temp_dir, queue.running_attempts, everything=everything)
    if as_json:
        print_json({"temp_dir": str(settings.temp_dir), "removed": [str(p) for p in removed]})
        return
    say(f"removed {len(removed)} attempt director{'y' if len(removed) == 1 else 'ies'} from {settings.temp_dir}")

"""`fondation jobs`: list and inspect jobs, and the operator's levers (cancel, retry, reclaim, requeue)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Annotated

import typer
from rich.text import Text
from typer.models import OptionInfo

from fondation.cli.common import JsonOption, cli_actor, open_queue
from fondation.cli.output import (
    console,
    format_time,
    jsonable,
    new_table,
    print_fields,
    print_json,
    say,
    status_text,
)
from fondation.config import load_settings
from fondation.domain.jobs import Job, JobEvent, JobStatus

jobs_app = typer.Typer(help="List, inspect, cancel, retry and requeue jobs.")

#: Job ids are 64-bit integers in the database; a larger number could never name a job.
JobId = Annotated[int, typer.Argument(metavar="ID", min=1, max=2**63 - 1, help="The job's id.", show_default=False)]


def _status_parser(*allowed: JobStatus) -> Callable[[str], JobStatus]:
    """A `--status` parser that refuses any other status by listing the valid ones."""
    names = ", ".join(status.value for status in allowed)

    def parse(value: str) -> JobStatus:
        try:
            status = JobStatus(value.strip().lower())
        except ValueError:
            status = None
        if status is None or status not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of: {names}")
        return status

    return parse


def _status_option(help_text: str, *allowed: JobStatus) -> OptionInfo:
    """The `--status` option, restricted to `allowed`."""
    return typer.Option(parser=_status_parser(*allowed), metavar="|".join(s.value for s in allowed), help=help_text)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[JobStatus | None, _status_option("Only jobs in this status.", *JobStatus)] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many jobs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the most recent jobs, newest first."""
    with open_queue(load_settings()) as queue:
        found = queue.list(status=status, limit=limit)
    if as_json:
        print_json(found)
        return
    if not found:
        say(f"no {status.value} jobs" if status else "no jobs")
        return
    table = new_table(
        "ID", "STATUS", "SOURCE", "REF", "ATTEMPTS", "PROGRESS", "UPDATED", fold={"SOURCE", "REF", "PROGRESS"}
    )
    for job in found:
        table.add_row(
            str(job.id),
            status_text(job.status),
            job.source,
            job.ref or "",
            f"{job.attempts}/{job.max_attempts}",
            _progress(job),
            format_time(job.updated_at),
        )
    console.print(table)


@jobs_app.command("show")
def show(job_id: JobId, as_json: JsonOption = False) -> None:
    """Show one job in full: state, lease, progress, last error, result and the checkpoints kept so far."""
    with open_queue(load_settings()) as queue:
        job = queue.get(job_id)
        kept = Counter(step for step, _, _ in queue.checkpoints(job_id))
    if as_json:
        print_json({**jsonable(job), "checkpoints": dict(kept)})
        return
    status = status_text(job.status)
    if job.cancel_requested and job.status is JobStatus.RUNNING:
        status.append(" (cancel requested)")
    rows: list[tuple[str, str | Text]] = [
        ("id", str(job.id)),
        ("status", status),
        ("source", job.source),
        ("ref", job.ref or "(default branch)"),
        ("priority", str(job.priority)),
        ("attempts", f"{job.attempts}/{job.max_attempts}"),
        ("progress", _progress(job) or "-"),
        ("worker", job.worker_id or "-"),
        ("lease expires", format_time(job.lease_expires_at) or "-"),
        ("run at", format_time(job.run_at)),
        ("created", format_time(job.created_at)),
        ("started", format_time(job.started_at) or "-"),
        ("finished", format_time(job.finished_at) or "-"),
    ]
    if job.error_kind:
        rows.append(("error", f"{job.error_kind.value}: {job.error_message or ''}"))
    if job.options:
        rows.append(("options", str(job.options)))
    if job.result is not None:
        rows.append(("result", str(job.result)))
    if kept:
        rows.append(("checkpoints", ", ".join(f"{step} {count}" for step, count in kept.items())))
    print_fields(rows)


@jobs_app.command("events")
def events(job_id: JobId, as_json: JsonOption = False) -> None:
    """Show a job's history, oldest first: every transition, who made it and why."""
    with open_queue(load_settings()) as queue:
        history = queue.events(job_id)
    if as_json:
        print_json(history)
        return
    table = new_table("TIME", "EVENT", "TRANSITION", "ACTOR", "ATTEMPT", "REASON", fold={"ACTOR", "REASON"})
    for event in history:
        table.add_row(
            format_time(event.created_at),
            event.kind.value,
            _transition(event),
            event.actor,
            str(event.attempt),
            event.reason or "",
        )
    console.print(table)


@jobs_app.command("cancel")
def cancel(job_id: JobId) -> None:
    """Cancel a job: at once if it waits; a running one is stopped by its worker within seconds."""
    with open_queue(load_settings()) as queue:
        job = queue.cancel(job_id, actor=cli_actor())
    if job.status is JobStatus.CANCELED:
        say(f"job {job.id} is canceled")
    else:
        say(f"job {job.id} is running: cancel requested, its worker stops it within seconds")


@jobs_app.command("retry")
def retry(job_id: JobId) -> None:
    """Run a failed, dead or canceled job again now."""
    with open_queue(load_settings()) as queue:
        job = queue.retry(job_id, actor=cli_actor())
    say(f"job {job.id} is pending again ({job.attempts} of {job.max_attempts} attempts used)")


@jobs_app.command("reclaim-expired")
def reclaim_expired(as_json: JsonOption = False) -> None:
    """Take back running jobs whose lease expired (their worker died or hung); workers do this too."""
    with open_queue(load_settings()) as queue:
        taken = queue.reclaim_expired(actor=cli_actor())
    _report_moved(taken, as_json, done="reclaimed", none="no running job has an expired lease")


@jobs_app.command("requeue")
def requeue(
    status: Annotated[
        JobStatus,
        _status_option("Which jobs to put back to pending.", JobStatus.RUNNING, JobStatus.FAILED, JobStatus.DEAD),
    ] = JobStatus.RUNNING,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Take every running job, even one whose worker may still be at work (it may run twice).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Put jobs back to pending now. Running jobs are taken only when their worker is gone, unless --force."""
    settings = load_settings()
    with open_queue(settings) as queue:
        moved = queue.requeue(
            status=status,
            force=force,
            dead_after_seconds=settings.lease_seconds,
            actor=cli_actor(),
        )
    none = f"no {status.value} job to requeue"
    if status is JobStatus.RUNNING and not force:
        none += " (a running job is taken only once its lease expired or its worker is gone; see --force)"
    _report_moved(moved, as_json, done="requeued", none=none)


def _report_moved(moved: list[Job], as_json: bool, *, done: str, none: str) -> None:
    """Say how many jobs an operator command moved, and where each went."""
    if as_json:
        print_json({"count": len(moved), "jobs": moved})
        return
    if not moved:
        say(none)
        return
    parts: list[str | Text] = [f"{done} {len(moved)} job{'s' if len(moved) > 1 else ''}: "]
    for index, job in enumerate(moved):
        parts += [", " if index else "", f"{job.id} → ", status_text(job.status)]
    say(*parts)


def _progress(job: Job) -> str:
    """`phase k/n pct% message`, whatever parts the worker reported."""
    if not job.phase:
        return ""
    parts = [job.phase]
    if job.step is not None:
        parts.append(f"{job.step}/{job.total_steps}" if job.total_steps is not None else str(job.step))
    if job.percent is not None:
        parts.append(f"{job.percent:.0f}%")
    if job.message:
        parts.append(job.message)
    return " ".join(parts)


def _transition(event: JobEvent) -> str:
    if event.from_status is None and event.to_status is None:
        return ""
    before = event.from_status.value if event.from_status else "∅"
    after = event.to_status.value if event.to_status else "∅"
    return f"{before} → {after}"

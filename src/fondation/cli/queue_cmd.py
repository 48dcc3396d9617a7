"""`fondation queue pause|resume|status`: stop and restart claiming on every worker at once.

The switch is a row in the database that every worker's claim statement checks, so it takes effect on
the next claim of every worker sharing the database, with nothing to restart. Running jobs go on.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from fondation.cli.common import JsonOption, cli_actor, open_queue
from fondation.cli.output import format_time, print_json, say, status_text
from fondation.config import load_settings
from fondation.domain.jobs import JobStatus

queue_app = typer.Typer(help="Pause and resume claiming on every worker at once (running jobs go on).")


@queue_app.command("pause")
def pause(
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why: shown by `queue status` and kept in the audit log.")
    ] = "paused by an operator",
) -> None:
    """Stop every worker from claiming jobs; running jobs go on. Lifted by `fondation queue resume`."""
    from fondation.ops.audit import QUEUE_PAUSED, record_operator_action  # the database stack loads only here

    actor = cli_actor()
    with open_queue(load_settings()) as queue:
        queue.pause(actor=actor, reason=reason)
        record_operator_action(queue.db, QUEUE_PAUSED, actor=actor, detail=reason)
        running = queue.counts()[JobStatus.RUNNING]
    say(f"queue paused: no worker claims until `fondation queue resume` ({running} running jobs go on)")


@queue_app.command("resume")
def resume() -> None:
    """Let workers claim jobs again."""
    from fondation.ops.audit import QUEUE_RESUMED, record_operator_action
    from fondation.ops.security import LOCKDOWN_REASON

    actor = cli_actor()
    with open_queue(load_settings()) as queue:
        paused = queue.pause_state()
        was_paused = queue.resume()
        if was_paused:
            record_operator_action(queue.db, QUEUE_RESUMED, actor=actor, detail=None)
    if not was_paused:
        say("the queue was not paused: workers claim as usual")
    elif paused is not None and paused.value.get("reason") == LOCKDOWN_REASON:
        say("queue resumed after a security lockdown: workers claim again (new credentials in place?)")
    else:
        say("queue resumed: workers claim again")


@queue_app.command("status")
def status(as_json: JsonOption = False) -> None:
    """Whether workers may claim (and if not, who paused the queue, when and why), and the jobs by status."""
    with open_queue(load_settings()) as queue:
        paused = queue.pause_state()
        counts = queue.counts()
    if as_json:
        print_json(
            {
                "paused": paused is not None,
                "reason": paused.value.get("reason") if paused else None,
                "paused_by": paused.updated_by if paused else None,
                "paused_at": paused.updated_at if paused else None,
                "counts": {job_status.value: count for job_status, count in counts.items()},
            }
        )
        return
    if paused is None:
        say(Text("claiming", style="green"), ": open (workers claim jobs)")
    else:
        reason = paused.value.get("reason") or "no reason given"
        say(
            Text("claiming", style="bold red"),
            f": PAUSED since {format_time(paused.updated_at)} by {paused.updated_by}: {reason}"
            " (`fondation queue resume` lifts it)",
        )
    parts: list[str | Text] = ["jobs: "]
    for index, (job_status, count) in enumerate(counts.items()):
        parts += [", " if index else "", status_text(job_status), f" {count}"]
    say(*parts)

"""`fondation audit export`: the auth and job event logs, merged in time order, as JSON lines."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Annotated

import typer

from fondation.cli.common import open_queue
from fondation.cli.output import say
from fondation.config import load_settings

audit_app = typer.Typer(help="The audit trail: logins, tokens, operator actions and every job transition.")

SinceOption = Annotated[
    str | None,
    typer.Option("--since", metavar="T", help="From this time: ISO 8601 (2026-12-01T10:00Z) or ago (30m, 2h, 7d)."),
]
UntilOption = Annotated[str | None, typer.Option("--until", metavar="T", help="Up to this time (same forms).")]


def _open_private(path: Path) -> IO[str]:
    """A new file readable by its owner alone: the log names users and their addresses."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_TRUNC
    return os.fdopen(descriptor, "w", encoding="utf-8")


@audit_app.command("export")
def export(
    since: SinceOption = None,
    until: UntilOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Write to FILE (mode 600) instead of stdout.")
    ] = None,
) -> None:
    """Write auth events and job events as JSON lines, oldest first, each with `source` (auth or job) and `time`.

    The logs hold no secret (tokens, passwords and keys are stored apart, hashed or encrypted), so the
    export can be handed to an investigator.
    """
    from fondation.ops.audit import audit_events, parse_window  # the database stack loads only here

    start, end = parse_window(since, until)
    with open_queue(load_settings()) as queue:
        sink = _open_private(out) if out is not None else sys.stdout
        count = 0
        try:
            for event in audit_events(queue.db, since=start, until=end):
                sink.write(json.dumps(event.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
        finally:
            if out is not None:
                sink.close()
    if out is not None:
        say(f"wrote {count} event{'' if count == 1 else 's'} to {out}")

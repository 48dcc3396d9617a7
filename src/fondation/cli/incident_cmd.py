"""`fondation incident report`: the runbook's incident report template, pre-filled from the event logs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fondation.cli.audit_cmd import SinceOption, UntilOption
from fondation.cli.common import JsonOption, open_queue
from fondation.cli.output import jsonable, print_json, say
from fondation.config import load_settings

incident_app = typer.Typer(help="Post-incident: the report template filled in from what the logs recorded.")

_SEVERITIES = ("P1", "P2", "P3", "P4")


def _severity(value: str) -> str:
    severity = value.strip().upper()
    if severity not in _SEVERITIES:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(_SEVERITIES)}")
    return severity


@incident_app.command("report")
def report(
    since: SinceOption = "24h",
    until: UntilOption = None,
    severity: Annotated[
        str | None, typer.Option("--severity", metavar="P1..P4", parser=_severity, help="The incident's severity.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE", help="Write the report to FILE.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Write the incident report (markdown) for a window: duration, jobs affected by outcome, timeline, error
    kinds, the post-incident checklist; what only people know is left marked `_TO WRITE_`."""
    from fondation.ops.audit import parse_window  # the database stack loads only here
    from fondation.ops.incident import gather, render_markdown

    settings = load_settings()
    start, end = parse_window(since or "24h", until or "0s")
    assert start is not None and end is not None
    with open_queue(settings) as queue:
        facts = gather(queue, since=start, until=end, lease_seconds=settings.lease_seconds, severity=severity)
    if as_json:
        print_json({**jsonable(facts), "outcomes": facts.outcome_counts()})
        return
    text = render_markdown(facts)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    say(f"wrote the incident report to {out}: {len(facts.jobs)} jobs affected, {len(facts.timeline)} timeline entries")

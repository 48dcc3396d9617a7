"""`fondation doctor`: every check of `fondation.ops.doctor`, with its status and the fix to try."""

from __future__ import annotations

import typer
from rich.text import Text

from fondation.cli.common import EXIT_FAILED, EXIT_OK, JsonOption
from fondation.cli.output import console, new_table, print_json

_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def doctor(as_json: JsonOption = False) -> None:
    """Check this machine and say, for each problem, what to try.

    Checks: configuration, database reachable and migrated, clock skew with the database, free disk and
    leftovers in TEMP_DIR, git, the LLM provider (its credentials and one tiny real call), the local
    worker's /health.

    Exit codes: 0 no check failed (warnings included); 1 at least one check failed.
    """
    from fondation.ops.doctor import CheckStatus, diagnose  # lazily: the CLI starts without it

    checks = diagnose()
    failed = any(check.status is CheckStatus.FAIL for check in checks)
    if as_json:
        print_json({"ok": not failed, "checks": checks})
    else:
        table = new_table("CHECK", "STATUS", "DETAIL", "FIX", fold=("DETAIL", "FIX"))
        for check in checks:
            table.add_row(check.name, Text(check.status.value, style=_STYLES[check.status]), check.detail, check.fix)
        console.print(table)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)

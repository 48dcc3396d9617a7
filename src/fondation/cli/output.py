"""How the CLI prints: Rich tables and one-line messages for people, plain JSON for programs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Collection, Iterable, Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fondation.domain.jobs import JobStatus

#: The width of output that goes to a pipe or a file, which has no width of its own. Tables size to
#: their content, so a generous width only stops rows from folding at 80 columns before a `grep`.
PIPE_WIDTH = 250


def _new_console() -> Console:
    # No markup: values shown (reasons, error messages, refs) are data, and "[x]" in them is text.
    console = Console(highlight=False, markup=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


console = _new_console()

STATUS_STYLES: Mapping[JobStatus, str] = {
    JobStatus.PENDING: "blue",
    JobStatus.RUNNING: "cyan",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "yellow",
    JobStatus.DEAD: "bold red",
    JobStatus.CANCELED: "dim",
}


def jsonable(value: Any) -> Any:
    """Turn the domain's frozen dataclasses (and what they hold) into plain JSON values.

    Datetimes become ISO 8601 strings and enums their value, so the output is stable to parse.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    """Write `value` as JSON on stdout, unstyled and unwrapped, for programs to read."""
    sys.stdout.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n")


def say(*parts: str | Text) -> None:
    """Print one message line: never wrapped (it may be piped or grepped) and never read as markup."""
    console.print(Text.assemble(*parts), soft_wrap=True)


def status_text(status: JobStatus) -> Text:
    return Text(status.value, style=STATUS_STYLES[status])


def format_time(value: datetime | None) -> str:
    """A database timestamp (always UTC) to the second."""
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%SZ")


def new_table(*columns: str, fold: Collection[str] = ()) -> Table:
    """A table in the one style every listing uses.

    Columns named in `fold` take the width that is left and fold long values (never cut them: a
    truncated URL is a wrong URL); the others are short and stay on one line.
    """
    table = Table(box=box.SIMPLE_HEAD, header_style="bold")
    for column in columns:
        if column in fold:
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, no_wrap=True)
    return table


def print_fields(rows: Iterable[tuple[str, str | Text]]) -> None:
    """Print `label  value` rows, for one record shown in full."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, value)
    console.print(grid)

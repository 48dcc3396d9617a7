"""What every command shares: opening the database and the queue, the actor name, errors and exit codes."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fondation.config import Settings
from fondation.domain.errors import ConfigError, FondationError, InvalidSourceError

if TYPE_CHECKING:
    from fondation.queue import JobQueue
    from fondation.store import Database

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: Errors in what the user typed or configured; everything else means the operation failed.
_USAGE_ERRORS = (ConfigError, InvalidSourceError)

EXIT_CODES_HELP = (
    f"Exit codes: {EXIT_OK} success; {EXIT_FAILED} the operation failed (database unreachable or not "
    f"migrated, unknown job, job in the wrong state); {EXIT_USAGE} invalid usage, configuration or source; "
    f"{EXIT_INTERRUPTED} interrupted."
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]
SourceArgument = Annotated[
    str,
    typer.Argument(
        help="A git URL (https://, http://, ssh://, git@host:path), a GitHub owner/repo, "
        "or a local directory or .tar.gz/.tgz/.zip archive.",
        show_default=False,
    ),
]
RefOption = Annotated[str | None, typer.Option(help="Branch, tag or commit to use (default: the default branch).")]


def exit_code_for(error: FondationError) -> int:
    return EXIT_USAGE if isinstance(error, _USAGE_ERRORS) else EXIT_FAILED


def report_error(message: str, exit_code: int) -> int:
    """Print `error: message` as exactly one line on stderr and return the exit code to use."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return exit_code


def cli_actor() -> str:
    """Who job events record for a CLI action: `cli:<login user name>`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment nor in the password database
        user = f"uid{os.getuid()}"
    return f"cli:{user}"


def _database_options(settings: Settings) -> dict[str, Any]:
    return {
        "sqlite_busy_timeout_ms": settings.sqlite_busy_timeout_ms,
        "sqlite_synchronous": settings.sqlite_synchronous,
    }


@contextmanager
def database_handle(settings: Settings) -> Iterator[Database]:
    """The configured database as it is, schema untouched (for `db status` and `db migrate`)."""
    from fondation.store import Database  # lazily: see `open_queue`

    database = Database(settings.database_url, **_database_options(settings))
    try:
        yield database
    finally:
        database.dispose()


@contextmanager
def open_queue(settings: Settings) -> Iterator[JobQueue]:
    """The job queue on the configured database (migrated first if empty, refused if outdated)."""
    # Imported here: SQLAlchemy is half of the start-up time, and commands that never reach the
    # database (--help, --version, config show, refused input or configuration) should not pay it.
    from fondation.queue import JobQueue, RetryPolicy
    from fondation.store import open_database

    database = open_database(settings.database_url, **_database_options(settings))
    try:
        yield JobQueue(
            database,
            RetryPolicy(settings.retry_base_seconds, settings.retry_cap_seconds, settings.max_attempts),
        )
    finally:
        database.dispose()

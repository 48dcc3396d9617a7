"""`fondation db`: see which schema revision the database has, and bring it to this version's."""

from __future__ import annotations

import typer

from fondation.cli.common import JsonOption, database_handle
from fondation.cli.output import print_fields, print_json, say
from fondation.config import load_settings

db_app = typer.Typer(help="Inspect and migrate the database schema.")

_STATE_HINTS = {
    "empty": "no schema yet: the first command that needs it creates it, or run `fondation db migrate`",
    "current": "up to date",
    "outdated": "older than this Fondation: run `fondation db migrate`",
    "compatible": "migrated by a newer Fondation whose changes this one can run on (a rollback)",
    "too_new": "newer than this Fondation: upgrade Fondation before using this database",
}


@db_app.command("status")
def status(as_json: JsonOption = False) -> None:
    """Show the schema revision of the database next to the one this Fondation needs (never migrates)."""
    from fondation.store.migrations_runner import schema_status  # lazily, like the queue in `common`

    with database_handle(load_settings()) as database:
        found = schema_status(database)
    view = {
        "url": database.display_url,
        "backend": database.dialect.name,
        "current": found.current,
        "head": found.head,
        "state": found.state,
    }
    if as_json:
        print_json(view)
        return
    print_fields(
        [
            ("database", view["url"]),
            ("backend", view["backend"]),
            ("revision", found.current or "none"),
            ("head", found.head),
            ("state", f"{found.state} ({_STATE_HINTS[found.state]})"),
        ]
    )


@db_app.command("migrate")
def migrate_schema() -> None:
    """Upgrade the schema to this Fondation's revision; safe to run many times, and from many hosts."""
    from fondation.store.migrations_runner import migrate, schema_status  # lazily, like the queue in `common`

    with database_handle(load_settings()) as database:
        before = schema_status(database)
        after = migrate(database)
    if before.current == after.current:
        say(f"database {database.display_url} is already at revision {after.current}")
    else:
        say(
            f"database {database.display_url} migrated from {before.current or 'an empty schema'} "
            f"to revision {after.current}"
        )

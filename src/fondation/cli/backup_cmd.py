"""`fondation backup create|list|verify|restore`: the runbook's recovery procedures (see `ops/backups.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from fondation.cli.common import JsonOption
from fondation.cli.output import console, new_table, print_json, say
from fondation.config import Settings, load_settings

backup_app = typer.Typer(help="Back up the database and the configuration; list, verify and restore backups.")

ArchiveArgument = Annotated[
    str,
    typer.Argument(
        metavar="FILE",
        help="A backup archive, or 'latest' for the newest in FONDATION_BACKUP_DIR.",
        show_default=False,
    ),
]
DirOption = Annotated[
    Path | None,
    typer.Option(
        "--out", file_okay=False, help="Directory for the archive (default FONDATION_BACKUP_DIR).", show_default=False
    ),
]


def _archive(value: str, settings: Settings) -> Path:
    """The archive a FILE argument names: a path, or `latest`."""
    from fondation.ops.backups import latest_backup  # the database stack loads only when a command needs it

    if value == "latest":
        return latest_backup(settings.backup_dir)
    path = Path(value).expanduser()
    if not path.is_file():
        raise typer.BadParameter(f"no such file: {value}", param_hint="FILE")
    return path


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@backup_app.command("create")
def create(
    out: DirOption = None,
    with_credentials: Annotated[
        bool,
        typer.Option(
            "--with-credentials",
            help="Add the Claude credentials folder (FONDATION_CLAUDE_CONFIG_DIR): the archive then holds secrets.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Write one timestamped archive (mode 600): the database, the configuration with secrets masked.

    SQLite is copied through its online backup API and PostgreSQL dumped with `pg_dump -Fc`, both while
    workers run. Only the newest FONDATION_BACKUP_KEEP archives of the directory are kept.
    """
    from fondation.ops.backups import create_backup, summary

    made = create_backup(load_settings(), out_dir=out, with_credentials=with_credentials)
    if as_json:
        print_json(
            {
                "path": made.path,
                "size": made.size,
                "manifest": made.manifest,
                "removed": made.removed,
            }
        )
        return
    say(f"backup written: {made.path} ({_size(made.size)})")
    say(f"  {made.manifest.backend}, schema {made.manifest.schema_revision}: {summary(made.manifest.counts)}")
    if made.manifest.with_credentials:
        say("  holds the Claude credentials: keep it where secrets belong")
    for path in made.removed:
        say(f"removed old backup: {path}")


@backup_app.command("list")
def list_command(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", file_okay=False, help="Where to look (default FONDATION_BACKUP_DIR).", show_default=False
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the archives of the backup directory, newest first, from their manifests."""
    from fondation.ops.backups import list_backups

    where = directory or load_settings().backup_dir
    entries = list_backups(where)
    if as_json:
        print_json(
            [
                {
                    "path": entry.path,
                    "size": entry.size,
                    "manifest": entry.manifest,
                    "problem": entry.problem,
                }
                for entry in entries
            ]
        )
        return
    if not entries:
        say(f"no backup in {where}")
        return
    table = new_table("FILE", "CREATED", "BACKEND", "SCHEMA", "JOBS", "COURSES", "USERS", "CREDENTIALS", "SIZE")
    for entry in entries:
        manifest = entry.manifest
        if manifest is None:
            table.add_row(entry.path.name, Text(entry.problem or "", style="red"), "", "", "", "", "", "", "")
            continue
        table.add_row(
            entry.path.name,
            manifest.created_at[:19].replace("T", " ") + "Z",
            manifest.backend,
            manifest.schema_revision,
            str(manifest.counts.get("jobs", 0)),
            str(manifest.counts.get("courses", 0)),
            str(manifest.counts.get("users", 0)),
            "yes" if manifest.with_credentials else "no",
            _size(entry.size),
        )
    console.print(table)


@backup_app.command("verify")
def verify(archive: ArchiveArgument, as_json: JsonOption = False) -> None:
    """Restore an archive into a throwaway place and check it: checksums, integrity, schema revision, row counts.

    SQLite: a temp file and PRAGMA integrity_check. PostgreSQL: a scratch database created next to the
    configured one (the user needs CREATEDB), pg_restore, then dropped. Exit code 1 on any mismatch.
    """
    from fondation.ops.backups import verify_backup

    settings = load_settings()
    verified = verify_backup(settings, _archive(archive, settings))
    if as_json:
        print_json({"path": verified.path, "ok": True, "checks": verified.checks, "manifest": verified.manifest})
        return
    say(f"{verified.path}: ok")
    for check in verified.checks:
        say(f"  {check}")


@backup_app.command("restore")
def restore(
    archive: ArchiveArgument,
    force: Annotated[
        bool, typer.Option("--force", help="Restore even while workers are live (restart them afterwards).")
    ] = False,
    with_credentials: Annotated[
        bool,
        typer.Option("--with-credentials", help="Also replace FONDATION_CLAUDE_CONFIG_DIR's content by the archive's."),
    ] = False,
) -> None:
    """Replace the configured database by an archive's, after verifying it; refused while workers are live.

    SQLite: the file is swapped atomically, the previous one kept as FILE.before-restore. PostgreSQL:
    pg_restore --clean --if-exists in a single transaction.
    """
    from fondation.ops.backups import restore_backup, summary
    from fondation.store.migrations_runner import HEAD, KNOWN_REVISIONS

    settings = load_settings()
    done = restore_backup(settings, _archive(archive, settings), force=force, with_credentials=with_credentials)
    manifest = done.manifest
    say(f"restored {done.path.name} (made {manifest.created_at}) into {done.target}")
    say(f"  schema {manifest.schema_revision}: {summary(manifest.counts)}")
    if done.previous is not None:
        say(f"  the database it replaced is kept as {done.previous}")
    if done.credentials:
        say(f"  {done.credentials} credential file(s) restored into {settings.claude_config_dir}")
    if done.live_workers:
        say(f"  workers were live during the restore ({', '.join(done.live_workers)}): restart them now")
    if manifest.schema_revision in KNOWN_REVISIONS and manifest.schema_revision != HEAD:
        say(f"  the schema is older than this Fondation's ({HEAD}): run `fondation db migrate`")

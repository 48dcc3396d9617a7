"""Bring a database to the schema this code speaks, or refuse it with a clear message.

Checking the revision is one small query and does not import Alembic; Alembic is loaded only when a
migration actually runs. An empty database is migrated on first use; a database behind this code is
refused with the command that upgrades it (so a rolling upgrade never changes the schema under older
workers by surprise). A database ahead of this code is used when its migrations declare that this
code still works against it (`system_state.compatible_from`: migrations are additive, so a rollback to
the previous release keeps running); otherwise it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, inspect, text

from fondation.domain.errors import SchemaOutdatedError, SchemaTooNewError
from fondation.store.database import Database

#: Every revision this code knows, oldest first. A test checks it against the Alembic scripts.
KNOWN_REVISIONS: tuple[str, ...] = ("0001", "0002", "0003")
HEAD = KNOWN_REVISIONS[-1]
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Arbitrary constant key for PostgreSQL's advisory lock that serialises concurrent migrators.
_MIGRATION_LOCK_KEY = 0x466F6E64


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """What `fondation db status` reports."""

    current: str | None
    head: str
    state: str  # "empty", "current", "outdated", "compatible" (ahead, but declared usable) or "too_new"


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _state(current: str | None) -> str:
    if current is None:
        return "empty"
    if current == HEAD:
        return "current"
    return "outdated" if current in KNOWN_REVISIONS else "too_new"


def _compatible_from(conn: Connection) -> str | None:
    """What the database's newest migration declared: the oldest code revision that works against it."""
    if not inspect(conn).has_table("system_state"):
        return None
    value = conn.execute(text("SELECT value FROM system_state WHERE key = 'compatible_from'")).scalar()
    return value.strip('"') if isinstance(value, str) else None


def schema_status(database: Database) -> SchemaStatus:
    def read(conn: Connection) -> SchemaStatus:
        current = current_revision(conn)
        state = _state(current)
        if state == "too_new" and _compatible_from(conn) in KNOWN_REVISIONS:
            state = "compatible"
        return SchemaStatus(current=current, head=HEAD, state=state)

    return database.read(read)


def _refuse(status: SchemaStatus, database: Database) -> None:
    if status.state == "too_new":
        raise SchemaTooNewError(
            f"database {database.display_url} has schema revision {status.current}, newer than this "
            f"Fondation knows (up to {status.head}): upgrade Fondation before using this database"
        )
    if status.state == "outdated":
        raise SchemaOutdatedError(
            f"database {database.display_url} has schema revision {status.current}, this Fondation "
            f"needs {status.head}: run `fondation db migrate`"
        )


def ensure_schema(database: Database) -> SchemaStatus:
    """Migrate an empty database; refuse one that is behind or ahead of this code."""
    status = schema_status(database)
    if status.state == "empty":
        return migrate(database)
    _refuse(status, database)
    return status


def migrate(database: Database) -> SchemaStatus:
    """Upgrade to HEAD under a lock, so that many processes starting at once migrate exactly once."""
    from alembic import command
    from alembic.config import Config

    def upgrade(conn: Connection) -> None:
        if not database.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        # On SQLite the transaction began IMMEDIATE and already holds the write lock.
        current = current_revision(conn)
        if current == HEAD:
            return
        if _state(current) == "too_new":
            if _compatible_from(conn) in KNOWN_REVISIONS:
                return  # ahead of this code but usable: a newer release migrated it, nothing to do here
            _refuse(SchemaStatus(current, HEAD, "too_new"), database)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, HEAD)

    database.write(upgrade)
    return schema_status(database)

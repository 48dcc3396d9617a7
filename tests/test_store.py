"""The store: migrations on first use, refusal of foreign schemas, SQLite settings, error messages."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from fondation.domain.errors import DatabaseError, SchemaOutdatedError, SchemaTooNewError
from fondation.domain.jobs import JobStatus
from fondation.queue import JobQueue
from fondation.store import Database, migrations_runner, open_database
from fondation.store.migrations_runner import HEAD, KNOWN_REVISIONS, MIGRATIONS_DIR, schema_status
from fondation.store.schema import metadata
from helpers import source


def test_known_revisions_match_the_migration_scripts() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    ordered = [rev.revision for rev in script.walk_revisions()][::-1]
    assert tuple(ordered) == KNOWN_REVISIONS and script.get_current_head() == HEAD


def test_first_use_migrates_an_empty_database(empty_database_url: str) -> None:
    assert schema_status(Database(empty_database_url)).state == "empty"
    database = open_database(empty_database_url)
    status = schema_status(database)
    assert (status.current, status.state) == (HEAD, "current")
    assert (
        open_database(empty_database_url).read(lambda conn: conn.execute(text("SELECT count(*) FROM jobs")).scalar())
        == 0
    )


def test_migrations_create_exactly_the_schema_the_code_reads(database: Database) -> None:
    def diff(conn: Connection) -> list[Any]:
        return compare_metadata(MigrationContext.configure(conn), metadata)

    # Alembic cannot compare expression indexes (priority DESC); that one is checked by name below.
    differences = [d for d in database.read(diff) if getattr(d[1], "name", None) != "ix_jobs_ready"]
    assert differences == []
    indexes = database.read(lambda conn: {i["name"] for i in inspect(conn).get_indexes("jobs")})
    assert "ix_jobs_ready" in indexes
    assert database.scalar("SELECT count(*) FROM alembic_version") == 1


def _open(url: str) -> str:
    database = open_database(url)
    status = schema_status(database).state
    database.dispose()
    return status


def test_concurrent_first_use_migrates_once(empty_database_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        assert pool.map(_open, [empty_database_url] * 4) == ["current"] * 4


def _migrated_by_a_newer_release(database: Database, compatible_from: str) -> None:
    """What a future release's migration leaves: its revision, and the oldest code revision it still serves."""
    database.write(lambda conn: conn.execute(text("UPDATE alembic_version SET version_num = '9999'")))
    database.write(
        lambda conn: conn.execute(
            text("UPDATE system_state SET value = :value WHERE key = 'compatible_from'"),
            {"value": f'"{compatible_from}"'},
        )
    )


def test_newer_schema_is_refused(database: Database, database_url: str) -> None:
    _migrated_by_a_newer_release(database, "9998")  # a release that broke compatibility with this one
    with pytest.raises(SchemaTooNewError, match="revision 9999, newer than this Fondation"):
        open_database(database_url)
    with pytest.raises(SchemaTooNewError):
        migrations_runner.migrate(Database(database_url))


def test_a_rollback_runs_on_a_schema_a_newer_release_declared_compatible(database: Database, database_url: str) -> None:
    """Migrations are additive: after an upgrade is rolled back, the older code keeps running."""
    _migrated_by_a_newer_release(database, KNOWN_REVISIONS[-1])
    rolled_back = open_database(database_url)
    try:
        assert schema_status(rolled_back).state == "compatible"
        assert migrations_runner.migrate(rolled_back).current == "9999"  # nothing to do, nothing refused
        queue = JobQueue(rolled_back)
        queue.enqueue(source("o/r"))
        assert len(queue.claim("w1", lease_seconds=30)) == 1
    finally:
        rolled_back.dispose()


def test_older_schema_asks_for_migrate(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations_runner, "KNOWN_REVISIONS", (*KNOWN_REVISIONS, "future"))
    monkeypatch.setattr(migrations_runner, "HEAD", "future")
    with pytest.raises(SchemaOutdatedError, match="run `fondation db migrate`"):
        open_database(database_url)


def test_sqlite_runs_in_wal_with_busy_timeout(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path}/deep/dir/f.db")
    with database.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sqlite_writers_queue_instead_of_failing(tmp_path: Path) -> None:
    """A writer holding the lock makes the next one wait (busy timeout), never `database is locked`."""
    url = f"sqlite:///{tmp_path}/f.db"
    database = open_database(url)
    holding = threading.Event()

    def slow_writer() -> None:
        def work(conn: Connection) -> None:
            holding.set()
            time.sleep(0.5)
            conn.execute(
                text(
                    "INSERT INTO workers (id, hostname, pid, version, status, concurrency, started_at, "
                    "last_seen_at) VALUES ('a', 'h', 1, 'v', 'up', 1, 0, 0)"
                )
            )

        database.write(work)

    thread = threading.Thread(target=slow_writer)
    thread.start()
    holding.wait()
    other = Database(url, sqlite_busy_timeout_ms=5_000)
    other.write(lambda conn: conn.execute(text("UPDATE workers SET status = 'stopped'")))
    thread.join()
    assert database.scalar("SELECT status FROM workers") == "stopped"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///:memory:", "in-memory SQLite database cannot be shared"),
        (
            "postgresql://fondation:s3cret@127.0.0.1:1/none",
            "postgresql://fondation:****@127.0.0.1:1/none is not usable",
        ),
        ("postgresql+nodriver://x@127.0.0.1/none", "no usable driver"),
        ("::not a url::", "cannot parse the database URL"),
    ],
)
def test_unusable_databases_give_one_clear_line(url: str, message: str) -> None:
    with pytest.raises(DatabaseError) as caught:
        open_database(url)
    assert message in str(caught.value)
    assert "s3cret" not in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.backends("postgresql")
def test_connections_dropped_by_the_server_cost_one_write_and_no_read(database: Database) -> None:
    """Pooled connections are not pinged: after the server drops them, a read retries on its own, a
    write fails once with a `DatabaseError` (its caller retries) and the next one connects anew."""
    queue = JobQueue(database)
    queue.enqueue(source(1))
    queue.enqueue(source(2))

    def drop_connections() -> None:
        """What a server restart or an operator's pg_terminate_backend does to the pooled connections."""
        others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        with psycopg.connect(database.url, autocommit=True) as admin:
            admin.execute(f"SELECT pg_terminate_backend(pid) {others}")
            deadline = time.monotonic() + 10
            while admin.execute(f"SELECT count(*) {others}").fetchone() != (0,):
                assert time.monotonic() < deadline, "the terminated backends did not go away"
                time.sleep(0.01)

    drop_connections()
    assert queue.counts()[JobStatus.PENDING] == 2  # a read: retried once on a new connection

    drop_connections()
    with pytest.raises(DatabaseError):
        queue.claim("w1", lease_seconds=60)  # the hot path, on the driver's cursor
    [lease] = queue.claim("w1", lease_seconds=60)

    drop_connections()
    with pytest.raises(DatabaseError):
        queue.complete(lease)
    assert queue.complete(lease).status is JobStatus.SUCCEEDED

    drop_connections()
    with pytest.raises(DatabaseError):
        queue.enqueue(source(3))  # a write through SQLAlchemy Core
    assert queue.enqueue(source(3)).created

"""One handle on the database, whichever it is: engines, transactions, the database clock, the schema.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every write transaction starts
with `BEGIN IMMEDIATE`, so two writers queue on the lock instead of failing later with
`database is locked` when a read transaction tries to upgrade. PostgreSQL is reached through psycopg 3.
Driver errors never escape: they become a `DatabaseError` whose message names the database (password
masked) and says what went wrong.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url

from fondation.config import mask_url_password
from fondation.domain.errors import DatabaseError

T = TypeVar("T")

#: PostgreSQL SQLSTATEs after which the whole transaction can simply run again.
_PG_RETRYABLE_STATES = frozenset({"40001", "40P01"})
_WRITE_RETRIES = 5


@dataclass(frozen=True, slots=True)
class SqlDialect:
    """The few SQL fragments that differ between the two databases.

    `now` is the database's clock: leases are judged by it, never by a worker's wall clock, so
    workers on machines whose clocks disagree still agree on who holds a lease.
    """

    name: str
    now: str

    def now_plus(self, param: str) -> str:
        """SQL for `now + :param seconds` (param is a bound float)."""
        if self.name == "sqlite":
            return f"({self.now} + :{param})"
        return f"({self.now} + :{param} * interval '1 second')"

    def seconds_between(self, earlier: str, later: str) -> str:
        """SQL for the seconds from one timestamp expression to another, as a float."""
        if self.name == "sqlite":
            return f"({later} - {earlier})"
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))::float8"


SQLITE = SqlDialect("sqlite", "((julianday('now') - 2440587.5) * 86400.0)")
POSTGRESQL = SqlDialect("postgresql", "now()")


def normalise_url(url: str) -> str:
    """Map the URL an operator writes to the one SQLAlchemy needs (`postgresql://` → psycopg 3)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """An engine plus the rules for using it: transactions, retries, error translation."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_busy_timeout_ms: int = 30_000,
        sqlite_synchronous: str = "FULL",
        pool_size: int = 5,
    ) -> None:
        self.url = url
        self.display_url = mask_url_password(url)
        try:
            sa_url = make_url(normalise_url(url))
        except exc.ArgumentError:
            raise DatabaseError(f"cannot parse the database URL {self.display_url!r}") from None
        if sa_url.get_backend_name() == "sqlite":
            self.dialect = SQLITE
            self.engine = _sqlite_engine(sa_url.database, sqlite_busy_timeout_ms, sqlite_synchronous)
        else:
            self.dialect = POSTGRESQL
            try:
                self.engine = create_engine(
                    sa_url,
                    pool_size=pool_size,
                    max_overflow=pool_size,
                    pool_pre_ping=True,
                    connect_args={"connect_timeout": 10, "application_name": "fondation"},
                )
            except (exc.ArgumentError, ImportError):  # an unknown or missing driver, e.g. postgresql+foo://
                raise DatabaseError(
                    f"no usable driver for the database URL {self.display_url!r}: use postgresql://USER@HOST/DB"
                ) from None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect is SQLITE

    def dispose(self) -> None:
        """Close every pooled connection (call before forking, and when done)."""
        self.engine.dispose()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A raw connection with driver errors translated; the caller manages transactions."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except exc.DBAPIError as error:
            raise self._translate(error) from error

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one write transaction, retried whole after a deadlock or serialisation failure.

        `work` must therefore be safe to run again: it sees a fresh transaction each time.
        """
        for attempt in range(_WRITE_RETRIES):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except exc.DBAPIError as error:
                if attempt + 1 < _WRITE_RETRIES and self._is_retryable(error):
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))
                    continue
                raise self._translate(error) from error
        raise AssertionError("unreachable")

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a read-only transaction (on SQLite a deferred one, which never blocks writers)."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(fondation_readonly=True)
                with conn.begin():
                    return work(conn)
        except exc.DBAPIError as error:
            raise self._translate(error) from error

    def ping(self) -> None:
        """One round trip to the database; raises `DatabaseError` when it does not answer."""
        self.scalar("SELECT 1")

    def scalar(self, sql: str, **params: Any) -> Any:
        """Read one value with a read-only transaction; a convenience for status queries."""
        return self.read(lambda conn: conn.execute(text(sql), params).scalar())

    def _is_retryable(self, error: exc.DBAPIError) -> bool:
        if self.is_sqlite:
            return "locked" in str(error.orig) or "busy" in str(error.orig)
        return getattr(error.orig, "sqlstate", None) in _PG_RETRYABLE_STATES

    def _translate(self, error: exc.DBAPIError) -> DatabaseError:
        detail = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        if isinstance(error, (exc.OperationalError, exc.InterfaceError)) and not error.connection_invalidated:
            return DatabaseError(f"database {self.display_url} is not usable: {detail}")
        return DatabaseError(f"database error on {self.display_url}: {detail}")


def _sqlite_engine(path: str | None, busy_timeout_ms: int, synchronous: str) -> Engine:
    if not path or path == ":memory:":
        raise DatabaseError("an in-memory SQLite database cannot be shared by workers: give a file path")
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # Pooled connections must not cross a fork: processes that fork call `Database.dispose()` first.
    engine = create_engine(
        f"sqlite:///{Path(path).expanduser()}",
        connect_args={"timeout": busy_timeout_ms / 1000.0, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves: pysqlite's implicit transactions would start them DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        readonly = conn.get_execution_options().get("fondation_readonly", False)
        conn.exec_driver_sql("BEGIN DEFERRED" if readonly else "BEGIN IMMEDIATE")

    return engine


def open_database(url: str, **kwargs: Any) -> Database:
    """Open a database handle and make sure its schema is the one this code speaks (see `migrations`)."""
    from fondation.store.migrations_runner import ensure_schema

    database = Database(url, **kwargs)
    ensure_schema(database)
    return database

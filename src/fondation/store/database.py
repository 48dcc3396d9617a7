"""One handle on the database, whichever it is: engines, transactions, the database clock, the schema.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every write transaction starts
with `BEGIN IMMEDIATE`, so two writers queue on the lock instead of failing later with
`database is locked` when a read transaction tries to upgrade. PostgreSQL is reached through psycopg 3.
Driver errors never escape: they become a `DatabaseError` whose message names the database (password
masked) and says what went wrong.

Pooled connections are not pinged before use: a connection the server has dropped (a restart,
`pg_terminate_backend`) fails its next statement, which invalidates the pool, so the call after it
connects anew. Reads retry once on their own; a failed write is a `DatabaseError` its caller retries
(the worker's loops do).

The queue's hot statements (claim, heartbeat, progress, complete) skip SQLAlchemy's statement layer:
`driver_statement` prepares them once in the driver's own parameter style, and `write_driver` runs
them on the driver's cursor (see there).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.types import TypeDecorator

from fondation.config import mask_url_password
from fondation.domain.errors import DatabaseError

T = TypeVar("T")

#: PostgreSQL SQLSTATEs after which the whole transaction can simply run again.
_PG_RETRYABLE_STATES = frozenset({"40001", "40P01"})
_WRITE_RETRIES = 5
_IDLE_IN_TRANSACTION_MS = 60_000
#: Where `write_driver` keeps its cursor in a pooled connection's `info` (which lives as long as the
#: driver connection): a new psycopg cursor looks its type adapters up again at its first statement,
#: some 30 µs per statement on the hot path.
_CURSOR = "fondation_driver_cursor"


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


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A statement prepared once for the driver's own cursor (`Database.driver_statement`).

    `text` is the statement as written, with `:name` parameters; `sql` is the same in the driver's
    parameter style. Rows come back as dicts keyed by column name, each value converted by the type
    its column is declared with (`store/types.py`: epoch REAL or timestamptz to an aware UTC datetime,
    JSON text to its value), so a row reads as it would through SQLAlchemy Core.
    """

    text: str
    sql: str
    keys: tuple[str, ...] = ()
    converters: tuple[tuple[int, Callable[[Any], Any]], ...] = ()

    def execute(self, cursor: DBAPICursor, params: Mapping[str, Any]) -> None:
        """Run a statement that returns no rows."""
        cursor.execute(self.sql, params)

    def all(self, cursor: DBAPICursor, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run the statement and read every row it returns."""
        cursor.execute(self.sql, params)
        return [self._mapping(row) for row in cursor.fetchall()]

    def first(self, cursor: DBAPICursor, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Run the statement and read its first row (every row is read, so the statement completes)."""
        rows = self.all(cursor, params)
        return rows[0] if rows else None

    def _mapping(self, row: Sequence[Any]) -> dict[str, Any]:
        values = list(row)
        for index, convert in self.converters:
            if values[index] is not None:
                values[index] = convert(values[index])
        return dict(zip(self.keys, values, strict=True))


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
                    connect_args={
                        "connect_timeout": 10,
                        "application_name": "fondation",
                        # A process frozen inside a transaction (SIGSTOP, a debugger) must not keep its
                        # row locks, which would hide its job from every reaper's SKIP LOCKED.
                        "options": f"-c idle_in_transaction_session_timeout={_IDLE_IN_TRANSACTION_MS}",
                    },
                )
            except (exc.ArgumentError, ImportError):  # an unknown or missing driver, e.g. postgresql+foo://
                raise DatabaseError(
                    f"no usable driver for the database URL {self.display_url!r}: use postgresql://USER@HOST/DB"
                ) from None
        #: The driver's base exception class (PEP 249 `Error`), for `write_driver`.
        self._driver_error: type[Any] = self.engine.dialect.loaded_dbapi.Error

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

        def transaction() -> T:
            with self.engine.begin() as conn:
                return work(conn)

        return self._retrying(transaction)

    def write_driver(self, work: Callable[[DBAPICursor], T]) -> T:
        """Run `work` on the driver's own cursor as one write transaction: the hot path's lean way.

        `work` runs `DriverStatement`s: no SQLAlchemy statement layer (whose cache lookup, execution
        context and result objects cost tens of µs of Python per statement), only its pool. On SQLite
        `work` runs between `BEGIN IMMEDIATE` and `COMMIT` (a rollback if it raises) and may run any
        number of statements. On PostgreSQL the connection is in autocommit mode for the call, so
        `work` must run exactly one statement, which is its own transaction, atomic and durable at its
        commit like any other: one round trip, where an explicit transaction adds a BEGIN and a COMMIT
        round trip. Retried and translated like `write`, so `work` must be safe to run again.
        """
        return self._retrying(lambda: self._driver_transaction(work))

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a read-only transaction (on SQLite a deferred one, which never blocks writers).

        A read that finds its pooled connection dropped by the server runs once more on a new one.
        """
        for attempt in range(2):
            try:
                with self.engine.connect() as conn:
                    conn = conn.execution_options(fondation_readonly=True)
                    with conn.begin():
                        return work(conn)
            except exc.DBAPIError as error:
                if attempt == 0 and error.connection_invalidated:
                    continue
                raise self._translate(error) from error
        raise AssertionError("unreachable")

    def driver_statement(self, sql: str, columns: Sequence[ColumnElement[Any]] = ()) -> DriverStatement:
        """Prepare `sql` (parameters written `:name`) for `write_driver`; `columns` type its result columns."""
        # pysqlite takes `:name` parameters as they are written; psycopg wants `%(name)s` (and `%%`).
        driver_sql = sql if self.is_sqlite else text(sql).compile(dialect=self.engine.dialect).string
        dialect = self.engine.dialect
        converters = tuple(
            (index, partial(column.type.process_result_value, dialect=dialect))
            for index, column in enumerate(columns)
            if isinstance(column.type, TypeDecorator)
        )
        keys = tuple(str(column.key) for column in columns)
        return DriverStatement(sql, driver_sql, keys, converters)

    def ping(self) -> None:
        """One round trip to the database; raises `DatabaseError` when it does not answer."""
        self.scalar("SELECT 1")

    def scalar(self, sql: str, **params: Any) -> Any:
        """Read one value with a read-only transaction; a convenience for status queries."""
        return self.read(lambda conn: conn.execute(text(sql), params).scalar())

    def _retrying(self, transaction: Callable[[], T]) -> T:
        """Run `transaction`, again after a deadlock, serialisation failure or busy SQLite file."""
        for attempt in range(_WRITE_RETRIES):
            try:
                return transaction()
            except exc.DBAPIError as error:
                if attempt + 1 < _WRITE_RETRIES and self._is_retryable(error):
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))
                    continue
                raise self._translate(error) from error
        raise AssertionError("unreachable")

    def _driver_transaction(self, work: Callable[[DBAPICursor], T]) -> T:
        """One attempt of `write_driver`; a driver error leaves it wrapped as SQLAlchemy would wrap it."""
        connection: PoolProxiedConnection | None = None
        try:
            connection = self.engine.raw_connection()
            return self._run_driver_work(connection, work)
        except self._driver_error as error:
            gone = connection is not None and self.engine.dialect.is_disconnect(
                error, connection.dbapi_connection, None
            )
            if connection is not None and gone:
                # The server dropped this connection, and most likely every idle one beside it (a
                # restart, pg_terminate_backend): drop it and close the pool's, so the next call
                # connects anew. This is what pool_pre_ping did at checkout, one round trip per call.
                connection.invalidate(error)
                self.engine.dispose()
            wrapped = exc.DBAPIError.instance(
                None, None, error, self._driver_error, connection_invalidated=gone, dialect=self.engine.dialect
            )
            assert isinstance(wrapped, exc.DBAPIError)
            raise wrapped from error
        finally:
            if connection is not None:
                connection.close()  # back to the pool (an invalidated connection is discarded)

    def _run_driver_work(self, connection: PoolProxiedConnection, work: Callable[[DBAPICursor], T]) -> T:
        driver: Any = connection.driver_connection  # sqlite3.Connection or psycopg.Connection
        cursor = connection.info.get(_CURSOR)
        if cursor is None:
            cursor = connection.info[_CURSOR] = connection.cursor()
        if self.is_sqlite:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                result = work(cursor)
            except BaseException:
                if driver.in_transaction:
                    driver.rollback()
                raise
            driver.commit()
            return result
        driver.autocommit = True
        try:
            return work(cursor)
        finally:
            if not driver.closed:
                driver.autocommit = False  # the pool's other users expect SQLAlchemy's transactions

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

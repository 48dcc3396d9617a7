"""The queue's statements, written once per dialect where the databases differ.

The hot path (claim, heartbeat, progress, complete, release) is hand-written SQL run on the driver's
cursor (`Database.write_driver`): on PostgreSQL each is one statement, hence one round trip; on SQLite
a fenced UPDATE … RETURNING plus the event's INSERT … SELECT in one BEGIN IMMEDIATE transaction.
Everything else is SQLAlchemy Core. `{now}` in a statement is the database's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Select,
    TextClause,
    bindparam,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.engine.interfaces import DBAPICursor

from fondation.store.database import SQLITE, Database, DriverStatement, SqlDialect
from fondation.store.schema import READY_PREDICATE, jobs, repositories

#: A job row as every reader sees it: the jobs columns plus the repository's source.
JOB_SELECT = select(jobs, repositories.c.source).join(repositories, repositories.c.id == jobs.c.repository_id)
_JOB_COLUMNS: list[Column[Any]] = [*jobs.c, repositories.c.source]
_FENCE = "id = :id AND lease_token = :token AND status = 'running'"
_EVENT_COLUMNS = "job_id, created_at, kind, from_status, to_status, actor, reason, attempt, lease_token, data"
#: The actor a holder's write is logged as: the worker the job is leased to.
_HOLDER = "COALESCE(NULLIF(worker_id, ''), 'unknown')"
_READY_ORDER = "priority DESC, run_at, id"
_RESET_PROGRESS = "phase = NULL, step = NULL, total_steps = NULL, message = NULL, percent = NULL"
#: No worker claims while an operator has paused the queue (a `system_state` row, one primary-key probe).
_NOT_PAUSED = "NOT EXISTS (SELECT 1 FROM system_state WHERE key = 'claims_paused')"
#: PostgreSQL channel notified (on commit) when a job is enqueued; workers may LISTEN instead of polling.
NOTIFY_CHANNEL = "fondation_jobs"
#: PostgreSQL channel notified with a job id when a running job's cancel is requested.
CANCEL_CHANNEL = "fondation_cancel"


def _row_sql(columns: Sequence[Column[Any]], rows: str) -> str:
    """The select list of `columns` from the jobs rows called `rows`; the repository's source by subquery."""
    return ", ".join(
        f"(SELECT source FROM repositories WHERE repositories.id = {rows}.repository_id) AS source"
        if column is repositories.c.source
        else column.name
        for column in columns
    )


def _log_event(
    now: str,
    rows: str,
    *,
    kind: str,
    from_status: str = "NULL",
    to_status: str = "NULL",
    actor: str = _HOLDER,
    reason: str = "NULL",
    data: str = "NULL",
) -> str:
    """An INSERT of one job_event per jobs row in `rows`, with that row's attempt and lease token.

    The other arguments are SQL expressions (a quoted literal, a `:param`, a column of `rows`).
    """
    return (
        f"INSERT INTO job_events ({_EVENT_COLUMNS}) SELECT id, {now}, '{kind}', {from_status}, {to_status}, "
        f"{actor}, {reason}, attempts, lease_token, {data} FROM {rows}"
    )


@dataclass(frozen=True)
class HolderWrite:
    """A fenced write by the job's holder and the job_event that logs it, for `Database.write_driver`.

    PostgreSQL: one statement, a CTE (the fenced UPDATE … RETURNING, the event's INSERT … SELECT from
    its rows, a final SELECT of the columns wanted). SQLite: the fenced UPDATE … RETURNING, then, if
    it matched, the event's INSERT … SELECT from the updated row. A write that matches no row returns
    None and has changed nothing.
    """

    write: DriverStatement
    log: DriverStatement | None = None  # SQLite: the event, once the UPDATE has matched

    def run(self, cursor: DBAPICursor, params: dict[str, Any]) -> dict[str, Any] | None:
        row = self.write.first(cursor, params)
        if row is not None and self.log is not None:
            self.log.execute(cursor, params)
        return row

    @classmethod
    def build(
        cls,
        db: Database,
        assignments: str,
        returning: Sequence[Column[Any]],
        log: Callable[[str], str] | None = None,
    ) -> HolderWrite:
        """`UPDATE jobs SET assignments` under the fence (and `updated_at`), logged by `log(rows)` if given."""
        update = f"UPDATE jobs SET {assignments}, updated_at = {db.dialect.now} WHERE {_FENCE}"
        if log is None or db.is_sqlite:
            write = db.driver_statement(f"{update} RETURNING {_row_sql(returning, 'jobs')}", returning)
            return cls(write, db.driver_statement(log("jobs WHERE id = :id")) if log else None)
        sql = (
            f"WITH changed AS ({update} RETURNING *), logged AS ({log('changed')}) "
            f"SELECT {_row_sql(returning, 'changed')} FROM changed"
        )
        return cls(db.driver_statement(sql, returning))


@dataclass(frozen=True)
class PgClaim:
    """The claim on PostgreSQL: one statement, returning the claimed job rows in claim order.

    A CTE: the ready rows `FOR UPDATE SKIP LOCKED`, their UPDATE, the `claimed` events' INSERT.
    """

    statement: DriverStatement

    def run(self, cursor: DBAPICursor, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.statement.all(cursor, params)


@dataclass(frozen=True)
class SqliteClaim:
    """The claim on SQLite: the ready jobs in claim order, then each one's UPDATE … RETURNING and event.

    The transaction began IMMEDIATE (`Database.write_driver`), so no other writer can take a job
    between the SELECT and the UPDATE.
    """

    ready: DriverStatement
    update: DriverStatement
    log: DriverStatement

    def run(self, cursor: DBAPICursor, params: dict[str, Any]) -> list[dict[str, Any]]:
        claimed = []
        for ready in self.ready.all(cursor, params):
            one = {**params, "id": ready["id"], "from_status": ready["status"]}
            row = self.update.first(cursor, one)
            assert row is not None, "the write lock is held: a ready job cannot have gone"
            self.log.execute(cursor, one)
            claimed.append(row)
        return claimed


@dataclass(frozen=True)
class QueueStatements:
    """Every statement the queue runs, prepared for one database (the hot path's for its driver)."""

    dialect: SqlDialect
    upsert_repository: TextClause
    dedupe_lock: TextClause | None
    active_by_dedupe: TextClause
    insert_job: TextClause
    notify: TextClause | None
    notify_cancel: TextClause | None
    cancel_requested_among: TextClause
    oldest_ready_age: TextClause
    running_attempts: TextClause
    claim: PgClaim | SqliteClaim
    claim_one: TextClause
    heartbeat: HolderWrite
    progress: HolderWrite
    complete: HolderWrite
    lock_held: TextClause
    finish_attempt: TextClause
    release: HolderWrite
    request_cancel: TextClause
    cancel_waiting: TextClause
    to_pending: TextClause
    back_to_pending: TextClause
    expired_running: Select[Any]
    requeue_candidates_running: Select[Any]
    requeue_candidates: Select[Any]
    counts: TextClause

    @classmethod
    def for_database(cls, db: Database) -> QueueStatements:
        dialect = db.dialect
        now = dialect.now
        sqlite = dialect is SQLITE
        for_update = "" if sqlite else " FOR UPDATE"
        now_col = literal_column(now)

        def locked(query: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
            return query if sqlite else query.with_for_update(of=jobs, skip_locked=skip_locked)

        # A worker is known dead once it said it stopped, or has been silent for `dead_after` seconds.
        worker_gone = text(
            "EXISTS (SELECT 1 FROM workers WHERE workers.id = jobs.worker_id AND (workers.status = 'stopped' "
            f"OR workers.last_seen_at < {dialect.now_plus('neg_dead_after')}))"
        )
        return cls(
            dialect=dialect,
            upsert_repository=text(
                "INSERT INTO repositories (source, kind, name, web_url, created_at, updated_at) "
                f"VALUES (:source, :kind, :name, :web_url, {now}, {now}) "
                "ON CONFLICT (source) DO UPDATE SET updated_at = excluded.updated_at, "
                "web_url = COALESCE(excluded.web_url, repositories.web_url) RETURNING id"
            ),
            dedupe_lock=None if sqlite else text("SELECT pg_advisory_xact_lock(:key)"),
            active_by_dedupe=text(
                "SELECT id FROM jobs WHERE dedupe_key = :key "
                "AND status IN ('pending', 'running', 'failed') ORDER BY id LIMIT 1"
            ),
            insert_job=text(
                "INSERT INTO jobs (repository_id, ref, options, dedupe_key, status, priority, run_at, "
                "attempts, max_attempts, lease_token, cancel_requested, created_at, updated_at, owner_id) "
                f"VALUES (:repository_id, :ref, :options, :key, 'pending', :priority, {now}, 0, "
                f":max_attempts, 0, FALSE, {now}, {now}, :owner_id) RETURNING id"
            ),
            notify=None if sqlite else text(f"NOTIFY {NOTIFY_CHANNEL}"),
            notify_cancel=None if sqlite else text(f"SELECT pg_notify('{CANCEL_CHANNEL}', CAST(:id AS text))"),
            cancel_requested_among=text(
                "SELECT id FROM jobs WHERE id IN :ids AND status = 'running' AND cancel_requested"
            ).bindparams(bindparam("ids", expanding=True)),
            oldest_ready_age=text(
                f"SELECT {dialect.seconds_between('min(run_at)', now)} FROM jobs "
                f"WHERE {READY_PREDICATE} AND run_at <= {now}"
            ),
            running_attempts=text("SELECT id, attempts FROM jobs WHERE status = 'running'"),
            claim=_sqlite_claim(db) if sqlite else _pg_claim(db),
            claim_one=text(
                "UPDATE jobs SET "
                + _CLAIM_SET.format(lease_until=dialect.now_plus("lease"), now=now)
                + " WHERE id = :id AND status = 'pending'"
            ),
            heartbeat=HolderWrite.build(
                db,
                f"lease_expires_at = {dialect.now_plus('lease')}",
                [jobs.c.lease_expires_at, jobs.c.cancel_requested],
            ),
            progress=HolderWrite.build(
                db,
                "phase = :phase, step = :step, total_steps = :total_steps, message = :message, percent = :percent",
                [jobs.c.id],
                lambda rows: _log_event(
                    now, rows, kind="progress", actor=f"COALESCE(:actor, {_HOLDER})", reason=":message", data=":data"
                ),
            ),
            complete=HolderWrite.build(
                db,
                "status = 'succeeded', result = :result, percent = 100, error_kind = NULL, error_message = NULL, "
                f"lease_expires_at = NULL, finished_at = {now}",
                _JOB_COLUMNS,
                lambda rows: _log_event(now, rows, kind="succeeded", from_status="'running'", to_status="'succeeded'"),
            ),
            lock_held=text(
                f"SELECT attempts, max_attempts, cancel_requested, worker_id FROM jobs WHERE {_FENCE}{for_update}"
            ),
            finish_attempt=text(
                "UPDATE jobs SET status = :status, error_kind = :kind, error_message = :message, "
                f"run_at = {dialect.now_plus('delay')}, lease_expires_at = NULL, updated_at = {now}, "
                f"finished_at = CASE WHEN :finished THEN {now} ELSE NULL END WHERE id = :id"
            ),
            release=HolderWrite.build(
                db,
                f"status = 'pending', attempts = attempts - 1, run_at = {now}, lease_expires_at = NULL, "
                + _RESET_PROGRESS,
                _JOB_COLUMNS,
                lambda rows: _log_event(
                    now, rows, kind="released", from_status="'running'", to_status="'pending'", reason=":reason"
                ),
            ),
            request_cancel=text(f"UPDATE jobs SET cancel_requested = TRUE, updated_at = {now} WHERE id = :id"),
            cancel_waiting=text(
                "UPDATE jobs SET status = 'canceled', cancel_requested = TRUE, error_kind = 'canceled', "
                f"error_message = NULL, finished_at = {now}, updated_at = {now} WHERE id = :id"
            ),
            to_pending=text(
                f"UPDATE jobs SET status = 'pending', run_at = {dialect.now_plus('delay')}, "
                "lease_expires_at = NULL, error_kind = :kind, error_message = :message, "
                f"updated_at = {now} WHERE id = :id"
            ),
            back_to_pending=text(
                f"UPDATE jobs SET status = 'pending', run_at = {now}, max_attempts = :max_attempts, "
                "cancel_requested = FALSE, lease_expires_at = NULL, finished_at = NULL, "
                f"updated_at = {now}, {_RESET_PROGRESS} WHERE id = :id"
            ),
            expired_running=locked(
                JOB_SELECT.where(jobs.c.status == "running", jobs.c.lease_expires_at < now_col)
                .order_by(jobs.c.lease_expires_at)
                .limit(bindparam("limit")),
                skip_locked=True,
            ),
            requeue_candidates_running=locked(
                JOB_SELECT.where(
                    jobs.c.status == "running",
                    or_(bindparam("force"), jobs.c.lease_expires_at < now_col, worker_gone),
                ).order_by(jobs.c.id)
            ),
            requeue_candidates=locked(JOB_SELECT.where(jobs.c.status == bindparam("status")).order_by(jobs.c.id)),
            counts=text("SELECT status, count(*) FROM jobs GROUP BY status"),
        )


_CLAIM_SET = (
    "status = 'running', attempts = jobs.attempts + 1, lease_token = jobs.lease_token + 1, "
    "lease_expires_at = {lease_until}, worker_id = :worker, started_at = {now}, updated_at = {now}, " + _RESET_PROGRESS
)


def _pg_claim(db: Database) -> PgClaim:
    now = db.dialect.now
    log = _log_event(now, "claimed", kind="claimed", from_status="from_status", to_status="'running'", actor=":worker")
    sql = f"""
        WITH ready AS (
            SELECT id, status AS from_status FROM jobs
            WHERE {READY_PREDICATE} AND run_at <= {now} AND {_NOT_PAUSED}
            ORDER BY {_READY_ORDER}
            LIMIT :limit
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE jobs SET {_CLAIM_SET.format(lease_until=db.dialect.now_plus("lease"), now=now)}
            FROM ready WHERE jobs.id = ready.id
            RETURNING jobs.*, ready.from_status
        ), logged AS (
            {log}
        )
        SELECT {_row_sql(_JOB_COLUMNS, "claimed")} FROM claimed
        ORDER BY priority DESC, run_at, id
    """
    return PgClaim(db.driver_statement(sql, _JOB_COLUMNS))


def _sqlite_claim(db: Database) -> SqliteClaim:
    now = db.dialect.now
    # Without statistics SQLite's planner prefers ix_jobs_status_updated and sorts every ready row for
    # each claim (cost linear in the backlog); INDEXED BY makes it walk ix_jobs_ready.
    ready = (
        f"SELECT id, status FROM jobs INDEXED BY ix_jobs_ready WHERE {READY_PREDICATE} AND run_at <= {now} "
        f"AND {_NOT_PAUSED} ORDER BY {_READY_ORDER} LIMIT :limit"
    )
    update = (
        f"UPDATE jobs SET {_CLAIM_SET.format(lease_until=db.dialect.now_plus('lease'), now=now)} WHERE id = :id "
        f"RETURNING {_row_sql(_JOB_COLUMNS, 'jobs')}"
    )
    log = _log_event(
        now, "jobs WHERE id = :id", kind="claimed", from_status=":from_status", to_status="'running'", actor=":worker"
    )
    return SqliteClaim(
        db.driver_statement(ready, [jobs.c.id, jobs.c.status]),
        db.driver_statement(update, _JOB_COLUMNS),
        db.driver_statement(log),
    )

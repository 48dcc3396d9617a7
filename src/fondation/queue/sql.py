"""The queue's statements, written once per dialect where the databases differ.

The hot path (claim, heartbeat, progress, complete) is hand-written SQL so that each is one round
trip; everything else is SQLAlchemy Core. `{now}` in a statement is the database's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    Select,
    TextClause,
    bindparam,
    literal_column,
    or_,
    select,
    text,
)

from fondation.store.database import SQLITE, SqlDialect
from fondation.store.schema import READY_PREDICATE, jobs, repositories

#: A job row as every reader sees it: the jobs columns plus the repository's source.
JOB_SELECT = select(jobs, repositories.c.source).join(repositories, repositories.c.id == jobs.c.repository_id)
_JOB_COLUMNS = [*jobs.c, repositories.c.source]
_FENCE = "id = :id AND lease_token = :token AND status = 'running'"
_READY_ORDER = "priority DESC, run_at, id"
_RESET_PROGRESS = "phase = NULL, step = NULL, total_steps = NULL, message = NULL, percent = NULL"
#: PostgreSQL channel notified (on commit) when a job is enqueued; workers may LISTEN instead of polling.
NOTIFY_CHANNEL = "fondation_jobs"
#: PostgreSQL channel notified with a job id when a running job's cancel is requested.
CANCEL_CHANNEL = "fondation_cancel"


def _typed(sql: str, *columns: Any) -> TextClause:
    """A text statement whose result columns get the same type processing as Core queries."""
    return text(sql).columns(*columns)


@dataclass(frozen=True)
class QueueStatements:
    """Every statement the queue runs, prepared for one dialect."""

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
    ready_select: TextClause
    heartbeat: TextClause
    progress: TextClause
    complete: TextClause
    lock_held: TextClause
    finish_attempt: TextClause
    release: TextClause
    request_cancel: TextClause
    cancel_waiting: TextClause
    to_pending: TextClause
    back_to_pending: TextClause
    expired_running: Select[Any]
    requeue_candidates_running: Select[Any]
    requeue_candidates: Select[Any]
    counts: TextClause
    claim_pg: TextClause
    claim_update_sqlite: TextClause
    claim_events_sqlite: TextClause
    claimed_rows_sqlite: Select[Any]

    @classmethod
    def for_dialect(cls, dialect: SqlDialect) -> QueueStatements:
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
                "attempts, max_attempts, lease_token, cancel_requested, created_at, updated_at) "
                f"VALUES (:repository_id, :ref, :options, :key, 'pending', :priority, {now}, 0, "
                f":max_attempts, 0, FALSE, {now}, {now}) RETURNING id"
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
            # Without statistics SQLite's planner prefers ix_jobs_status_updated and sorts every ready
            # row for each claim (cost linear in the backlog); INDEXED BY makes it walk ix_jobs_ready.
            ready_select=text(
                f"SELECT id, status FROM jobs{' INDEXED BY ix_jobs_ready' if sqlite else ''} "
                f"WHERE {READY_PREDICATE} AND run_at <= {now} "
                f"ORDER BY {_READY_ORDER} LIMIT :limit{'' if sqlite else ' FOR UPDATE SKIP LOCKED'}"
            ),
            heartbeat=_typed(
                f"UPDATE jobs SET lease_expires_at = {dialect.now_plus('lease')}, updated_at = {now} "
                f"WHERE {_FENCE} RETURNING lease_expires_at, cancel_requested",
                jobs.c.lease_expires_at,
                jobs.c.cancel_requested,
            ),
            progress=text(
                "UPDATE jobs SET phase = :phase, step = :step, total_steps = :total_steps, "
                f"message = :message, percent = :percent, updated_at = {now} "
                f"WHERE {_FENCE} RETURNING attempts, worker_id"
            ),
            complete=text(
                "UPDATE jobs SET status = 'succeeded', result = :result, percent = 100, "
                "error_kind = NULL, error_message = NULL, lease_expires_at = NULL, "
                f"finished_at = {now}, updated_at = {now} WHERE {_FENCE} RETURNING attempts, worker_id"
            ),
            lock_held=text(
                f"SELECT attempts, max_attempts, cancel_requested, worker_id FROM jobs WHERE {_FENCE}{for_update}"
            ),
            finish_attempt=text(
                "UPDATE jobs SET status = :status, error_kind = :kind, error_message = :message, "
                f"run_at = {dialect.now_plus('delay')}, lease_expires_at = NULL, updated_at = {now}, "
                f"finished_at = CASE WHEN :finished THEN {now} ELSE NULL END WHERE id = :id"
            ),
            release=text(
                f"UPDATE jobs SET status = 'pending', attempts = attempts - 1, run_at = {now}, "
                f"lease_expires_at = NULL, updated_at = {now}, {_RESET_PROGRESS} "
                f"WHERE {_FENCE} RETURNING attempts, worker_id"
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
            claim_pg=_pg_claim(),
            claim_update_sqlite=_sqlite_claim_update(),
            claim_events_sqlite=_sqlite_claim_events(),
            claimed_rows_sqlite=JOB_SELECT.where(jobs.c.id.in_(bindparam("ids", expanding=True))).order_by(
                jobs.c.priority.desc(), jobs.c.run_at, jobs.c.id
            ),
        )

    def claim(self, conn: Connection, *, worker_id: str, lease_seconds: float, limit: int) -> Sequence[RowMapping]:
        """Claim up to `limit` ready jobs and log a `claimed` event for each, in the caller's transaction.

        PostgreSQL does it in one statement (a CTE with `FOR UPDATE SKIP LOCKED`, the UPDATE and the
        event INSERT). SQLite, whose transaction began IMMEDIATE and so already excludes every other
        writer, selects the ready rows and updates them, then logs the events.
        """
        params = {"worker": worker_id, "lease": lease_seconds, "limit": limit}
        if self.dialect is not SQLITE:
            return conn.execute(self.claim_pg, params).mappings().all()
        ready = conn.execute(self.ready_select, params).all()
        if not ready:
            return []
        ids = [row.id for row in ready]
        conn.execute(self.claim_update_sqlite, {**params, "ids": ids})
        conn.execute(
            self.claim_events_sqlite,
            [{"id": row.id, "from_status": row.status, "worker": worker_id} for row in ready],
        )
        return conn.execute(self.claimed_rows_sqlite, {"ids": ids}).mappings().all()


_CLAIM_SET = (
    "status = 'running', attempts = jobs.attempts + 1, lease_token = jobs.lease_token + 1, "
    "lease_expires_at = {lease_until}, worker_id = :worker, started_at = {now}, updated_at = {now}, " + _RESET_PROGRESS
)


def _pg_claim() -> TextClause:
    now = "now()"
    names = ", ".join(f"claimed.{c.name}" for c in jobs.c)
    sql = f"""
        WITH ready AS (
            SELECT id, status AS from_status FROM jobs
            WHERE {READY_PREDICATE} AND run_at <= {now}
            ORDER BY {_READY_ORDER}
            LIMIT :limit
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE jobs SET {_CLAIM_SET.format(lease_until=f"{now} + :lease * interval '1 second'", now=now)}
            FROM ready WHERE jobs.id = ready.id
            RETURNING jobs.*, ready.from_status
        ), logged AS (
            INSERT INTO job_events (job_id, created_at, kind, from_status, to_status, actor, attempt, lease_token)
            SELECT id, {now}, 'claimed', from_status, 'running', :worker, attempts, lease_token FROM claimed
        )
        SELECT {names}, repositories.source
        FROM claimed JOIN repositories ON repositories.id = claimed.repository_id
        ORDER BY claimed.priority DESC, claimed.run_at, claimed.id
    """
    return _typed(sql, *_JOB_COLUMNS)


def _sqlite_claim_update() -> TextClause:
    now = SQLITE.now
    return text(
        f"UPDATE jobs SET {_CLAIM_SET.format(lease_until=SQLITE.now_plus('lease'), now=now)} WHERE id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))


def _sqlite_claim_events() -> TextClause:
    return text(
        "INSERT INTO job_events (job_id, created_at, kind, from_status, to_status, actor, attempt, lease_token) "
        f"SELECT id, {SQLITE.now}, 'claimed', :from_status, 'running', :worker, attempts, lease_token "
        "FROM jobs WHERE id = :id"
    )

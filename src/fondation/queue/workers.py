"""The registry of workers: who is up, when each was last seen, how busy it is.

Operators read it (monitor, admin page) and the queue uses it to tell a worker that is merely slow
from one that is known dead (stopped, or silent for longer than a lease) when requeueing its jobs.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psutil
from sqlalchemy import Connection, literal_column, select, text

from fondation import __version__
from fondation.domain.errors import WorkerIdInUseError
from fondation.store.database import Database
from fondation.store.schema import workers
from fondation.store.types import canonical_json


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One row of the registry."""

    id: str
    hostname: str
    pid: int
    version: str
    status: str
    concurrency: int
    active_jobs: int
    started_at: datetime
    last_seen_at: datetime
    info: dict[str, Any]

    def seconds_silent(self, now: datetime) -> float:
        return (now - self.last_seen_at).total_seconds()

    def is_up(self, now: datetime, dead_after_seconds: float) -> bool:
        """Up: it has not said it stopped, and it was seen within `dead_after_seconds` (the lease time)."""
        return self.status != "stopped" and self.seconds_silent(now) <= dead_after_seconds


def _is_own_dead_process(row: Any) -> bool:
    """True when the row names a process of this host that no longer exists (a crashed worker)."""
    if row.hostname != socket.gethostname():
        return False
    if row.pid == os.getpid():
        return True
    return not psutil.pid_exists(row.pid)


class WorkerRegistry:
    """Register, beat and stop workers; all times are the database's clock."""

    def __init__(self, database: Database) -> None:
        self.db = database
        now = database.dialect.now
        self._now = literal_column(now)
        self._register = text(
            "INSERT INTO workers (id, hostname, pid, version, status, concurrency, active_jobs, started_at, "
            f"last_seen_at, info) VALUES (:id, :hostname, :pid, :version, 'up', :concurrency, 0, {now}, {now}, "
            ":info) ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid, "
            "version = excluded.version, status = 'up', concurrency = excluded.concurrency, active_jobs = 0, "
            "started_at = excluded.started_at, last_seen_at = excluded.last_seen_at, info = excluded.info"
        )
        self._current = text(
            "SELECT status, hostname, pid, "
            f"CASE WHEN last_seen_at > {database.dialect.now_plus('neg_stale')} THEN 1 ELSE 0 END AS fresh, "
            f"{database.dialect.seconds_between('last_seen_at', now)} AS silent_for "
            f"FROM workers WHERE id = :id{'' if database.is_sqlite else ' FOR UPDATE'}"
        )

    def register(
        self, worker_id: str, *, concurrency: int, stale_after_seconds: float, info: dict[str, Any] | None = None
    ) -> None:
        """Mark the worker up, refusing an id that a live worker already uses.

        The old row belongs to a live worker when it is not stopped, was seen within
        `stale_after_seconds`, and is not a dead process of this very host (a restart after a crash
        on the same machine is accepted at once; elsewhere it waits until the old row is stale).
        """
        params = {
            "id": worker_id,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "version": __version__,
            "concurrency": concurrency,
            "info": canonical_json(info or {}),
        }

        def work(conn: Connection) -> None:
            row = conn.execute(self._current, {"id": worker_id, "neg_stale": -stale_after_seconds}).first()
            if row is not None and row.fresh and row.status != "stopped" and not _is_own_dead_process(row):
                raise WorkerIdInUseError(
                    f"worker id {worker_id!r} is in use by pid {row.pid} on {row.hostname} (last seen "
                    f"{row.silent_for:.0f} s ago): choose another WORKER_ID, or stop that worker first"
                )
            conn.execute(self._register, params)

        self.db.write(work)

    def beat(self, worker_id: str, *, active_jobs: int) -> None:
        """Say the worker is alive and how many jobs it runs."""
        self._update(worker_id, last_seen_at=self._now, active_jobs=active_jobs)

    def stop(self, worker_id: str) -> None:
        """Mark the worker stopped: its leftover running jobs may be requeued at once."""
        self._update(worker_id, status="stopped", last_seen_at=self._now, active_jobs=0)

    def list(self) -> list[WorkerInfo]:
        def work(conn: Connection) -> list[WorkerInfo]:
            rows = conn.execute(select(workers).order_by(workers.c.id)).mappings()
            return [WorkerInfo(**{**row, "info": row["info"] or {}}) for row in rows]

        return self.db.read(work)

    def _update(self, worker_id: str, **values: Any) -> None:
        statement = workers.update().where(workers.c.id == worker_id).values(**values)
        self.db.write(lambda conn: conn.execute(statement))

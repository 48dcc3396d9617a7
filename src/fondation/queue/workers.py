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

from sqlalchemy import Connection, literal_column, select, text

from fondation import __version__
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

    def register(self, worker_id: str, *, concurrency: int, info: dict[str, Any] | None = None) -> None:
        """Mark the worker up (a restart under the same id replaces the old row)."""
        params = {"id": worker_id, "hostname": socket.gethostname(), "pid": os.getpid(), "version": __version__,
                  "concurrency": concurrency, "info": canonical_json(info or {})}
        self.db.write(lambda conn: conn.execute(self._register, params))

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

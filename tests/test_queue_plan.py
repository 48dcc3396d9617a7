"""At 100,000 ready rows the claim statement must walk the partial index, not scan and sort the table."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, text

from fondation.queue import JobQueue
from fondation.queue.sql import PgClaim, SqliteClaim
from fondation.store import Database

READY_ROWS = 100_000
FINISHED_ROWS = 20_000


def fill(database: Database) -> None:
    """Insert many jobs in one statement per status (the queue's enqueue would take minutes)."""
    now = database.dialect.now
    if database.is_sqlite:
        series = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) SELECT i FROM n"
    else:
        series = "SELECT i FROM generate_series(1, :count) AS i"
    insert = (
        "INSERT INTO jobs (repository_id, options, dedupe_key, status, priority, run_at, attempts, max_attempts, "
        f"lease_token, cancel_requested, created_at, updated_at) SELECT 1, '{{}}', 'k' || i, :status, i % 3, "
        f"{now}, 0, 5, 0, FALSE, {now}, {now} FROM ({series}) AS s"
    )

    def work(conn: Connection) -> None:
        conn.execute(
            text(
                "INSERT INTO repositories (source, kind, name, created_at, updated_at) "
                f"VALUES ('https://example.org/big.git', 'git', 'big', {now}, {now})"
            )
        )
        conn.execute(text(insert), {"count": READY_ROWS, "status": "pending"})
        conn.execute(text(insert), {"count": FINISHED_ROWS, "status": "succeeded"})
        conn.execute(text("ANALYZE"))

    database.write(work)


@pytest.mark.slow
def test_claim_uses_the_partial_index(database: Database, queue: JobQueue) -> None:
    fill(database)
    if database.is_sqlite:
        assert isinstance(queue.sql.claim, SqliteClaim)
        explain = f"EXPLAIN QUERY PLAN {queue.sql.claim.ready.text}"
        plan = database.read(lambda conn: conn.execute(text(explain), {"limit": 1}).all())
        details = " | ".join(str(row[-1]) for row in plan)
        assert "USING INDEX ix_jobs_ready" in details, details
        assert "TEMP B-TREE" not in details, f"the claim sorts instead of walking the index: {details}"
    else:
        assert isinstance(queue.sql.claim, PgClaim)
        explain = f"EXPLAIN {queue.sql.claim.statement.text}"
        params = {"limit": 1, "lease": 60.0, "worker": "w"}
        plan = database.read(lambda conn: conn.execute(text(explain), params).all())
        details = "\n".join(row[0] for row in plan)
        assert "Index Scan using ix_jobs_ready" in details, details
        assert "Seq Scan on jobs" not in details, details
    lease = queue.claim("w", lease_seconds=60)[0]
    assert lease.job.priority == 2

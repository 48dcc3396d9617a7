"""Small helpers the tests share: sources, and moving a database's clock forward."""

from __future__ import annotations

from sqlalchemy import text

from fondation.domain.sources import SourceKind, SourceSpec
from fondation.store import Database


def source(n: int | str = 1) -> SourceSpec:
    """A distinct GitHub source per `n`."""
    return SourceSpec(SourceKind.GITHUB, f"https://github.com/example/repo{n}.git", f"repo{n}")


def advance_clock(database: Database, seconds: float) -> None:
    """Make `seconds` pass for every job and worker, by moving their stored times into the past.

    The queue judges time by the database's clock; shifting every stored time back is the same as
    that clock jumping forward, without any test-only hook in the code under test.
    """
    shift = database.dialect.now_plus("shift").replace(database.dialect.now, "{col}")

    def shifted(column: str) -> str:
        return f"{column} = {shift.format(col=column)}"

    job_columns = ["run_at", "lease_expires_at", "created_at", "updated_at", "started_at", "finished_at"]
    statements = [
        "UPDATE jobs SET " + ", ".join(shifted(c) for c in job_columns),
        "UPDATE workers SET " + ", ".join(shifted(c) for c in ("started_at", "last_seen_at")),
    ]
    database.write(lambda conn: [conn.execute(text(s), {"shift": -seconds}) for s in statements])

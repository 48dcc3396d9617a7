"""Database-wide switches and facts (`system_state`): read by every process, changed by operators.

Kept in the database rather than in each process's configuration because they must take effect on
every worker at once: pausing the queue during an incident, for instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, literal_column, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fondation.store.database import Database
from fondation.store.schema import system_state

#: Present while workers must not claim (`fondation queue pause`, `fondation security lockdown`).
CLAIMS_PAUSED = "claims_paused"
#: The oldest code revision that still works against this schema (written by migrations).
COMPATIBLE_FROM = "compatible_from"


@dataclass(frozen=True, slots=True)
class StateEntry:
    key: str
    value: Any
    updated_at: datetime
    updated_by: str


class SystemState:
    def __init__(self, database: Database) -> None:
        self.db = database

    def get(self, key: str) -> StateEntry | None:
        query = select(system_state).where(system_state.c.key == key)
        row = self.db.read(lambda conn: conn.execute(query).mappings().first())
        return None if row is None else StateEntry(row["key"], row["value"], row["updated_at"], row["updated_by"])

    def set(self, key: str, value: Any, *, by: str) -> None:
        insert = sqlite_insert if self.db.is_sqlite else postgresql_insert
        now = literal_column(self.db.dialect.now)
        statement = insert(system_state).values(key=key, value=value, updated_at=now, updated_by=by)
        statement = statement.on_conflict_do_update(
            index_elements=["key"], set_={"value": value, "updated_at": now, "updated_by": by}
        )
        self.db.write(lambda conn: conn.execute(statement))

    def delete(self, key: str) -> bool:
        def work(conn: Connection) -> bool:
            return conn.execute(delete(system_state).where(system_state.c.key == key)).rowcount > 0

        return self.db.write(work)

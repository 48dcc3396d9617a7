"""The audit trail: operator actions recorded beside the logins, and the export of both event logs.

Operators' emergency levers (pausing the queue, a security lockdown, a key rotation) change state that
keeps no history of its own (`system_state`, wiped rows), so each is also written to `auth_events`:
the export and the incident report find them there in time order with everything else. Neither log
holds a secret (hashes and ciphertext stay in their own tables), so the export can be handed over.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, select

from fondation.domain.errors import ConfigError
from fondation.store.accounts import AccountStore
from fondation.store.database import Database
from fondation.store.schema import auth_events, job_events

#: The `auth_events` kinds of operator actions (success is always true for these).
QUEUE_PAUSED = "queue_paused"
QUEUE_RESUMED = "queue_resumed"
SECURITY_LOCKDOWN = "security_lockdown"
SECRET_KEY_ROTATED = "secret_key_rotated"
OPERATOR_EVENTS = (QUEUE_PAUSED, QUEUE_RESUMED, SECURITY_LOCKDOWN, SECRET_KEY_ROTATED)

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: Rows fetched at a time while streaming the logs.
_PAGE = 1000


def parse_time(value: str, *, now: datetime | None = None) -> datetime:
    """An instant from ISO 8601 (`2026-12-01T10:00Z`, `2026-12-01`; no offset means UTC) or a time
    ago (`90s`, `30m`, `2h`, `7d`, `1w`), so operators can type what they have in mind."""
    found = _RELATIVE.match(value)
    if found:
        ago = float(found[1]) * _UNIT_SECONDS[found[2].lower()]
        return (now or datetime.now(UTC)) - timedelta(seconds=ago)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"cannot read the time {value!r}: use ISO 8601 (2026-12-01T10:00:00Z) or a time ago (30m, 2h, 7d)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """`--since` and `--until` read with `parse_time`; refused when the window ends before it starts."""
    now = datetime.now(UTC)
    start = parse_time(since, now=now) if since else None
    end = parse_time(until, now=now) if until else None
    if start is not None and end is not None and end < start:
        raise ConfigError(f"--until ({end:%Y-%m-%d %H:%M:%SZ}) is before --since ({start:%Y-%m-%d %H:%M:%SZ})")
    return start, end


def record_operator_action(database: Database, kind: str, *, actor: str, detail: str | None) -> None:
    """Write an operator action (one of `OPERATOR_EVENTS`) to the auth event log."""
    AccountStore(database).record(kind, user_name=actor, remote=None, success=True, detail=detail)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of the export: where it comes from (`auth` or `job`), when, and the row's fields."""

    source: str
    time: datetime
    id: int
    fields: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "time": self.time.isoformat(), "id": self.id, **self.fields}


def _window(table: Table, since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions = []
    if since is not None:
        conditions.append(table.c.created_at >= since)
    if until is not None:
        conditions.append(table.c.created_at <= until)
    return conditions


def _stream(
    database: Database, table: Table, source: str, since: datetime | None, until: datetime | None
) -> Iterator[AuditEvent]:
    """Every row of an event table in the window, oldest first, streamed (memory stays flat however long)."""
    query = select(table).where(*_window(table, since, until)).order_by(table.c.created_at, table.c.id)
    with database.connect() as conn:
        conn.execution_options(fondation_readonly=True, stream_results=True, yield_per=_PAGE)  # a read: never locks
        for row in conn.execute(query).mappings():
            fields = dict(row)
            yield AuditEvent(source, fields.pop("created_at"), fields.pop("id"), fields)


def audit_events(
    database: Database, *, since: datetime | None = None, until: datetime | None = None
) -> Iterator[AuditEvent]:
    """Auth events and job events of the window merged in time order (a job event first on a tie).

    Job events are stamped by the database's clock, auth events by the clock of the process that wrote
    them: on machines whose clocks agree (see `fondation doctor`), the order is the order things happened.
    """
    return heapq.merge(
        _stream(database, job_events, "job", since, until),
        _stream(database, auth_events, "auth", since, until),
        key=lambda event: (event.time, event.source != "job", event.id),
    )

"""The runbook's security breach procedure: lock everything down in one go, then rotate the secret key.

A lockdown takes away every way in that Fondation holds (browser sessions, API tokens, login links),
every credential it keeps for others (users' GitHub tokens, the Claude CLI's login) and stops every
worker from claiming, database-wide. Each step runs even when another failed, so a lockdown done
while, say, the credentials folder is unwritable still ends every session; the caller reports each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import InvalidToken
from sqlalchemy import Connection, select, update

from fondation.accounts.secretbox import SecretBox
from fondation.domain.errors import ConfigError, FondationError
from fondation.domain.jobs import JobStatus
from fondation.ops.audit import SECRET_KEY_ROTATED, SECURITY_LOCKDOWN, record_operator_action
from fondation.ops.claude_credentials import revoke_credentials
from fondation.queue import JobQueue
from fondation.store.accounts import AccountStore, utcnow
from fondation.store.schema import users

LOCKDOWN_REASON = "security lockdown"


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of the lockdown: `description: count` when it worked, else why it failed (`error`)."""

    name: str
    description: str
    count: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _wipe_github_tokens(queue: JobQueue) -> int:
    statement = update(users).where(users.c.github_token.is_not(None)).values(github_token=None, updated_at=utcnow())
    return int(queue.db.write(lambda conn: conn.execute(statement).rowcount))


def _pause(queue: JobQueue, actor: str) -> int:
    queue.pause(actor=actor, reason=LOCKDOWN_REASON)
    return queue.counts()[JobStatus.RUNNING]


def lockdown(queue: JobQueue, *, claude_config_dir: Path, actor: str) -> list[StepResult]:
    """Pause claims, end sessions, revoke tokens and links, wipe GitHub tokens, revoke Claude's login.

    Recorded in `auth_events` (`security_lockdown`, its detail the counts, success only if every step
    worked). Running jobs go on: the first step reports how many, for the operator to cancel or stop.
    """
    store = AccountStore(queue.db)
    steps: list[tuple[str, str, Callable[[], int]]] = [
        ("pause", "queue paused, no worker claims; jobs still running", lambda: _pause(queue, actor)),
        ("sessions", "browser sessions ended", lambda: store.delete_sessions()),
        ("tokens", "API tokens and login links revoked", lambda: store.revoke_tokens()),
        ("github_tokens", "stored GitHub tokens wiped", lambda: _wipe_github_tokens(queue)),
        (
            "claude_credentials",
            f"Claude credential files removed from {claude_config_dir}",
            lambda: revoke_credentials(claude_config_dir),
        ),
    ]
    results = []
    for name, description, run in steps:
        try:
            results.append(StepResult(name, description, run()))
        except (FondationError, OSError) as error:
            results.append(StepResult(name, description, None, " ".join(str(error).split()) or type(error).__name__))
    detail = "; ".join(f"{r.description}: {r.count if r.ok else 'FAILED'}" for r in results)
    try:
        store.record(SECURITY_LOCKDOWN, user_name=actor, remote=None, success=all(r.ok for r in results), detail=detail)
    except FondationError as error:  # the database is gone: the steps above already say so
        results.append(StepResult("record", "lockdown recorded in the auth event log", None, str(error)))
    return results


def rotate_key(queue: JobQueue, *, new_key: str, old_key: str, actor: str) -> int:
    """Re-encrypt every stored secret (users' GitHub tokens) under `new_key`, in one transaction.

    A secret that opens with neither key refuses the whole rotation (nothing changes): the operator
    decides whether to clear it, rather than losing it silently. Returns how many were re-encrypted.
    """
    if not new_key:
        raise ConfigError("FONDATION_SECRET_KEY is not set: set it to the new key, and give the old one")
    if not old_key:
        raise ConfigError("the old key is empty")
    if new_key == old_key:
        raise ConfigError("the old key and FONDATION_SECRET_KEY are the same: there is nothing to rotate")
    box = SecretBox(new_key, old_key)

    def work(conn: Connection) -> int:
        query = select(users.c.id, users.c.name, users.c.github_token).where(users.c.github_token.is_not(None))
        if not queue.db.is_sqlite:
            query = query.with_for_update()
        rows = conn.execute(query.order_by(users.c.id)).all()
        rotated: list[tuple[int, str]] = []
        unreadable: list[str] = []
        for user_id, name, ciphertext in rows:
            try:
                rotated.append((user_id, box.rotate(ciphertext)))
            except (InvalidToken, ValueError):
                unreadable.append(name)
        if unreadable:
            names = ", ".join(repr(name) for name in unreadable)
            raise ConfigError(
                f"the stored GitHub token of {names} opens with neither the old key nor the new one: nothing was "
                f"re-encrypted; check the old key, or clear the token (`fondation users github-token NAME --clear`)"
            )
        for user_id, ciphertext in rotated:
            conn.execute(update(users).where(users.c.id == user_id).values(github_token=ciphertext))
        return len(rotated)

    count = queue.db.write(work)
    record_operator_action(queue.db, SECRET_KEY_ROTATED, actor=actor, detail=f"{count} secrets re-encrypted")
    return count

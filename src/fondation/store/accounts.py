"""Users, sessions, API tokens and the auth event log in the database.

Only hashes of session ids and tokens are stored (SHA-256 of 256 random bits: a dump of the database
logs nobody in), and the GitHub token only encrypted: this module stores what it is given and never
sees a plaintext secret. Times are the web server's UTC clock; nothing here needs the database's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from fondation.domain.errors import DatabaseError
from fondation.domain.users import AccountError, ApiTokenInfo, User
from fondation.store.database import Database
from fondation.store.schema import api_tokens, auth_events, sessions, users


def utcnow() -> datetime:
    return datetime.now(UTC)


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        is_admin=bool(row["is_admin"]),
        language=row["language"],
        has_password=row["password_hash"] is not None,
        github_login=row["github_login"],
        has_github_token=row["github_token"] is not None,
        created_at=row["created_at"],
    )


def _token(row: Any) -> ApiTokenInfo:
    return ApiTokenInfo(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


class AccountStore:
    """Rows of the accounts tables; the rules (hashing, expiry, rate limits) live in `fondation.accounts`."""

    def __init__(self, database: Database) -> None:
        self.db = database

    # ------------------------------------------------------------------ users

    def create_user(
        self,
        name: str,
        *,
        password_hash: str | None,
        is_admin: bool = False,
        github_id: int | None = None,
        github_login: str | None = None,
    ) -> User:
        now = utcnow()

        def work(conn: Connection) -> User:
            user_id = conn.execute(
                insert(users)
                .values(
                    name=name,
                    password_hash=password_hash,
                    is_admin=is_admin,
                    github_id=github_id,
                    github_login=github_login,
                    created_at=now,
                    updated_at=now,
                )
                .returning(users.c.id)
            ).scalar_one()
            return _user(conn.execute(select(users).where(users.c.id == user_id)).mappings().one())

        try:
            return self.db.write(work)
        except DatabaseError as error:  # `Database.write` translates the driver's errors, IntegrityError too
            if isinstance(error.__cause__, IntegrityError):
                raise AccountError(f"user {name!r} exists already") from None
            raise

    def user(self, user_id: int) -> User | None:
        row = self.db.read(lambda conn: conn.execute(select(users).where(users.c.id == user_id)).mappings().first())
        return None if row is None else _user(row)

    def user_by_name(self, name: str) -> User | None:
        row = self.db.read(lambda conn: conn.execute(select(users).where(users.c.name == name)).mappings().first())
        return None if row is None else _user(row)

    def user_by_github_id(self, github_id: int) -> User | None:
        query = select(users).where(users.c.github_id == github_id)
        row = self.db.read(lambda conn: conn.execute(query).mappings().first())
        return None if row is None else _user(row)

    def users(self) -> list[User]:
        return self.db.read(
            lambda conn: [_user(r) for r in conn.execute(select(users).order_by(users.c.name)).mappings()]
        )

    def count_users(self) -> int:
        return int(self.db.read(lambda conn: conn.execute(select(func.count()).select_from(users)).scalar_one()))

    def password_hash(self, name: str) -> tuple[User, str | None] | None:
        """The user and their stored password hash, for the login check alone."""
        row = self.db.read(lambda conn: conn.execute(select(users).where(users.c.name == name)).mappings().first())
        return None if row is None else (_user(row), row["password_hash"])

    def update_user(self, user_id: int, **values: Any) -> None:
        """Set columns of one user (password_hash, is_admin, language, github_*)."""
        statement = update(users).where(users.c.id == user_id).values(**values, updated_at=utcnow())
        if self.db.write(lambda conn: conn.execute(statement).rowcount) != 1:
            raise AccountError(f"no user with id {user_id}")

    def github_token(self, user_id: int) -> str | None:
        """The user's encrypted GitHub token, as stored."""
        query = select(users.c.github_token).where(users.c.id == user_id)
        return self.db.read(lambda conn: conn.execute(query).scalar())

    def encrypted_github_tokens(self) -> list[tuple[int, str]]:
        query = select(users.c.id, users.c.github_token).where(users.c.github_token.is_not(None))
        return self.db.read(lambda conn: [(row.id, row.github_token) for row in conn.execute(query)])

    # ------------------------------------------------------------------ sessions

    def create_session(self, token_hash: str, user_id: int, csrf_token: str, lifetime: timedelta) -> None:
        now = utcnow()
        statement = insert(sessions).values(
            token_hash=token_hash, user_id=user_id, csrf_token=csrf_token, created_at=now, expires_at=now + lifetime
        )
        self.db.write(lambda conn: conn.execute(statement))

    def session(self, token_hash: str) -> tuple[User, str] | None:
        """The session's user and CSRF token, if the session exists and has not expired."""
        query = (
            select(users, sessions.c.csrf_token)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > utcnow())
        )
        row = self.db.read(lambda conn: conn.execute(query).mappings().first())
        return None if row is None else (_user(row), row["csrf_token"])

    def delete_sessions(self, *, token_hash: str | None = None, user_id: int | None = None) -> int:
        """End one session, every session of a user, or (neither given) every session there is."""
        statement = delete(sessions)
        if token_hash is not None:
            statement = statement.where(sessions.c.token_hash == token_hash)
        if user_id is not None:
            statement = statement.where(sessions.c.user_id == user_id)
        return int(self.db.write(lambda conn: conn.execute(statement).rowcount))

    # ------------------------------------------------------------------ API tokens and login links

    def create_token(
        self, token_hash: str, user_id: int, purpose: str, *, name: str | None = None, lifetime: timedelta | None = None
    ) -> int:
        now = utcnow()
        statement = (
            insert(api_tokens)
            .values(
                token_hash=token_hash,
                user_id=user_id,
                purpose=purpose,
                name=name,
                created_at=now,
                expires_at=None if lifetime is None else now + lifetime,
            )
            .returning(api_tokens.c.id)
        )
        return int(self.db.write(lambda conn: conn.execute(statement).scalar_one()))

    def use_token(self, token_hash: str, purpose: str, *, spend: bool = False) -> User | None:
        """The token's user if it is live (not revoked, not expired); records the use. A spent token
        (`spend`: one-time login links) is revoked in the same transaction, so it works once."""
        now = utcnow()

        def work(conn: Connection) -> User | None:
            live = (
                (api_tokens.c.token_hash == token_hash)
                & (api_tokens.c.purpose == purpose)
                & api_tokens.c.revoked_at.is_(None)
                & (api_tokens.c.expires_at.is_(None) | (api_tokens.c.expires_at > now))
            )
            values: dict[str, Any] = {"last_used_at": now}
            if spend:
                values["revoked_at"] = now
            user_id = conn.execute(
                update(api_tokens).where(live).values(**values).returning(api_tokens.c.user_id)
            ).scalar()
            if user_id is None:
                return None
            row = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
            return None if row is None else _user(row)

        return self.db.write(work)

    def tokens(self, user_id: int) -> list[ApiTokenInfo]:
        query = (
            select(api_tokens)
            .where(api_tokens.c.user_id == user_id, api_tokens.c.purpose == "api")
            .order_by(api_tokens.c.id)
        )
        return self.db.read(lambda conn: [_token(r) for r in conn.execute(query).mappings()])

    def revoke_tokens(self, *, user_id: int | None = None, token_id: int | None = None) -> int:
        """Revoke one token, every token of a user, or (neither given) every token there is."""
        statement = update(api_tokens).where(api_tokens.c.revoked_at.is_(None)).values(revoked_at=utcnow())
        if user_id is not None:
            statement = statement.where(api_tokens.c.user_id == user_id)
        if token_id is not None:
            statement = statement.where(api_tokens.c.id == token_id)
        return int(self.db.write(lambda conn: conn.execute(statement).rowcount))

    # ------------------------------------------------------------------ auth events

    def record(
        self, kind: str, *, user_name: str | None, remote: str | None, success: bool, detail: str | None = None
    ) -> None:
        statement = insert(auth_events).values(
            created_at=utcnow(),
            kind=kind,
            user_name=None if user_name is None else user_name[:64],
            remote=None if remote is None else remote[:64],
            success=success,
            detail=detail,
        )
        self.db.write(lambda conn: conn.execute(statement))

    def recent_failures(
        self, kind: str, since: datetime, *, user_name: str | None = None, remote: str | None = None
    ) -> tuple[int, datetime | None]:
        """How many failed `kind` events since `since` for this name (or address), and the oldest's time."""
        query = select(func.count(), func.min(auth_events.c.created_at)).where(
            auth_events.c.kind == kind, auth_events.c.success.is_(False), auth_events.c.created_at >= since
        )
        if user_name is not None:
            query = query.where(auth_events.c.user_name == user_name)
        if remote is not None:
            query = query.where(auth_events.c.remote == remote)
        count, oldest = self.db.read(lambda conn: conn.execute(query).one())
        if oldest is not None and not isinstance(oldest, datetime):
            oldest = datetime.fromtimestamp(oldest, UTC)
        return int(count), oldest

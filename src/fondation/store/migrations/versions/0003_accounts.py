"""Accounts: users, sessions, API tokens and one-time login links, the auth event log, and job owners;
an index on job_events.created_at for windows over recent events; system_state (the claim pause, and
the oldest code revision that still works against this schema, so a rollback can tell).

Additive only (new tables, one nullable column): the previous release keeps working against a
database migrated to this revision, so a rollback needs no downgrade.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import fondation.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, fondation.store.types.Timestamp(timezone=True), nullable=nullable)


#: The oldest revision whose code still works against this schema: every change here is additive.
COMPATIBLE_FROM = "0002"


def upgrade() -> None:
    op.create_table(
        "system_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", fondation.store.types.JSONText(), nullable=False),
        _timestamp("updated_at"),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.execute(
        sa.text(
            "INSERT INTO system_state (key, value, updated_at, updated_by) VALUES ('compatible_from', :value, "
            + ("((julianday('now') - 2440587.5) * 86400.0)" if op.get_bind().dialect.name == "sqlite" else "now()")
            + ", 'migration 0003')"
        ).bindparams(value=f'"{COMPATIBLE_FROM}"')
    )
    op.create_table(
        "users",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("is_admin", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("github_id", sa.BigInteger(), nullable=True),
        sa.Column("github_login", sa.Text(), nullable=True),
        sa.Column("github_token", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("github_id"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        _timestamp("created_at"),
        _timestamp("expires_at"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_sessions_user", "sessions", ["user_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("expires_at", nullable=True),
        _timestamp("last_used_at", nullable=True),
        _timestamp("revoked_at", nullable=True),
        sa.CheckConstraint("purpose IN ('api', 'login')", name="ck_api_tokens_purpose"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_api_tokens_user", "api_tokens", ["user_id"])
    op.create_table(
        "auth_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        _timestamp("created_at"),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_name", sa.String(length=64), nullable=True),
        sa.Column("remote", sa.String(length=64), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_auth_events_recent", "auth_events", ["kind", "created_at"])
    # Not a batch (table copy) on SQLite: that would drop the jobs table's partial indexes. SQLite
    # adds the column with its REFERENCES clause inline; PostgreSQL gets a named constraint.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE jobs ADD COLUMN owner_id INTEGER REFERENCES users (id)")
    else:
        op.add_column("jobs", sa.Column("owner_id", _ID, nullable=True))
        op.create_foreign_key("fk_jobs_owner", "jobs", "users", ["owner_id"], ["id"])
    op.create_index("ix_jobs_owner", "jobs", ["owner_id", "id"])
    op.create_index("ix_job_events_created", "job_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_job_events_created", table_name="job_events")
    op.drop_index("ix_jobs_owner", table_name="jobs")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_jobs_owner", "jobs", type_="foreignkey")
    op.drop_column("jobs", "owner_id")
    op.drop_table("auth_events")
    op.drop_table("api_tokens")
    op.drop_table("sessions")
    op.drop_table("users")
    op.drop_table("system_state")

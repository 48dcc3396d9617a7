"""The tables, as SQLAlchemy Core metadata: the single picture of the schema the code reads and writes.

Migrations (in `migrations/versions`) create exactly this; a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from fondation.store.types import JSONText, Timestamp

metadata = MetaData()

# SQLite only gives AUTOINCREMENT semantics to INTEGER PRIMARY KEY; PostgreSQL wants a 64-bit identity.
Id = BigInteger().with_variant(Integer(), "sqlite")

JOB_STATUSES = ("pending", "running", "succeeded", "failed", "dead", "canceled")
READY_PREDICATE = "status IN ('pending', 'failed')"

repositories = Table(
    "repositories",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("name", Text, nullable=False),
    Column("web_url", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("repository_id", Id, ForeignKey("repositories.id"), nullable=False),
    Column("ref", Text),
    Column("options", JSONText, nullable=False),
    Column("dedupe_key", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("run_at", Timestamp, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False),
    Column("lease_token", BigInteger, nullable=False, server_default=text("0")),
    Column("lease_expires_at", Timestamp),
    Column("worker_id", Text),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    Column("phase", Text),
    Column("step", Integer),
    Column("total_steps", Integer),
    Column("message", Text),
    Column("percent", Float),
    Column("error_kind", String(16)),
    Column("error_message", Text),
    Column("result", JSONText),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("started_at", Timestamp),
    Column("finished_at", Timestamp),
    # Who asked for the job (NULL: an operator, from the CLI). Its course belongs to the same user.
    Column("owner_id", Id, ForeignKey("users.id", name="fk_jobs_owner")),
    CheckConstraint(f"status IN {JOB_STATUSES!r}", name="ck_jobs_status"),
    CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name="ck_jobs_attempts"),
    # The claim statement walks this index in order and stops after LIMIT rows.
    Index(
        "ix_jobs_ready",
        text("priority DESC"),
        "run_at",
        "id",
        sqlite_where=text(READY_PREDICATE),
        postgresql_where=text(READY_PREDICATE),
    ),
    Index(
        "ix_jobs_running_lease",
        "lease_expires_at",
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
    Index(
        "ix_jobs_active_dedupe",
        "dedupe_key",
        sqlite_where=text("status IN ('pending', 'running', 'failed')"),
        postgresql_where=text("status IN ('pending', 'running', 'failed')"),
    ),
    Index("ix_jobs_repository", "repository_id", "id"),
    Index("ix_jobs_status_updated", "status", "updated_at"),
    Index("ix_jobs_owner", "owner_id", "id"),
)

job_events = Table(
    "job_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("job_id", Id, ForeignKey("jobs.id"), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16)),
    Column("actor", Text, nullable=False),
    Column("reason", Text),
    Column("attempt", Integer, nullable=False),
    Column("lease_token", BigInteger, nullable=False),
    Column("data", JSONText),
    Index("ix_job_events_job", "job_id", "id"),
    # Windows over recent events (failures of the last day, the monitor, incident reports).
    Index("ix_job_events_created", "created_at"),
)

workers = Table(
    "workers",
    metadata,
    Column("id", Text, primary_key=True),
    Column("hostname", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("active_jobs", Integer, nullable=False, server_default=text("0")),
    Column("started_at", Timestamp, nullable=False),
    Column("last_seen_at", Timestamp, nullable=False),
    Column("info", JSONText),
    CheckConstraint("status IN ('up', 'stopping', 'stopped')", name="ck_workers_status"),
)

courses = Table(
    "courses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("job_id", Id, ForeignKey("jobs.id"), nullable=False),
    Column("repository_id", Id, ForeignKey("repositories.id"), nullable=False),
    Column("commit_sha", String(64)),
    Column("language", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("quality", JSONText),
    Column("created_at", Timestamp, nullable=False),
    Column("provider", String(64), nullable=False, server_default="offline"),
    Column("options", JSONText),
    Index("ix_courses_repository", "repository_id", "id"),
    UniqueConstraint("job_id", name="uq_courses_job"),
)

documents = Table(
    "documents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("course_id", Id, ForeignKey("courses.id"), nullable=False),
    Column("path", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("content", Text, nullable=False),
    UniqueConstraint("course_id", "path", name="uq_documents_course_path"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("job_id", Id, ForeignKey("jobs.id")),
    Column("step", Text, nullable=False),
    Column("data", JSONText, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

#: Database-wide switches and facts, one row per key: `claims_paused` (present while workers must not
#: claim), `compatible_from` (the oldest code revision that still works against this schema).
system_state = Table(
    "system_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSONText, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("updated_by", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    # NULL: no password login (a GitHub user, or an admin who has only had a one-time link so far).
    Column("password_hash", Text),
    Column("is_admin", Boolean, nullable=False, server_default=text("false")),
    Column("language", String(8)),
    Column("github_id", BigInteger, unique=True),
    Column("github_login", Text),
    # Encrypted with FONDATION_SECRET_KEY (Fernet); never sent to a browser.
    Column("github_token", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # SHA-256 of the random session id the signed cookie carries: a database dump logs nobody in.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Index("ix_sessions_user", "user_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    # `api`: a bearer token for /api/v1; `login`: a one-time login link, spent on first use.
    Column("purpose", String(16), nullable=False),
    Column("name", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp),
    Column("last_used_at", Timestamp),
    Column("revoked_at", Timestamp),
    CheckConstraint("purpose IN ('api', 'login')", name="ck_api_tokens_purpose"),
    Index("ix_api_tokens_user", "user_id"),
)

auth_events = Table(
    "auth_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("created_at", Timestamp, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("user_name", String(64)),
    Column("remote", String(64)),
    Column("success", Boolean, nullable=False),
    Column("detail", Text),
    Index("ix_auth_events_recent", "kind", "created_at"),
)

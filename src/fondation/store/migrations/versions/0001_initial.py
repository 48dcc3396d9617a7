"""Initial schema: repositories, jobs, job_events, workers, and room for courses, documents, checkpoints.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

import fondation.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The claim statement walks this partial index in order and stops after LIMIT rows.
READY = "status IN ('pending', 'failed')"

# job_events is an append-only log: the database itself refuses to rewrite history.
_SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER job_events_no_update BEFORE UPDATE ON job_events
       BEGIN SELECT RAISE(ABORT, 'job_events is append-only'); END""",
    """CREATE TRIGGER job_events_no_delete BEFORE DELETE ON job_events
       BEGIN SELECT RAISE(ABORT, 'job_events is append-only'); END""",
]
_POSTGRESQL_APPEND_ONLY = [
    """CREATE FUNCTION job_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'job_events is append-only'; END $$""",
    """CREATE TRIGGER job_events_no_change BEFORE UPDATE OR DELETE ON job_events
       FOR EACH ROW EXECUTE FUNCTION job_events_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("web_url", sa.Text(), nullable=True),
        sa.Column("created_at", fondation.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("updated_at", fondation.store.types.Timestamp(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source"),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("active_jobs", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("started_at", fondation.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("last_seen_at", fondation.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("info", fondation.store.types.JSONText(), nullable=True),
        sa.CheckConstraint("status IN ('up', 'stopping', 'stopped')", name="ck_workers_status"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("repository_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ref", sa.Text(), nullable=True),
        sa.Column("options", fondation.store.types.JSONText(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("run_at", fondation.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_token", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_expires_at", fondation.store.types.Timestamp(timezone=True), nullable=True),
        sa.Column("worker_id", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("phase", sa.Text(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("total_steps", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("percent", sa.Float(), nullable=True),
        sa.Column("error_kind", sa.String(length=16), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("result", fondation.store.types.JSONText(), nullable=True),
        sa.Column("created_at", fondation.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("updated_at", fondation.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("started_at", fondation.store.types.Timestamp(timezone=True), nullable=True),
        sa.Column("finished_at", fondation.store.types.Timestamp(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'succeeded', 'failed', 'dead', 'canceled')",
            name="ck_jobs_status",
        ),
        sa.CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name="ck_jobs_attempts"),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_jobs_active_dedupe",
            ["dedupe_key"],
            unique=False,
            sqlite_where=sa.text("status IN ('pending', 'running', 'failed')"),
            postgresql_where=sa.text("status IN ('pending', 'running', 'failed')"),
        )
        batch_op.create_index("ix_jobs_repository", ["repository_id", "id"], unique=False)
        batch_op.create_index(
            "ix_jobs_running_lease",
            ["lease_expires_at"],
            unique=False,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )
        batch_op.create_index("ix_jobs_status_updated", ["status", "updated_at"], unique=False)
        batch_op.create_index(
            "ix_jobs_ready",
            [sa.text("priority DESC"), "run_at", "id"],
            unique=False,
            sqlite_where=sa.text(READY),
            postgresql_where=sa.text(READY),
        )

    op.create_table(
        "checkpoints",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("data", fondation.store.types.JSONText(), nullable=False),
        sa.Column("created_at", fondation.store.types.Timestamp(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "courses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("repository_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("quality", fondation.store.types.JSONText(), nullable=True),
        sa.Column("created_at", fondation.store.types.Timestamp(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", name="uq_courses_job"),
    )
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.create_index("ix_courses_repository", ["repository_id", "id"], unique=False)

    op.create_table(
        "job_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", fondation.store.types.Timestamp(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("lease_token", sa.BigInteger(), nullable=False),
        sa.Column("data", fondation.store.types.JSONText(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.create_index("ix_job_events_job", ["job_id", "id"], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_APPEND_ONLY if dialect == "sqlite" else _POSTGRESQL_APPEND_ONLY:
        op.execute(statement)

    op.create_table(
        "documents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("course_id", "path", name="uq_documents_course_path"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS job_events_no_change ON job_events")
        op.execute("DROP FUNCTION IF EXISTS job_events_append_only()")
    op.drop_table("documents")
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.drop_index("ix_job_events_job")

    op.drop_table("job_events")
    with op.batch_alter_table("courses", schema=None) as batch_op:
        batch_op.drop_index("ix_courses_repository")

    op.drop_table("courses")
    op.drop_table("checkpoints")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_status_updated")
        batch_op.drop_index("ix_jobs_ready")
        batch_op.drop_index(
            "ix_jobs_running_lease",
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )
        batch_op.drop_index("ix_jobs_repository")
        batch_op.drop_index(
            "ix_jobs_active_dedupe",
            sqlite_where=sa.text("status IN ('pending', 'running', 'failed')"),
            postgresql_where=sa.text("status IN ('pending', 'running', 'failed')"),
        )

    op.drop_table("jobs")
    op.drop_table("workers")
    op.drop_table("repositories")

"""Courses record how they were generated: the provider and the options.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import fondation.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("provider", sa.String(64), nullable=False, server_default="offline"))
        batch.add_column(sa.Column("options", fondation.store.types.JSONText(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.drop_column("options")
        batch.drop_column("provider")

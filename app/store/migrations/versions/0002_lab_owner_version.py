"""Lab ownership and concurrency: `version`, `owner`, `updated`, the per-minute command count,
and the `lab_share` table of frozen recipes behind share links.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a NOT NULL column without a default in place.
    with op.batch_alter_table("lab") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column(
                "updated",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )
        batch.add_column(sa.Column("rate_minute", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("rate_count", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index("ix_lab_owner", ["owner"], unique=False)
    op.create_table(
        "lab_share",
        sa.Column("token", sa.String(length=64), primary_key=True),
        sa.Column("lab_id", sa.String(length=32), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipe", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lab_share")
    with op.batch_alter_table("lab") as batch:
        batch.drop_index("ix_lab_owner")
        for column in ("rate_count", "rate_minute", "updated", "owner", "version"):
            batch.drop_column(column)

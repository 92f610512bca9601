"""Create the `lab` table: one row per learner's lab, its state kept as JSON.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_lab_token", "lab", ["token"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_lab_token", table_name="lab")
    op.drop_table("lab")

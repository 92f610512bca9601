"""Live classroom sessions: `classroom`, `classroom_item`, `classroom_student` and
`classroom_answer` (app/store/classroom.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "classroom",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("teacher", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("number", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_classroom_code", "classroom", ["code"], unique=True)
    op.create_table(
        "classroom_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("classroom_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("revealed", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("classroom_id", "number"),
    )
    op.create_index("ix_classroom_item_classroom_id", "classroom_item", ["classroom_id"])
    op.create_table(
        "classroom_student",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("classroom_id", sa.String(length=32), nullable=False),
        sa.Column("nickname", sa.String(length=40), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("joined", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_classroom_student_classroom_id", "classroom_student", ["classroom_id"])
    op.create_index("ix_classroom_student_token", "classroom_student", ["token"], unique=True)
    op.create_table(
        "classroom_answer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("classroom_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.Column("choice", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("classroom_id", "number", "student_id"),
    )
    op.create_index("ix_classroom_answer_classroom_id", "classroom_answer", ["classroom_id"])


def downgrade() -> None:
    for table in ("classroom_answer", "classroom_student", "classroom_item", "classroom"):
        op.drop_table(table)

"""Interview practice: `quiz_run`, `quiz_answer` and `quiz_box` (app/store/quiz.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quiz_run",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("learner", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
    )
    op.create_index("ix_quiz_run_learner", "quiz_run", ["learner"])
    op.create_table(
        "quiz_answer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("learner", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("question", sa.String(length=80), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("answered", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_quiz_answer_learner", "quiz_answer", ["learner"])
    op.create_table(
        "quiz_box",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("learner", sa.String(length=64), nullable=False),
        sa.Column("question", sa.String(length=80), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("box", sa.Integer(), nullable=False),
        sa.Column("due", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("learner", "question"),
    )
    op.create_index("ix_quiz_box_learner", "quiz_box", ["learner"])


def downgrade() -> None:
    op.drop_table("quiz_box")
    op.drop_table("quiz_answer")
    op.drop_table("quiz_run")

"""Table model of course progress (migration 0005 mirrors it): per learner and lesson, the
lab the lesson runs in, the current step, how far up the hint ladder the learner has gone,
the choices made, and when the lesson was finished. The learner is the SHA-256 of the
`kpl_session` cookie, as for labs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class LessonProgress(SQLModel, table=True):
    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("learner", "lesson"),)

    id: int | None = Field(default=None, primary_key=True)
    learner: str = Field(index=True, max_length=64)
    lesson: str = Field(max_length=64)
    lab_id: str = Field(max_length=32)
    step: int = Field(default=0)
    rung: int = Field(default=0)  # hint ladder: hints shown, then the goal, then the solution
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    history_start: int = Field(default=0)
    started: datetime = Field(default_factory=_now)
    completed: datetime | None = Field(default=None)

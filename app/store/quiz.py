"""Table models of interview practice (migration 0004 mirrors them): a run (a mock
interview, a topic drill or a review of due questions), each answer given, and the Leitner
box of every question a learner has met. The learner is the SHA-256 of the `kpl_session`
cookie, as for labs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class QuizRun(SQLModel, table=True):
    """One sitting: `questions` lists question references (`bank:ID`, `gen:KIND:SEED`) in
    the order shown; `result` is filled when the answers come in."""

    __tablename__ = "quiz_run"

    id: str = Field(primary_key=True, max_length=32)
    learner: str = Field(index=True, max_length=64)
    kind: str = Field(max_length=16)  # mock, drill, review
    topic: str | None = Field(default=None, max_length=32)
    seconds: int = Field(default=0)  # the time allowed, 0 for untimed
    questions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    started: datetime = Field(default_factory=_now)
    finished: datetime | None = Field(default=None)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class QuizAnswer(SQLModel, table=True):
    """One graded answer, for the progress chart."""

    __tablename__ = "quiz_answer"

    id: int | None = Field(default=None, primary_key=True)
    learner: str = Field(index=True, max_length=64)
    run_id: str = Field(max_length=32)
    question: str = Field(max_length=80)
    topic: str = Field(max_length=32)
    correct: bool
    answered: datetime = Field(default_factory=_now)


class QuizBox(SQLModel, table=True):
    """Where a question stands in the learner's Leitner boxes, and when it is due again."""

    __tablename__ = "quiz_box"
    __table_args__ = (UniqueConstraint("learner", "question"),)

    id: int | None = Field(default=None, primary_key=True)
    learner: str = Field(index=True, max_length=64)
    question: str = Field(max_length=80)
    topic: str = Field(max_length=32)
    box: int = Field(default=1)
    due: datetime = Field(default_factory=_now)

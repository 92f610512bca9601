"""Table models of live classroom sessions (migration 0003 mirrors them).

Everything a session knows lives here, never in a worker's memory: any worker answers any
teacher or student, and a poll reads the `version` to tell whether anything changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class Classroom(SQLModel, table=True):
    """One live session. `teacher` is the SHA-256 of the teacher's token; `version` grows on
    every push, lock, reveal or end (students poll it); `number` is the current item's."""

    __tablename__ = "classroom"

    id: str = Field(primary_key=True, max_length=32)
    code: str = Field(index=True, unique=True, max_length=8)
    teacher: str = Field(max_length=64)
    created: datetime = Field(default_factory=_now)
    active: datetime = Field(default_factory=_now)
    ended: bool = Field(default=False)
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default="1"))
    number: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))


class ClassroomItem(SQLModel, table=True):
    """What the teacher pushed as item `number`: a packet to watch or a question."""

    __tablename__ = "classroom_item"
    __table_args__ = (UniqueConstraint("classroom_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    classroom_id: str = Field(index=True, max_length=32)
    number: int
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    locked: bool = Field(default=False)
    revealed: bool = Field(default=False)
    created: datetime = Field(default_factory=_now)


class ClassroomStudent(SQLModel, table=True):
    """A student who joined with a nickname; `token` is the SHA-256 of their cookie."""

    __tablename__ = "classroom_student"

    id: str = Field(primary_key=True, max_length=32)
    classroom_id: str = Field(index=True, max_length=32)
    nickname: str = Field(max_length=40)
    token: str = Field(index=True, unique=True, max_length=64)
    joined: datetime = Field(default_factory=_now)


class ClassroomAnswer(SQLModel, table=True):
    """A student's answer to item `number`; answering again replaces it until the lock."""

    __tablename__ = "classroom_answer"
    __table_args__ = (UniqueConstraint("classroom_id", "number", "student_id"),)

    id: int | None = Field(default=None, primary_key=True)
    classroom_id: str = Field(index=True, max_length=32)
    number: int
    student_id: str = Field(max_length=32)
    choice: str = Field(max_length=64)
    at: datetime = Field(default_factory=_now)

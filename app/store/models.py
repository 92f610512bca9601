"""Table models, all in one place (the migrations under `migrations/versions/` mirror them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Integer
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class Lab(SQLModel, table=True):
    """One learner's lab: the cluster, mode, rule edits and conntrack state, stored as data.

    `token` is the capability that opens the lab (see CONTRACTS.md, HTTP API); `data` holds the
    serialised engine state, whose shape the simulation owns.
    """

    __tablename__ = "lab"

    id: str = Field(primary_key=True, max_length=32)
    token: str = Field(index=True, unique=True, max_length=64)
    created: datetime = Field(default_factory=_now)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Optimistic concurrency: a write names the version it read and fails if another won.
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default="1"))
    # The SHA-256 of the creator's session cookie (None for a lab made by a script).
    owner: str | None = Field(default=None, index=True, max_length=64)
    updated: datetime = Field(default_factory=_now)
    # Commands per minute, counted here so every worker sees the same count.
    rate_minute: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    rate_count: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )


class LabShare(SQLModel, table=True):
    """A frozen copy of a lab's recipe, opened read-only by anyone who has the link's token."""

    __tablename__ = "lab_share"

    token: str = Field(primary_key=True, max_length=64)
    lab_id: str = Field(max_length=32)
    created: datetime = Field(default_factory=_now)
    recipe: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# Features keep their tables in modules of their own; importing them here puts every table in
# SQLModel.metadata wherever the models are loaded (the migrations' drift check relies on it).
from app.store import app_secret, classroom, lessons, quiz  # noqa: E402, F401

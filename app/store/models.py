"""Table models, all in one place (the migrations under `migrations/versions/` mirror them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column
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

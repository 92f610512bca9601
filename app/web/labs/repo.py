"""Lab rows in the database: create, find for a caller, save with a version check, count
commands per minute, and freeze a recipe behind a share link.

Every operation is one short transaction, so several workers can serve the same lab: a save
names the version it read (`UPDATE ... WHERE version = :read`) and fails when another worker
saved first, instead of silently overwriting that edit.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, case, or_, update
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from app.store.models import Lab as LabRow
from app.store.models import LabShare
from app.web.labs.identity import Caller, digest, new_id, new_secret


class Conflict(Exception):
    """Another request saved the lab since this one read it."""


def _now() -> datetime:
    return datetime.now(UTC)


def create(engine: Engine, data: dict[str, Any], owner: str | None) -> tuple[LabRow, str]:
    """A new lab row holding `data`; returns it and the bearer token (shown once, stored hashed)."""
    token = new_secret()
    row = LabRow(id=new_id(), token=digest(token), data=data, owner=owner, version=1)
    with Session(engine, expire_on_commit=False) as session:
        session.add(row)
        session.commit()
    return row, token


def find(engine: Engine, lab_id: str, who: Caller, *, data: bool = True) -> LabRow | None:
    """The lab if `who` may open it (its token or its creator's session), else None.

    Without `data` the row's stored lab is not read (it cannot be read later either): what a
    request needs to find a lab already rebuilt in this process (see cache.py)."""
    if len(lab_id) > 32 or (who.session is None and who.token is None):
        return None
    allowed = []
    if who.token is not None:
        allowed.append(col(LabRow.token) == who.token)
    if who.session is not None:
        allowed.append(col(LabRow.owner) == who.session)
    query = select(LabRow).where(col(LabRow.id) == lab_id, or_(*allowed))
    if not data:
        query = query.options(defer(LabRow.data))  # type: ignore[arg-type]
    with Session(engine, expire_on_commit=False) as session:
        return session.exec(query).first()


def latest_for(engine: Engine, owner: str | None, *, data: bool = True) -> LabRow | None:
    """The session's most recently used lab (what `/lab` opens); without `data`, as `find`."""
    if owner is None:
        return None
    query = (
        select(LabRow)
        .where(col(LabRow.owner) == owner)
        .order_by(col(LabRow.updated).desc(), col(LabRow.created).desc())
    )
    if not data:
        query = query.options(defer(LabRow.data))  # type: ignore[arg-type]
    with Session(engine, expire_on_commit=False) as session:
        return session.exec(query).first()


def save(engine: Engine, row: LabRow, data: dict[str, Any], *, count: bool = False) -> int:
    """Store `data` if the row is still at the version `row` was read at; the new version.
    With `count`, the same statement counts one command in the current minute (one commit
    where count_command and save made two)."""
    values: dict[str, Any] = {"data": data, "version": row.version + 1, "updated": _now()}
    if count:
        values |= _counted(int(time.time() // 60))
    statement = (
        update(LabRow)
        .where(col(LabRow.id) == row.id, col(LabRow.version) == row.version)
        .values(**values)
    )
    with Session(engine) as session:
        result = session.exec(statement)
        session.commit()
    if result.rowcount != 1:
        raise Conflict(row.id)
    row.version += 1
    row.data = data
    return row.version


def touch(engine: Engine, row: LabRow) -> None:
    """Mark the lab as the session's current one without changing its content."""
    with Session(engine) as session:
        session.exec(update(LabRow).where(col(LabRow.id) == row.id).values(updated=_now()))
        session.commit()


def count_command(engine: Engine, lab_id: str, now: float | None = None) -> tuple[int, int]:
    """Count one command in the current minute; returns (commands so far, seconds left)."""
    now = time.time() if now is None else now
    statement = update(LabRow).where(col(LabRow.id) == lab_id).values(**_counted(int(now // 60)))
    # One statement (UPDATE ... RETURNING: SQLite 3.35+, PostgreSQL), not UPDATE then SELECT.
    with Session(engine) as session:
        count = session.execute(statement.returning(col(LabRow.rate_count))).scalar()
        session.commit()
    return int(count or 0), 60 - int(now % 60)


def _counted(minute: int) -> dict[str, Any]:
    """The column values that count one more command in `minute` (the first of a new one)."""
    return {
        "rate_count": case(
            (col(LabRow.rate_minute) == minute, col(LabRow.rate_count) + 1), else_=1
        ),
        "rate_minute": minute,
    }


def share(engine: Engine, row: LabRow, recipe: dict[str, Any]) -> str:
    """Freeze `recipe` behind a new share token and return the token."""
    token = new_secret()
    with Session(engine) as session:
        session.add(LabShare(token=token, lab_id=row.id, recipe=recipe))
        session.commit()
    return token


def shared(engine: Engine, token: str) -> LabShare | None:
    if len(token) > 64:
        return None
    with Session(engine, expire_on_commit=False) as session:
        return session.get(LabShare, token)

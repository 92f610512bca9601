"""Table model of the server's own secrets (migration 0006 mirrors it), and the one function
that reads or creates them.

The CSRF tokens are HMACs keyed by a secret that every worker and every process serving the
same database must share; keeping it in that database (first writer wins) gives them all the
same key without any configuration. `KPL_SECRET_KEY` overrides it (app/web/security.py).
"""

from __future__ import annotations

import secrets

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel


class AppSecret(SQLModel, table=True):
    __tablename__ = "app_secret"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=128)


def get_or_create(engine: Engine, name: str) -> str:
    """The secret called `name`; the first process to ask creates it, the others read it."""
    with Session(engine) as session:
        row = session.get(AppSecret, name)
        if row is not None:
            return row.value
        session.add(AppSecret(name=name, value=secrets.token_urlsafe(48)))
        try:
            session.commit()
        except IntegrityError:
            # Another worker inserted it between our read and our write: theirs wins.
            session.rollback()
    with Session(engine) as session:
        row = session.get(AppSecret, name)
        assert row is not None  # committed by us or by the worker that won the race
        return row.value

"""Fixtures shared by every test directory: the database the app runs on.

`database_url` is parametrized over SQLite and PostgreSQL, so a test that takes it (directly or
through the web `client`) runs once on each. PostgreSQL comes from `KPL_TEST_POSTGRES_URL`
(the Makefile starts a loopback server with scripts/postgres.sh and exports it); each test gets a
database of its own, created empty and dropped afterwards. Without the variable those runs skip,
giving the reason the Makefile recorded in `KPL_TEST_POSTGRES_SKIP`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pg_admin import create_database, drop_database
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

POSTGRES_ENV = "KPL_TEST_POSTGRES_URL"
DATABASES = ["sqlite", "postgresql"]


def postgres_base_url() -> str:
    """The URL of the PostgreSQL server's own `kpl` database, or skip the test saying why."""
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        reason = os.environ.get("KPL_TEST_POSTGRES_SKIP") or (
            f"{POSTGRES_ENV} is not set (run `make test`, or scripts/postgres.sh start and "
            f"export {POSTGRES_ENV}=$(scripts/postgres.sh url))"
        )
        pytest.skip(f"PostgreSQL: {reason}")
    return url


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, and drop it afterwards."""
    base = make_url(postgres_base_url())
    name = f"kpl_t_{secrets.token_hex(6)}"
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        create_database(admin, name)
    except Exception as error:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {base.render_as_string()} cannot create a database: {error}")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        drop_database(admin, name)  # also closes connections a test's engine may still hold
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped when the test ends."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for one test: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database shared by one module's tests (for costly set-ups such as
    starting real server processes), dropped after the module."""
    with fresh_postgres_database() as url:
        yield url

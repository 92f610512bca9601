"""Engine, sessions, migrations and the readiness probe for the database at `DATABASE_URL`.

Migrations run at start-up (`migrate`) under a file lock, and on PostgreSQL an advisory lock as
well, so several workers (on one machine or several) starting at once do not race to create the
same tables.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlmodel import Session, create_engine

from app.config import default_database_url, normalize_database_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)
#: PostgreSQL advisory lock key held while migrating (any fixed 64-bit number: "kplmigr1").
MIGRATE_LOCK = 0x6B706C6D69677231


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite connections may be used by the threadpool FastAPI runs in."""
    url = normalize_database_url(url)
    if url == default_database_url():
        # The default file lives under var/, which a fresh clone does not have yet.
        Path(make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
    if not url.startswith("sqlite"):
        # Sessions in UTC, whatever the server's default zone: server-side defaults such as
        # current_timestamp and any timestamp rendered as text then match what the app writes.
        engine = create_engine(url, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})
        event.listen(engine, "handle_error", _nul_is_unstorable)
        return engine
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class UnstorableText(ValueError):
    """Input text holds a NUL character, which PostgreSQL can neither store nor compare."""


def _nul_is_unstorable(context: ExceptionContext) -> None:
    # SQLite takes "\x00" in a string like any other character, so a lab id of "%00" is simply
    # not found there; PostgreSQL refuses the whole statement (psycopg raises DataError before
    # sending it). Naming the cause lets the web layer answer 422 instead of a 500.
    original = context.original_exception
    if type(original).__name__ == "DataError" and "NUL (0x00)" in str(original):
        raise UnstorableText(str(original)) from original


def _sqlite_pragmas(connection, _record) -> None:  # type: ignore[no-untyped-def]
    # Several workers share one file: WAL lets readers run beside a writer, and busy_timeout
    # makes a writer wait for the lock instead of failing with "database is locked"
    # (https://sqlite.org/wal.html, https://sqlite.org/pragma.html#pragma_busy_timeout).
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    # FULL rather than the NORMAL usual with WAL: NORMAL loses no commit when a process dies
    # (the WAL is in the OS's cache) but may lose the last ones at a power cut; FULL fsyncs the
    # WAL at every commit (about 0.25 ms here) so an acknowledged edit survives that too.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(url: str) -> Config:
    """An Alembic config that needs no alembic.ini, so start-up works from any directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would read a '%' in a password as a reference.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"kube-proxy-lab-migrate-{digest}.lock"
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is already there)."""
    url = engine.url.render_as_string(hide_password=False)
    cfg = alembic_config(url)
    with _migration_lock(url), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # The file lock only orders processes on this machine; servers on other machines
            # share a PostgreSQL database too. A transaction-level advisory lock makes them
            # migrate one after another (PostgreSQL's DDL is transactional, so the lock and
            # the new tables are released together, at commit).
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def ping(engine: Engine) -> None:
    """Raise unless the database answers and carries the migrated schema."""
    with engine.connect() as connection:
        connection.execute(text("SELECT version_num FROM alembic_version")).first()


def session_scope(engine: Engine) -> Iterator[Session]:
    """One session per request (used as a FastAPI dependency)."""
    with Session(engine) as session:
        yield session

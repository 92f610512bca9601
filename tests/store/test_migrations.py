"""Alembic migrations on a fresh database, SQLite and PostgreSQL: they create the tables the models
describe, run again as a no-op, and go down to nothing and back up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import Session, SQLModel, select

from app.store.db import alembic_config, make_engine, migrate, ping
from app.store.models import Lab


def test_migration_creates_the_lab_table(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    tables = inspect(engine).get_table_names()
    assert "lab" in tables
    columns = {column["name"] for column in inspect(engine).get_columns("lab")}
    assert {"id", "token", "created", "data", "version", "owner", "updated"} <= columns
    ping(engine)


def test_migration_is_idempotent_and_reversible(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)
    command.downgrade(alembic_config(database_url), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_upgrade_downgrade_upgrade_leaves_a_working_schema(database_url: str) -> None:
    # Every downgrade must undo its upgrade exactly (indexes included), or the second upgrade
    # fails on an object that is still there.
    engine = make_engine(database_url)
    migrate(engine)
    command.downgrade(alembic_config(database_url), "base")
    migrate(engine)
    ping(engine)
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    with Session(engine) as session:
        session.add(Lab(id="again", token="a" * 43, data={"mode": "ipvs"}))
        session.commit()
    with Session(engine) as session:
        assert session.exec(select(Lab)).one().data == {"mode": "ipvs"}
    engine.dispose()


def test_a_lab_round_trips_with_its_json_data(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    state = {"mode": "iptables", "pods": [{"name": "web-1", "ip": "10.244.1.7"}]}
    with Session(engine) as session:
        session.add(Lab(id="lab1", token="t" * 43, data=state))
        session.commit()
    with Session(engine) as session:
        lab = session.exec(select(Lab).where(Lab.token == "t" * 43)).one()
        assert lab.data == state
        assert lab.created is not None


def test_a_writer_commits_while_another_worker_is_reading(tmp_path: Path) -> None:
    # Several workers share the file. In SQLite's default rollback-journal mode a COMMIT needs
    # the file to itself and fails with "database is locked" while a read is open; in WAL mode
    # (https://sqlite.org/wal.html) it goes through, and the reader keeps its snapshot.
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    migrate(engine)
    with engine.connect() as reader, engine.connect() as writer:
        reader.exec_driver_sql("BEGIN")
        assert reader.exec_driver_sql("SELECT count(*) FROM lab").scalar() == 0
        writer.exec_driver_sql("BEGIN IMMEDIATE")
        writer.exec_driver_sql(
            "INSERT INTO lab (id, token, created, data) VALUES ('a', 'tok', '2026-01-01', '{}')"
        )
        writer.exec_driver_sql("COMMIT")
        assert reader.exec_driver_sql("SELECT count(*) FROM lab").scalar() == 0
        reader.exec_driver_sql("COMMIT")
        assert reader.exec_driver_sql("SELECT count(*) FROM lab").scalar() == 1


def test_the_migrations_match_the_models(database_url: str) -> None:
    # A model changed without a migration would leave real databases behind the code.
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []

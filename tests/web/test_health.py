"""Liveness and readiness probes, against real SQLite files (reachable or not)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

# Unreachable SQLite files; PostgreSQL's outage is in test_workers_readiness.py.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_healthz_answers_ok(client: TestClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_readyz_is_ok_once_the_database_is_migrated(client: TestClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


@sqlite_only
def test_readyz_is_503_when_the_database_cannot_be_opened(make_client, tmp_path: Path) -> None:
    # A regular file where a directory should be: SQLite cannot create the database, even as root.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    client: TestClient = make_client(f"sqlite:///{blocker / 'lab.sqlite3'}")
    assert client.get("/healthz").status_code == 200  # alive all the same
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"


@sqlite_only
def test_readyz_recovers_when_the_database_comes_back(make_client, tmp_path: Path) -> None:
    home = tmp_path / "later"
    client: TestClient = make_client(f"sqlite:///{home / 'lab.sqlite3'}")
    assert client.get("/readyz").status_code == 503
    home.mkdir()
    assert client.get("/readyz").status_code == 200
    assert (home / "lab.sqlite3").exists()

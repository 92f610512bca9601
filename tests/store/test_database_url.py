"""DATABASE_URL as operators write it: `postgres://` and `postgresql://` (libpq's and hosting
platforms' spelling) reach PostgreSQL through psycopg 3, the driver the app ships."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.web.app import create_app


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://kpl:pw@db:5432/kpl", "postgresql+psycopg://kpl:pw@db:5432/kpl"),
        (
            "postgresql://kpl:pw@db/kpl?sslmode=require",
            "postgresql+psycopg://kpl:pw@db/kpl?sslmode=require",
        ),
        ("postgresql+psycopg://kpl@db/kpl", "postgresql+psycopg://kpl@db/kpl"),
        ("postgresql+psycopg2://kpl@db/kpl", "postgresql+psycopg2://kpl@db/kpl"),
        ("sqlite:////srv/kpl.sqlite3", "sqlite:////srv/kpl.sqlite3"),
    ],
)
def test_the_url_names_the_shipped_driver(given: str, used: str) -> None:
    assert Settings(database_url=given).database_url == used


def test_a_plain_postgresql_url_serves(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    monkeypatch.setenv("DATABASE_URL", plain)
    with TestClient(create_app(Settings())) as client:
        assert client.get("/readyz").status_code == 200
        assert client.post("/api/labs", json={"scenario": "seed"}).status_code == 201

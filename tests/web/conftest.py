"""Web fixtures: an app on its own temporary SQLite file, driven through FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.web.app import create_app


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Build a started client for a given DATABASE_URL (default: a fresh file in tmp_path)."""
    opened: list[TestClient] = []

    def make(database_url: str | None = None) -> TestClient:
        url = database_url or f"sqlite:///{tmp_path / 'web.sqlite3'}"
        app: FastAPI = create_app(Settings(database_url=url))
        client = TestClient(app)
        client.__enter__()  # runs the lifespan: migrations at start-up
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()

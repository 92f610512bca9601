"""Web fixtures: an app on a fresh database, driven through FastAPI's TestClient.

`client` and `make_client()` without a URL use the `database_url` fixture (tests/conftest.py),
so every web test runs twice: on an SQLite file and on a PostgreSQL database of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from csrf_client import CsrfClient
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.web.app import create_app


@pytest.fixture
def make_client(database_url: str) -> Iterator[Callable[..., TestClient]]:
    """Build a started client for a given DATABASE_URL (default: this test's fresh database)."""
    opened: list[TestClient] = []

    def make(url: str | None = None) -> TestClient:
        app: FastAPI = create_app(Settings(database_url=url or database_url))
        client = CsrfClient(app)  # sends the CSRF token the app's pages carry
        client.__enter__()  # runs the lifespan: migrations at start-up
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()

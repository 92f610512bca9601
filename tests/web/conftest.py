"""Web fixtures: an app on a fresh database, driven through FastAPI's TestClient.

`client` and `make_client()` without a URL use the `database_url` fixture (tests/conftest.py),
so a web test runs twice: on an SQLite file and on a PostgreSQL database of its own (except the
modules in SQLITE_ONLY, which store nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from csrf_client import CsrfClient
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.web.app import create_app

#: Modules whose pages read and store nothing in the database (the trace form, static pages,
#: language negotiation, error pages, charts): a PostgreSQL run of them would only repeat the
#: SQLite one, so they run on SQLite alone and keep the whole suite's time down. Any other
#: module, including a new one, runs on both.
SQLITE_ONLY = {
    "test_charts.py",
    "test_errors_and_docs.py",
    "test_language.py",
    "test_pages.py",
    "test_trace_page.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skipped = [
        item
        for item in items
        if item.path.name in SQLITE_ONLY
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("database_url") == "postgresql"  # type: ignore[attr-defined]
    ]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        gone = set(skipped)
        items[:] = [item for item in items if item not in gone]


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

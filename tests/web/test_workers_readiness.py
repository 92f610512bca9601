"""A worker on PostgreSQL whose database is unreachable is alive but not ready: /healthz 200,
/readyz 503, a lab request 503 with Retry-After (never a 500); it is ready again, with the data
intact, as soon as the database accepts connections again.

The shared test server is not stopped (other tests use it): the test database refuses new
connections (ALTER DATABASE ... ALLOW_CONNECTIONS false) and the app's open ones are ended,
which is what the app sees when the server goes down.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.web.app import create_app


@pytest.fixture
def started() -> Iterator[list[TestClient]]:
    clients: list[TestClient] = []
    yield clients
    for client in clients:
        client.__exit__(None, None, None)


def _client(url: str, started: list[TestClient]) -> TestClient:
    client = TestClient(create_app(Settings(database_url=url)))
    client.__enter__()
    started.append(client)
    return client


def test_readyz_is_503_when_postgresql_does_not_listen(started: list[TestClient]) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = _client(f"postgresql+psycopg://kpl:kpl@127.0.0.1:{port}/kpl", started)
    assert client.get("/healthz").status_code == 200
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"


def test_readyz_follows_postgresql_going_away_and_coming_back(
    postgres_url: str, started: list[TestClient]
) -> None:
    client = _client(postgres_url, started)
    assert client.get("/readyz").status_code == 200
    made = client.post("/api/labs", json={"scenario": "seed"})
    assert made.status_code == 201
    lab = made.json()
    auth = {"Authorization": f"Bearer {lab['token']}"}

    name = make_url(postgres_url).database
    admin = create_engine(postgres_url.rsplit("/", 1)[0] + "/kpl", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
        refused = client.get(f"/api/labs/{lab['id']}", headers={**auth, "Accept-Language": "zh"})
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "2"
        assert "数据库此刻繁忙" in refused.json()["detail"]
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()

    assert client.get("/readyz").status_code == 200
    again = client.get(f"/api/labs/{lab['id']}", headers=auth)
    assert again.status_code == 200 and again.json()["version"] == 1


def test_a_request_that_finds_every_pooled_connection_busy_is_a_503(
    database_url: str, started: list[TestClient]
) -> None:
    # A burst larger than the connection pool: past the pool's timeout the request is told to
    # retry (503 + Retry-After), as for a database that is down, not given a 500.
    client = _client(database_url, started)
    made = client.post("/api/labs", json={"scenario": "seed"}).json()
    auth = {"Authorization": f"Bearer {made['token']}"}
    app = client.app
    normal = app.state.engine  # type: ignore[attr-defined]
    tiny = create_engine(normal.url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    app.state.engine = tiny  # type: ignore[attr-defined]
    try:
        with tiny.connect():  # the only connection, held by "another request"
            answer = client.get(f"/api/labs/{made['id']}", headers=auth)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "2"
        assert client.get(f"/api/labs/{made['id']}", headers=auth).status_code == 200
    finally:
        app.state.engine = normal  # type: ignore[attr-defined]
        tiny.dispose()

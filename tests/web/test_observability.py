"""Request ids, the JSON access log, error logs that carry the id, and `/metrics`: what an
operator relies on to follow one learner's request and to chart the class's load."""

from __future__ import annotations

import io
import json
import logging
import platform
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlmodel import Session

from app.config import Settings
from app.store.models import Lab as LabRow
from app.web.app import create_app
from app.web.jsonlog import JsonFormatter, TextFormatter

ACCESS_FIELDS = {
    "ts",
    "level",
    "logger",
    "msg",
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "worker_pid",
}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def new_lab(client: TestClient, mode: str = "iptables") -> tuple[str, dict[str, str]]:
    made = client.post("/api/labs", json={"scenario": "seed", "mode": mode})
    assert made.status_code == 201
    lab = made.json()
    return lab["id"], {"Authorization": f"Bearer {lab['token']}"}


@pytest.fixture
def json_log(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[dict]]]:
    """Every log record at INFO and above, formatted by `JsonFormatter` as it is emitted (as
    the server's handler does, so the request id comes from the request's own context)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "kube_proxy_lab.access"]


def test_a_sane_request_id_comes_back(client: TestClient) -> None:
    answer = client.get("/healthz", headers={"X-Request-ID": "lesson-3.step_2:retry"})
    assert answer.headers["X-Request-ID"] == "lesson-3.step_2:retry"


def test_without_a_request_id_each_request_gets_a_new_one(client: TestClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(first) and GENERATED_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "hostile",
    [
        b"a" * 129,
        b"",
        b"two words",
        b'"}{"injected":1',
        b"<script>alert(1)</script>",
        b"-starts-with-a-dash",
        "caf\u00e9".encode("latin-1"),
        b"tab\there",
    ],
)
def test_a_hostile_request_id_is_replaced(client: TestClient, hostile: bytes) -> None:
    answer = client.get("/healthz", headers={"X-Request-ID": hostile})
    assert answer.status_code == 200
    assert GENERATED_ID.fullmatch(answer.headers["X-Request-ID"])


def test_the_access_log_is_one_json_object_with_the_route_template(
    client: TestClient, json_log: Callable[[], list[dict]]
) -> None:
    lab_id, auth = new_lab(client)
    hostile = "x%22%0A%7B%22status%22:200%7D<script>"  # a newline and JSON, URL-encoded
    done = len(json_log())
    sent = client.post(
        f"/api/labs/{lab_id}/requests",
        json={"to": "svc/my-first-deploy:8080", "count": 2},
        headers={**auth, "X-Request-ID": "req-1"},
    )
    missing = client.get(f"/api/labs/{hostile}", headers=auth)
    assert sent.status_code == 200 and missing.status_code == 404
    asset = client.get("/static/css/app.css?v=<script>")
    assert asset.status_code == 200
    first, second, third = access_lines(json_log()[done:])
    assert (third["path"], third["status"]) == ("/static", 200)  # the mount, not the file
    assert set(first) == ACCESS_FIELDS
    assert first["request_id"] == "req-1"
    assert (first["method"], first["path"], first["status"]) == (
        "POST",
        "/api/labs/{lab_id}/requests",
        200,
    )
    assert first["level"] == "INFO" and first["logger"] == "kube_proxy_lab.access"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] > 0
    assert isinstance(first["worker_pid"], int)
    datetime.fromisoformat(first["ts"])
    # Neither the lab id nor what a client typed into the URL reaches the log.
    assert (second["path"], second["status"]) == ("/api/labs/{lab_id}", 404)
    assert second["request_id"] == missing.headers["X-Request-ID"]
    for line in json_log():
        if line["logger"] != "httpx":  # the test's own HTTP client, not the server
            assert lab_id not in json.dumps(line) and "<script>" not in json.dumps(line)


def test_text_log_lines_carry_the_request_id() -> None:
    record = logging.makeLogRecord({"name": "x", "msg": "hello", "request_id": "abc"})
    assert TextFormatter().format(record).endswith("x: hello request_id=abc")


@pytest.fixture
def failing_client(make_client) -> TestClient:
    """The app with one route that fails as a defect would: the 500 path."""
    client = make_client()

    def broken() -> None:
        raise RuntimeError("a defect")

    client.app.add_api_route("/test-broken", broken)
    return TestClient(client.app, raise_server_exceptions=False)


def test_a_500_is_logged_and_answered_with_the_request_id(
    failing_client: TestClient, json_log: Callable[[], list[dict]]
) -> None:
    labels = {"method": "GET", "route": "/test-broken", "status": "5xx"}
    before = value(samples(failing_client), "kpl_http_requests_total", **labels)
    answer = failing_client.get(
        "/test-broken", headers={"X-Request-ID": "boom-7", "Accept-Language": "zh-CN"}
    )
    assert answer.status_code == 500
    assert answer.headers["X-Request-ID"] == "boom-7"
    assert "boom-7" in answer.json()["detail"] and "请求编号" in answer.json()["detail"]
    errors = [line for line in json_log() if line["logger"] == "app.web.errors"]
    assert [(e["level"], e["request_id"]) for e in errors] == [("ERROR", "boom-7")]
    assert "RuntimeError" in errors[0]["msg"]
    (access,) = [line for line in access_lines(json_log()) if line["path"] == "/test-broken"]
    assert (access["status"], access["request_id"]) == (500, "boom-7")
    assert value(samples(failing_client), "kpl_http_requests_total", **labels) == before + 1


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[TestClient]:
    """SQLite only: the test below holds the file's write lock from outside."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'busy.sqlite3'}"))
    with TestClient(app) as client:
        yield client


def test_a_busy_database_503_is_logged_with_the_request_id(
    sqlite_client: TestClient, tmp_path: Path, json_log: Callable[[], list[dict]]
) -> None:
    client, database = sqlite_client, tmp_path / "busy.sqlite3"
    lab_id, auth = new_lab(client)
    holder = sqlite3.connect(database, timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the lock past busy_timeout
    try:
        answer = client.post(
            f"/api/labs/{lab_id}/commands",
            json={"command": "kubectl scale deployment/my-first-deploy --replicas=3"},
            headers={**auth, "X-Request-ID": "busy-1"},
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answer.status_code == 503
    assert answer.headers["X-Request-ID"] == "busy-1"
    busy = [line for line in json_log() if line["logger"] == "app.web.errors"]
    assert [(line["level"], line["request_id"]) for line in busy] == [("WARNING", "busy-1")]
    assert "locked" in busy[0]["msg"]


def test_metrics_count_requests_and_traced_packets(client: TestClient) -> None:
    lab_id, auth = new_lab(client)
    ipvs_id, ipvs_auth = new_lab(client, mode="ipvs")
    before = samples(client)
    for _ in range(2):
        sent = client.post(
            f"/api/labs/{lab_id}/requests",
            json={"to": "svc/my-first-deploy:8080", "count": 7},
            headers=auth,
        )
        assert sent.status_code == 200
    sent = client.post(
        f"/api/labs/{ipvs_id}/requests",
        json={"to": "svc/my-first-deploy:8080", "count": 3},
        headers=ipvs_auth,
    )
    assert sent.status_code == 200
    refused = client.post(
        f"/api/labs/{lab_id}/requests",
        json={"to": "svc/my-first-deploy:8080", "count": 0},
        headers=auth,
    )
    assert refused.status_code == 422
    after = samples(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("kpl_traces_total", mode="iptables") == 14
    assert delta("kpl_traces_total", mode="ipvs") == 3
    route = {"method": "POST", "route": "/api/labs/{lab_id}/requests"}
    assert delta("kpl_http_requests_total", **route, status="2xx") == 3
    assert delta("kpl_http_requests_total", **route, status="4xx") == 1
    assert delta("kpl_http_request_duration_seconds_count", **route, status="2xx") == 3
    assert delta("kpl_http_request_duration_seconds_bucket", **route, status="2xx", le="+Inf") == 3
    build = {"version": "0.1.0", "python": platform.python_version()}
    assert value(after, "kpl_build_info", **build) == 1
    # Labels hold route templates and fixed words only: no lab id anywhere.
    for _, labels in after:
        assert all(lab_id not in text and ipvs_id not in text for _, text in labels)


def test_active_labs_counts_a_new_lab_and_forgets_an_idle_one(client: TestClient) -> None:
    before = value(samples(client), "kpl_active_labs")
    lab_id, _ = new_lab(client)
    assert value(samples(client), "kpl_active_labs") == before + 1
    idle = datetime.now(UTC) - timedelta(hours=1)
    with Session(client.app.state.engine) as session:
        session.exec(update(LabRow).where(LabRow.id == lab_id).values(updated=idle, rate_minute=0))
        session.commit()
    assert value(samples(client), "kpl_active_labs") == before

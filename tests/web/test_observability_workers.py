"""`kube-proxy-lab serve --workers 2`, a real server: its stderr is JSON lines only (uvicorn's
own access log is off), and `/metrics`, whichever worker answers, sums both workers' counts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import ROOT

MAX_REQUESTS = 400  # bounded: stop sending once both workers have answered
DEADLINE = 60.0  # seconds for the whole exchange, start-up included


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Two workers on a loopback port and a fresh SQLite file; yields (base URL, stderr file)."""
    port = _free_port()
    log = tmp_path / "stderr.log"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'workers.sqlite3'}",
        "KPL_LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # serve makes its own
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"the server did not become ready in 30 s:\n{log.read_text()}")
        yield base, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _lines(log: Path) -> list[dict]:
    text = log.read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _healthz_pids(log: Path) -> set[int]:
    return {
        line["worker_pid"]
        for line in _lines(log)
        if line["logger"] == "kube_proxy_lab.access" and line["path"] == "/healthz"
    }


def _healthz_total(base: str) -> float:
    # A new connection each time, so either worker may answer the scrape.
    text = httpx.get(f"{base}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "kpl_http_requests_total" and sample.labels.get("route") == (
                "/healthz"
            ):
                return sample.value
    return 0.0


def test_two_workers_log_json_and_metrics_sum_both(server: tuple[str, Path]) -> None:
    base, log = server
    deadline = time.monotonic() + DEADLINE
    sent = 0

    def one(_: int) -> int:
        # A fresh connection per request: the kernel hands each to whichever worker accepts.
        return httpx.get(f"{base}/healthz", timeout=5).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        while sent < MAX_REQUESTS and time.monotonic() < deadline:
            assert set(pool.map(one, range(40))) == {200}
            sent += 40
            if len(_healthz_pids(log)) == 2:
                break
    assert len(_healthz_pids(log)) == 2, "one worker answered every request"

    # Each worker counts after its answer is sent: wait (bounded) for the last increments.
    totals = []
    while time.monotonic() < deadline:
        totals = [_healthz_total(base) for _ in range(4)]
        if totals == [sent] * 4:
            break
        time.sleep(0.1)
    assert totals == [sent] * 4  # every scrape, by either worker, sums both workers

    lines = _lines(log)  # every line of stderr parses as JSON
    assert all({"ts", "level", "logger", "msg", "worker_pid"} <= set(line) for line in lines)
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    access = [line for line in lines if line["logger"] == "kube_proxy_lab.access"]
    assert all(len(line["request_id"]) == 32 for line in access)
    assert len({line["request_id"] for line in access}) == len(access)

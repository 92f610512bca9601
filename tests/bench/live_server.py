"""A real uvicorn on 127.0.0.1 for the HTTP benchmarks: a free port, a fresh SQLite file, ready
when /readyz answers, and always stopped at the end (loopback only, bounded in time)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not become ready in 30 s")


@contextmanager
def live_server(workers: int) -> Iterator[str]:
    """Serve the app with `workers` uvicorn workers; yields the base URL."""
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"}
        command = [
            sys.executable, "-m", "uvicorn", "app.web.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning",
            # Browsers reopen a connection the server closed; httpx does not: keep them open.
            "--timeout-keep-alive", "60",
        ]  # fmt: skip
        process = subprocess.Popen(command, env=env, cwd=ROOT)
        try:
            _wait_ready(process, port)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

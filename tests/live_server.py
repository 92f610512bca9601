"""A real server process on 127.0.0.1 for the tests and benchmarks that need one: a free port,
a database of the caller's choice (a fresh SQLite file by default), ready when /readyz answers.

The server runs in a process group of its own, so `Server.kill()` can SIGKILL the supervisor and
every worker at once (what a crash or the OOM killer does), and `Server.stop()` always leaves
nothing behind. Loopback only, bounded in time.

Tests import it as `live_server` (pytest puts tests/ on sys.path for tests/conftest.py), and
so do the benchmarks (tests/bench/run.py puts it there).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A started server: its base URL, its process (the group leader) and its log file."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handler, no flush, no goodbye."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)

    def stop(self) -> None:
        """SIGTERM the group (uvicorn's graceful shutdown), SIGKILL what is left after 15 s."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        # Workers of a killed supervisor may outlive it: make sure the group is gone.
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's output, to show beside a failed assertion."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _cli() -> list[str]:
    """The `kube-proxy-lab` console script beside this interpreter (or its module)."""
    script = Path(sys.executable).with_name("kube-proxy-lab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def start(
    database_url: str, *, workers: int = 1, cli: bool = False, log: Path | None = None
) -> Server:
    """Start a server on a free loopback port and wait until it is ready.

    `cli=True` runs `kube-proxy-lab serve` exactly as an operator would (it migrates first);
    otherwise uvicorn directly, quiet and with long keep-alive, which the benchmarks want.
    """
    port = free_port()
    if cli:
        command = [*_cli(), "serve", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(workers)]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "uvicorn", "app.web.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning",
            # Browsers reopen a connection the server closed; httpx does not: keep them open.
            "--timeout-keep-alive", "60",
        ]  # fmt: skip
    if log is None:
        log = Path(tempfile.mkstemp(prefix="kpl-server-", suffix=".log")[1])
    env = {**os.environ, "DATABASE_URL": database_url}
    with log.open("ab") as out:
        # A session of its own: the group id is the leader's pid, so killpg reaches the workers.
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    _wait_ready(server)
    return server


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(f"{server.base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"the server did not become ready in {READY_SECONDS:.0f} s:\n"
                       f"{server.log_tail()}")  # fmt: skip


@contextmanager
def live_server(workers: int, database_url: str | None = None) -> Iterator[str]:
    """Serve the app with `workers` uvicorn workers (on a fresh SQLite file unless
    `database_url` is given); yields the base URL and always stops the server."""
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        server = start(url, workers=workers, log=Path(tmp) / "server.log")
        try:
            yield server.base
        finally:
            server.stop()

"""Browser harness: the real server in a subprocess and Debian's Chromium driven by Playwright.

Fixtures for any end-to-end test:
- `server_url`: base URL of `kube-proxy-lab serve` on a free loopback port with its own SQLite
  file (session scope; its log is written to `artifacts/server.log`);
- `browser`: headless /usr/bin/chromium (session scope); `page`: a fresh context and page;
- `browser_errors`: the page's uncaught exceptions and console errors (assert it stays empty);
- `screenshot(page, name)`: saves `artifacts/<name>.png` and returns its path.

Playwright's own browser download (`playwright install`) is never used: the tests run the
system Chromium, and skip with the reason when it is absent.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
STARTUP_SECONDS = 30


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is an e2e test, and skips (saying why) without Chromium."""
    missing = pytest.mark.skip(reason=f"{CHROMIUM} is absent: install Debian's chromium package")
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)
            if not CHROMIUM.exists():
                item.add_marker(missing)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"server not healthy after {STARTUP_SECONDS}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `kube-proxy-lab serve` (through `python -m app.cli`) and yield its base URL."""
    port = _free_port()
    database = tmp_path_factory.mktemp("e2e-db") / "lab.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "server.log"
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server_url: str) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies), 1280x720, with `base_url` set."""
    context = browser.new_context(base_url=server_url, viewport={"width": 1280, "height": 720})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def browser_errors(page: Page) -> list[str]:
    """Uncaught exceptions and console errors of `page`, collected while the test runs."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    return errors


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    def take(page: Page, name: str, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take

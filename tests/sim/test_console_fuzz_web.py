"""The console's web endpoints fed the console fuzz's lines (console_fuzz_lines.py):
the lab page's `POST /lab/{id}/run` (what the terminal on the page sends) and the JSON API's
`POST /api/labs/{id}/commands`. Whatever the line, the answer is never a 5xx and never shows
a Python traceback; the API answers 200 with the tool's own words when a command fails.

The labs are opened with their bearer token (a script's credential: no cookie, so no CSRF
token either), and replaced before the per-lab command rate limit is reached.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_fuzz_lines import (
    EXAMPLES,
    FUZZ,
    console_line,
    restore_paste,
    split_key,
)
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.sim.lab import COMMANDS
from app.web.app import create_app
from app.web.labs import service

LINE = st.one_of(
    st.sampled_from(list(COMMANDS)).flatmap(console_line),
    restore_paste(),
    st.tuples(st.just("iptables"), st.text(max_size=200)),
)


def as_browser_sends(text: str) -> str:
    """A form field as a browser encodes it: a lone surrogate becomes U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class Labs:
    """One lab per kube-proxy mode and scenario (a `split_key` key), replaced before it
    reaches the command rate limit."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.open: dict[str, tuple[str, dict[str, str], int]] = {}

    def get(self, mode: str) -> tuple[str, dict[str, str]]:
        lab_id, headers, used = self.open.get(mode, ("", {}, service.COMMANDS_PER_MINUTE))
        if used + 2 > service.COMMANDS_PER_MINUTE:
            self.client.cookies.clear()
            mode_name, scenario = split_key(mode)
            created = self.client.post("/api/labs", json={"mode": mode_name, "scenario": scenario})
            assert created.status_code == 201, created.text
            body = created.json()
            lab_id, headers, used = body["id"], {"Authorization": f"Bearer {body['token']}"}, 0
        self.open[mode] = (lab_id, headers, used + 2)
        self.client.cookies.clear()  # the bearer token alone opens the lab
        return lab_id, headers


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'console.sqlite3'}"))
    with TestClient(app) as started:  # runs the lifespan: migrations at start-up
        yield started


def test_console_endpoints_never_fail_on_any_line(client: TestClient) -> None:
    labs = Labs(client)

    @settings(FUZZ, max_examples=max(10, EXAMPLES // 2))
    @given(LINE, st.sampled_from(["en", "zh"]))
    def check(case: tuple[str, str], lang: str) -> None:
        mode, line = case
        lab_id, headers = labs.get(mode)
        headers = {**headers, "Accept-Language": lang}
        # JSON may carry a lone surrogate as an escape ("\\ud800"); a browser's form cannot
        # (it sends U+FFFD instead)
        api = labs.client.post(
            f"/api/labs/{lab_id}/commands",
            content=json.dumps({"command": line}),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert api.status_code in (200, 422), api.text
        assert "Traceback" not in api.text
        if api.status_code == 200:
            body = api.json()
            assert body["ok"] or body["error"] or body["output"], line
        page = labs.client.post(
            f"/lab/{lab_id}/run",
            data={"command": as_browser_sends(line)},
            headers={**headers, "HX-Request": "true"},
        )
        assert page.status_code < 500, page.text
        assert "Traceback" not in page.text

    check()

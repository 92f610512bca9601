"""/compare and /api/compare over HTTP: four columns, both languages, replay, the scale
figures, and bad input answered with a message (never a 500)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from app.sim.compare import MODE_ORDER
from app.web.app import create_app
from app.web.i18n import translate


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_page_has_four_columns_and_two_charts(client: TestClient, lang: str):
    r = client.get(f"/compare?lang={lang}")
    assert r.status_code == 200
    assert r.text.count('class="compare-col card') == 4
    for mode in ("iptables", "ipvs", "nftables", "userspace"):
        assert translate(lang, f"compare.mode.{mode}") in r.text
    figures = re.findall(r"<script type=\"application/json\" data-figure>(.*?)</script>", r.text)
    assert len(figures) == 2
    first = json.loads(figures[0])
    names = [t["name"] for t in first["data"]]
    assert names == [translate(lang, f"compare.mode.{m}") for m in MODE_ORDER]
    assert first["layout"]["xaxis"]["type"] == "log"


def test_replay_puts_the_modes_trace_in_the_player(client: TestClient):
    r = client.get("/compare?replay=ipvs")
    data = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', r.text)
    assert data is not None
    trace = json.loads(data.group(1))
    assert any(s["kind"] == "ipvs" for s in trace["steps"])


@pytest.mark.parametrize(
    "query",
    ["scenario=nope", "seed=x", "src=pod/nope&dst=svc/my-first-deploy:8080", "src=" + "a" * 300],
)
def test_bad_input_is_a_400_with_a_message(client: TestClient, query: str):
    r = client.get(f"/compare?{query}")
    assert r.status_code == 400
    assert 'class="field-error"' in r.text


def test_api_compare_and_scale(client: TestClient):
    r = client.get("/api/compare", params={"src": "node/node1", "dst": "10.97.139.74:8080"})
    assert r.status_code == 200
    assert [m["mode"] for m in r.json()["modes"]] == ["iptables", "ipvs", "nftables", "userspace"]
    bad = client.get("/api/compare", params={"src": "pod/x", "dst": "svc/y:1"})
    assert bad.status_code == 400 and "not found" in bad.json()["error"]["en"]
    scale = client.get("/api/compare/scale").json()
    assert scale["sizes"] == [10, 100, 1000, 10000]


def test_the_nav_links_the_page(client: TestClient):
    assert 'href="/compare"' in client.get("/").text

"""The lesson page embeds its lab: the cluster view beside the console and the packet player
replaying the console's last curl, both redrawn by the same htmx answer that redraws the step."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from app.web.i18n import translate

HX = {"HX-Request": "true"}
CURL = "curl 10.97.139.74:8080"


def _trace(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', html)
    assert found is not None, "no trace for the player"
    return json.loads(found.group(1))


def _section(html: str, section_id: str) -> str:
    start = html.index(f'<section id="{section_id}"')
    return html[start : html.index("</section>", start)]


def test_lesson_page_shows_the_cluster_and_an_empty_player(client: TestClient) -> None:
    page = client.get("/lessons/chain-walk?lang=en").text
    cluster = _section(page, "cluster")
    assert "my-first-deploy-785c6c79d9-7bgf5" in cluster and "10.244.1.138" in cluster
    assert 'class="badge ok">Ready' in cluster  # the pods' ready badges
    assert "10.97.139.74:8080" in cluster  # the service with its endpoints
    assert "hx-post" not in cluster  # read-only: the console is the one way to change the lab
    player = _section(page, "player")
    assert "run curl in the console" in player and "trace-data" not in player
    assert 'href="/static/css/player' in page and "/static/js/player.js" in page


def test_a_curl_sends_its_trace_to_the_player_in_the_same_answer(client: TestClient) -> None:
    client.get("/lessons/chain-walk?lang=en")
    answer = client.post("/lessons/chain-walk/run", data={"command": CURL}, headers=HX).text
    assert 'id="lesson-step"' in answer and "Step 2 of 2" in answer
    player = _section(answer, "player")
    assert 'hx-swap-oob="true"' in player
    trace = _trace(player)
    assert trace["endpoint"] in ("10.244.1.137:8080", "10.244.1.138:8080")
    chains = [s["chain"] for s in trace["steps"]]
    assert "KUBE-SERVICES" in chains and any(c.startswith("KUBE-SEP-") for c in chains)
    # the console's text path names the same endpoint the player replays
    assert f"<strong>{trace['endpoint']}</strong>" in answer


def test_a_line_without_a_request_keeps_the_last_trace(client: TestClient) -> None:
    client.get("/lessons/chain-walk?lang=en")
    answer = client.post("/lessons/chain-walk/run", data={"command": "kubectl get svc"}, headers=HX)
    assert 'id="player"' not in answer.text  # the player on the page is left as it is
    assert 'id="cluster"' in answer.text


def test_a_kubectl_change_redraws_the_cluster(client: TestClient) -> None:
    client.get("/lessons/chain-walk?lang=en")
    line = "kubectl scale deployment my-first-deploy --replicas=3"
    answer = client.post("/lessons/chain-walk/run", data={"command": line}, headers=HX).text
    cluster = _section(answer, "cluster")
    assert 'hx-swap-oob="true"' in cluster and "3 replicas" in cluster
    assert cluster.count('class="pod-name"') == 3
    assert _section(client.get("/lessons/chain-walk").text, "cluster").count("pod-name") == 3


def test_the_player_speaks_chinese_on_a_chinese_lesson(client: TestClient) -> None:
    client.get("/lessons/chain-walk?lang=zh")
    answer = client.post("/lessons/chain-walk/run", data={"command": CURL}, headers=HX).text
    player = _section(answer, "player")
    assert translate("zh", "lab.player.title") in player
    assert translate("zh", "player.play") in player  # the player's own strings, in Chinese
    assert _trace(player)["steps"][0]["explain"]["zh"]

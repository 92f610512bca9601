"""The per-process cache of rebuilt labs (app/web/labs/cache.py) is invisible: several apps
on one database (as several worker processes) never serve a lab older than its row, a cached
lab continues exactly as one rebuilt from its row would, and concurrent requests on one lab
never share a `Lab` object."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.sim.lab import Lab
from app.web.labs import cache, repo, service
from app.web.labs.cache import LabCache, weight
from app.web.labs.identity import Caller, digest

PACKET = {"from": "external", "to": "svc/my-first-deploy:8080", "proto": "tcp", "count": 1}


def _create(client: TestClient, mode: str = "iptables") -> tuple[str, dict[str, str]]:
    made = client.post("/api/labs", json={"scenario": "seed", "mode": mode})
    assert made.status_code == 201, made.text
    data = made.json()
    return data["id"], {"Authorization": f"Bearer {data['token']}"}


def _send(client: TestClient, lab_id: str, auth: dict[str, str], count: int = 1) -> Any:
    answer = client.post(
        f"/api/labs/{lab_id}/requests", json=PACKET | {"count": count}, headers=auth
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _stored(client: TestClient, lab_id: str, auth: dict[str, str]) -> dict[str, Any]:
    """The lab's data as its row holds it (read past the app, straight from the database)."""
    who = Caller(None, digest(auth["Authorization"].removeprefix("Bearer ")))
    row = repo.find(client.app.state.engine, lab_id, who)
    assert row is not None
    return row.data


def test_a_lab_changed_through_one_app_is_read_fresh_through_another(
    make_client: Callable[..., TestClient],
) -> None:
    one, two = make_client(), make_client()  # two apps, one database: two workers
    lab_id, auth = _create(one)
    for _ in range(3):
        _send(one, lab_id, auth)  # `one` now holds the lab rebuilt, at version 4
    scaled = two.post(
        f"/api/labs/{lab_id}/commands",
        json={"command": "kubectl scale deployment/my-first-deploy --replicas=3"},
        headers=auth,
    )
    assert scaled.status_code == 200 and scaled.json()["ok"], scaled.text

    seen = one.get(f"/api/labs/{lab_id}", headers=auth).json()
    assert seen["version"] == 5
    assert len([p for p in seen["pods"] if p["name"].startswith("my-first-deploy")]) == 3
    # Requests through `one` meet the rules kube-proxy wrote for three endpoints in `two`.
    endpoints = _send(one, lab_id, auth, count=60)["endpoints"]
    assert len(endpoints) == 3
    assert two.get(f"/api/labs/{lab_id}", headers=auth).json()["version"] == 6


@pytest.mark.parametrize("mode", ["iptables", "ipvs", "nftables", "userspace"])
def test_a_cached_lab_continues_as_a_lab_rebuilt_every_request_would(
    make_client: Callable[..., TestClient], mode: str
) -> None:
    """The same steps on two labs: one served by a single app (its cached copy every time),
    one alternating between two apps (so rebuilt from its row every time). Answers and the
    stored labs must be identical."""
    one, two = make_client(), make_client()
    cached_id, cached_auth = _create(one, mode)
    rebuilt_id, rebuilt_auth = _create(one, mode)
    steps: list[dict[str, Any]] = [
        PACKET,
        PACKET | {"count": 7},
        {"command": "kubectl scale deployment/my-first-deploy --replicas=3"},
        PACKET | {"count": 20},
        {"command": "kubectl delete pod -l app=my-first-deploy --wait=false"},
        PACKET | {"count": 5},
        {"command": "conntrack -L"},
        PACKET | {"from": "pod/client", "count": 3},
    ]
    for index, step in enumerate(steps):
        kind = "commands" if "command" in step else "requests"
        cached = one.post(f"/api/labs/{cached_id}/{kind}", json=step, headers=cached_auth)
        other = one if index % 2 else two
        rebuilt = other.post(f"/api/labs/{rebuilt_id}/{kind}", json=step, headers=rebuilt_auth)
        assert cached.status_code == rebuilt.status_code, (step, cached.text, rebuilt.text)
        assert cached.json() == rebuilt.json(), step
    assert cache.for_engine(one.app.state.engine).hits >= len(steps) - 2
    assert _stored(one, cached_id, cached_auth) == _stored(two, rebuilt_id, rebuilt_auth)


@pytest.mark.parametrize("mode", ["iptables", "ipvs"])
def test_after_page_actions_the_cached_lab_equals_its_row(client: TestClient, mode: str) -> None:
    lab_id, _ = _create(client, mode)  # the client's session cookie owns it
    version = 1

    def post(path: str, form: dict[str, str]) -> None:
        nonlocal version
        answer = client.post(f"/lab/{lab_id}/{path}", data=form | {"version": str(version)})
        assert answer.status_code == 200, answer.text
        shown = re.search(r'id="lab-version" name="version" value="(\d+)"', answer.text)
        assert shown is not None
        version = int(shown.group(1))

    post("request", {"source": "external", "to": "svc/my-first-deploy:8080", "count": "4"})
    post("run", {"command": "kubectl scale deployment/my-first-deploy --replicas=4"})
    post("run", {"command": "kubectl get pods"})
    post("do", {"op": "undo"})
    post("load", {"from": "external", "to": "svc/my-first-deploy:8080", "count": "300"})

    engine = client.app.state.engine
    who = Caller(digest(client.cookies["kpl_session"]), None)
    hits = cache.for_engine(engine).hits
    opened = service.open_lab(engine, lab_id, who)
    assert cache.for_engine(engine).hits == hits + 1  # served from the cache...
    row = repo.find(engine, lab_id, who)
    assert row is not None and opened.row.version == row.version
    # ...and equal to what a rebuild from the row gives, as stored data
    assert json.loads(json.dumps(opened.lab.to_data())) == row.data


def test_concurrent_requests_on_one_lab_never_share_a_lab(
    make_client: Callable[..., TestClient],
) -> None:
    """Eight threads send to one lab at once: every answer is a success or a 409 conflict, and
    the stored lab holds exactly the successful requests (a `Lab` mutated by two requests
    would hold more)."""
    client = make_client()
    lab_id, auth = _create(client)
    url = f"/api/labs/{lab_id}/requests"

    def burst(_: int) -> list[int]:
        return [client.post(url, json=PACKET, headers=auth).status_code for _ in range(6)]

    with ThreadPoolExecutor(8) as pool:
        statuses = [status for batch in pool.map(burst, range(8)) for status in batch]
    assert set(statuses) <= {200, 409}, statuses
    done = statuses.count(200)
    assert done > 0
    data = _stored(client, lab_id, auth)
    # the same request sent again right after is one recipe entry with a `times` count
    assert sum(c.get("times", 1) for c in data["commands"] if "request" in c) == done
    assert client.get(f"/api/labs/{lab_id}", headers=auth).json()["version"] == 1 + done
    # and the lab goes on from exactly there
    before = len(Lab.from_data(data).world("node1").conntrack.connections)
    _send(client, lab_id, auth)
    after = Lab.from_data(_stored(client, lab_id, auth)).world("node1").conntrack.connections
    assert len(after) == before + 1


def _lab() -> Lab:
    return Lab.new("seed", "iptables", 1)


def test_the_cache_hands_a_lab_to_one_taker_at_its_version_only() -> None:
    labs = LabCache(size=4)
    lab = _lab()
    labs.give("a", 3, lab)
    assert labs.take("a", 2) is None  # a request that read another version rebuilds
    labs.give("a", 3, lab)
    assert labs.take("a", 4) is None  # the row moved on: the cached copy is stale, dropped
    assert labs.take("a", 3) is None
    labs.give("a", 3, lab)
    assert labs.take("a", 3) is lab
    assert labs.take("a", 3) is None  # taken: a second request must rebuild its own


def test_the_cache_keeps_the_newest_version_and_at_most_size_labs() -> None:
    labs = LabCache(size=2)
    newer, older = _lab(), _lab()
    labs.give("a", 5, newer)
    labs.give("a", 4, older)  # a slower request putting back what it saved earlier
    assert labs.take("a", 5) is newer
    labs.give("a", 5, newer)
    labs.give("b", 1, _lab())
    assert labs.take("a", 5) is newer  # used: now the most recent
    labs.give("a", 5, newer)
    labs.give("c", 1, _lab())  # a third lab: the least recently used ("b") goes
    assert len(labs) == 2
    assert labs.take("b", 1) is None
    assert labs.take("a", 5) is newer and labs.take("c", 1) is not None


def test_the_cache_is_bounded_by_the_rules_its_labs_hold() -> None:
    """A lab may hold thousands of rules: the cache counts them, not only labs."""
    first, second, third = _lab(), _lab(), _lab()
    assert weight(first) > 60  # the seed cluster's rules on its two nodes
    labs = LabCache(size=10, rules=2 * weight(first))
    labs.give("a", 1, first)
    labs.give("b", 1, second)
    labs.give("c", 1, third)  # over the budget: the least recently used lab goes
    assert len(labs) == 2
    assert labs.take("a", 1) is None
    assert labs.take("b", 1) is second and labs.take("c", 1) is third


def test_packet_requests_count_against_the_minute_refused_ones_too(client: TestClient) -> None:
    """A request is counted by the statement that saves it; one refused (422) is counted on
    its own. Either way the 121st in a minute answers 429."""
    for _ in range(2):  # once more if the burst straddled a minute
        minute = int(time.time() // 60)
        lab_id, auth = _create(client)
        url = f"/api/labs/{lab_id}/requests"
        sent, status, statuses = 0, 200, set()
        while status != 429 and sent <= 2 * service.COMMANDS_PER_MINUTE:
            body = PACKET if sent % 10 else PACKET | {"to": "svc/no-such-service:80"}
            answer = client.post(url, json=body, headers=auth)
            status = answer.status_code
            statuses.add(status)
            sent += 1
        if int(time.time() // 60) == minute:
            break
    assert statuses == {200, 422, 429}
    assert sent == service.COMMANDS_PER_MINUTE + 1
    assert 1 <= int(answer.headers["retry-after"]) <= 60


def test_page_actions_count_against_the_minute_saved_or_not(client: TestClient) -> None:
    """On /lab too the budget is read from the row and the action counted by its save; an
    action that changes nothing (a toolbar no-op) or is refused (a line over 4 KiB: 422) is
    counted on its own. The 121st in a minute answers 429 with Retry-After."""
    shown = re.compile(r'id="lab-version" name="version" value="(\d+)"')
    for _ in range(2):  # once more if the burst straddled a minute
        minute = int(time.time() // 60)
        lab_id, _ = _create(client)  # owned by the client's session
        version, sent, status, statuses = "1", 0, 200, set()
        while status != 429 and sent <= 2 * service.COMMANDS_PER_MINUTE:
            if sent % 10 == 9:
                path, form = "run", {"command": "echo " + "x" * service.LINE_LIMIT}
            elif sent % 2:
                path, form = "do", {"op": ""}
            else:
                path, form = "request", {"source": "external", "to": PACKET["to"]}
            answer = client.post(f"/lab/{lab_id}/{path}", data=form | {"version": version})
            status = answer.status_code
            statuses.add(status)
            if status == 200:
                version = shown.search(answer.text).group(1)
            sent += 1
        if int(time.time() // 60) == minute:
            break
    assert statuses == {200, 422, 429}
    assert sent == service.COMMANDS_PER_MINUTE + 1
    assert 1 <= int(answer.headers["retry-after"]) <= 60


def test_tab_completion_leaves_the_lab_parsed_for_the_next_action(client: TestClient) -> None:
    lab_id, auth = _create(client)
    labs = cache.for_engine(client.app.state.engine)
    for line in ("kubectl get ", "iptables -t nat -L ", "curl "):
        answer = client.get(f"/lab/{lab_id}/complete", params={"line": line})
        assert answer.status_code == 200 and answer.json()["completions"], line
    misses = labs.misses
    _send(client, lab_id, auth)
    assert labs.misses == misses  # not rebuilt...
    engine, who = client.app.state.engine, Caller(None, digest(auth["Authorization"][7:]))
    kept = service.open_lab(engine, lab_id, who).lab
    assert json.loads(json.dumps(kept.to_data())) == _stored(client, lab_id, auth)  # ...and equal


def test_the_page_and_the_rules_views_leave_the_lab_parsed(client: TestClient) -> None:
    page = client.get("/lab")  # a new lab: built once, then kept
    lab_id = re.search(r'data-lab="(\w+)"', page.text).group(1)
    labs = cache.for_engine(client.app.state.engine)
    misses, hits = labs.misses, labs.hits
    reads = [
        "/lab",
        f"/lab/{lab_id}/rules?fmt=save",
        f"/lab/{lab_id}/rules?fmt=tree",
        f"/lab/{lab_id}/rules/explain?table=nat&chain=KUBE-SERVICES&n=1",
        f"/lab/{lab_id}/rules/validate?table=filter&chain=INPUT&spec=-s+10.77.66.55+-j+DROP",
        "/lab",
    ]
    for path in reads:
        assert client.get(path).status_code == 200, path
    assert (labs.misses, labs.hits) == (misses, hits + len(reads))  # never rebuilt
    # validation ran on a scratch copy: the kept lab still equals its row
    engine, who = client.app.state.engine, Caller(digest(client.cookies["kpl_session"]), None)
    kept = service.open_lab(engine, lab_id, who)
    row = repo.find(engine, lab_id, who)
    assert row is not None and json.loads(json.dumps(kept.lab.to_data())) == row.data
    assert "10.77.66.55" not in kept.lab.rules(None, "save")

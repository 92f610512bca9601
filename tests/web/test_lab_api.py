"""The lab's JSON API (CONTRACTS.md, "HTTP API"): creation, privacy, commands, requests,
limits, version conflicts, and hostile bodies that must never produce a 500."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from app.web.i18n import translate
from app.web.labs import repo, service


def _create(client: TestClient, **body: str) -> tuple[str, dict[str, str]]:
    answer = client.post("/api/labs", json=body)
    assert answer.status_code == 201, answer.text
    data = answer.json()
    return data["id"], {"Authorization": f"Bearer {data['token']}"}


def _stranger(client: TestClient) -> TestClient:
    return type(client)(client.app)


def test_a_new_lab_is_the_seed_cluster(client: TestClient) -> None:
    lab_id, auth = _create(client)
    lab = client.get(f"/api/labs/{lab_id}", headers=auth).json()
    assert lab["mode"] == "iptables" and lab["scenario"] == "seed" and lab["seed"] == 1
    assert lab["id"] == lab_id and lab["version"] == 1
    assert [s["clusterIP"] for s in lab["services"]] == ["10.97.139.74"]
    assert {p["ip"] for p in lab["pods"]} == {"10.244.1.137", "10.244.1.138"}


def test_only_the_token_or_the_creators_session_opens_a_lab(client: TestClient) -> None:
    lab_id, auth = _create(client)
    assert client.get(f"/api/labs/{lab_id}").status_code == 200  # the creator's cookie
    stranger = _stranger(client)
    assert stranger.get(f"/api/labs/{lab_id}").status_code == 404
    assert (
        stranger.get(f"/api/labs/{lab_id}", headers={"Authorization": "Bearer x"}).status_code
        == 404
    )
    assert stranger.get(f"/api/labs/{lab_id}", headers=auth).status_code == 200
    command = {"command": "kubectl get svc"}
    assert stranger.post(f"/api/labs/{lab_id}/commands", json=command).status_code == 404


def test_the_session_cookie_is_httponly_and_samesite_lax(client: TestClient) -> None:
    header = client.post("/api/labs", json={}).headers["set-cookie"].lower()
    assert "kpl_session=" in header and "httponly" in header and "samesite=lax" in header


def test_commands_answer_with_the_tools_own_output(client: TestClient) -> None:
    lab_id, auth = _create(client)
    url = f"/api/labs/{lab_id}/commands"
    svc = client.post(url, json={"command": "kubectl get svc"}, headers=auth).json()
    assert svc["ok"] and "10.97.139.74" in svc["output"]
    bad = client.post(url, json={"command": "iptables -t nat -D NOPE 1"}, headers=auth)
    assert bad.status_code == 200
    assert bad.json()["ok"] is False
    assert "iptables" in bad.json()["error"]
    scaled = client.post(
        url, json={"command": "kubectl scale deployment/my-first-deploy --replicas=3"}, headers=auth
    ).json()
    assert scaled["ok"]
    chains = {c["chain"] for c in scaled["sync"]["changes"]}
    assert any(chain.startswith("KUBE-SVC-") for chain in chains)
    lab = client.get(f"/api/labs/{lab_id}", headers=auth).json()
    assert len(lab["pods"]) == 3  # stored: the next request sees it


def test_requests_reach_both_endpoints(client: TestClient) -> None:
    lab_id, auth = _create(client)
    body = {"from": "external", "to": "10.97.139.74:8080", "proto": "tcp", "count": 200}
    answer = client.post(f"/api/labs/{lab_id}/requests", json=body, headers=auth)
    assert answer.status_code == 200
    endpoints = answer.json()["endpoints"]
    assert set(endpoints) == {"10.244.1.137:8080", "10.244.1.138:8080"}
    assert sum(endpoints.values()) == 200 and min(endpoints.values()) > 60
    first = answer.json()["traces"][0]
    assert first["steps"] and first["final"]["verdict"] == "ACCEPT"


@pytest.mark.parametrize("count", [0, 10_001, -5])
def test_a_request_count_out_of_range_is_422(client: TestClient, count: int) -> None:
    lab_id, auth = _create(client)
    body = {"to": "10.97.139.74:8080", "count": count}
    assert client.post(f"/api/labs/{lab_id}/requests", json=body, headers=auth).status_code == 422


def test_an_unknown_destination_is_422_with_the_labs_words(client: TestClient) -> None:
    lab_id, auth = _create(client)
    body = {"to": "svc/nothing-here:80"}
    answer = client.post(f"/api/labs/{lab_id}/requests", json=body, headers=auth)
    assert answer.status_code == 422
    assert isinstance(answer.json()["detail"], str) and answer.json()["detail"]


def test_long_lines_and_huge_pastes_are_422(client: TestClient) -> None:
    lab_id, auth = _create(client)
    url = f"/api/labs/{lab_id}/commands"
    line = client.post(url, json={"command": "kubectl get svc " + "a" * 5000}, headers=auth)
    assert line.status_code == 422
    assert "4096" in line.json()["detail"]
    paste = "iptables-restore <<EOF\n" + ("# x\n" * 70_000) + "EOF"
    assert client.post(url, json={"command": paste}, headers=auth).status_code == 422
    # A paste of many short lines under 256 KiB is fine.
    ok = "iptables-restore --noflush <<EOF\n*filter\n" + "# comment\n" * 2000 + "COMMIT\nEOF"
    assert client.post(url, json={"command": ok}, headers=auth).json()["ok"]


def test_too_many_commands_a_minute_is_429_with_retry_after(client: TestClient) -> None:
    lab_id, auth = _create(client)
    url = f"/api/labs/{lab_id}/commands"
    for _ in range(service.COMMANDS_PER_MINUTE):
        assert client.post(url, json={"command": "hostname"}, headers=auth).status_code == 200
    answer = client.post(url, json={"command": "hostname"}, headers=auth)
    if answer.status_code == 200:  # the minute turned over mid-test: the next burst must trip
        for _ in range(service.COMMANDS_PER_MINUTE):
            answer = client.post(url, json={"command": "hostname"}, headers=auth)
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert str(service.COMMANDS_PER_MINUTE) in answer.json()["detail"]


def test_a_stale_write_is_409_and_loses_no_edit(client: TestClient) -> None:
    lab_id, auth = _create(client)
    engine = client.app.state.engine
    from app.web.labs.identity import Caller, digest

    who = Caller(None, digest(auth["Authorization"].split()[1]))
    stale = service.open_lab(engine, lab_id, who)
    url = f"/api/labs/{lab_id}/commands"
    edit = {"command": "kubectl scale deployment/my-first-deploy --replicas=4"}
    assert client.post(url, json=edit, headers=auth).json()["ok"]
    with pytest.raises(repo.Conflict):
        service.run_line(
            engine, stale, "kubectl scale deployment/my-first-deploy --replicas=1", "en"
        )
    pods = client.get(f"/api/labs/{lab_id}", headers=auth).json()["pods"]
    assert len(pods) == 4  # the other worker's edit survived


def test_the_conflict_message_exists_in_both_languages() -> None:
    assert "reload" in translate("en", "lab.error.conflict")
    assert "重新加载" in translate("zh", "lab.error.conflict")


HOSTILE = [
    b"",
    b"null",
    b"[]",
    b"{",
    b'{"command": null}',
    b'{"command": 12}',
    b'{"command": {"$gt": ""}}',
    b'{"from": 1, "to": [], "count": "x"}',
    b'{"to": "10.97.139.74:8080", "count": 1e308}',
    b'{"to": "\\u0000\\ud800", "from": "pod/\\u202e"}',
    b"\xff\xfe\x00garbage",
    b'{"command": "echo \\ud800 \\udfff"}',
    json.dumps({"command": "x" * 300_000}).encode(),
    json.dumps({"scenario": "../../etc/passwd", "mode": "<script>"}).encode(),
    json.dumps({"command": "curl $(rm -rf /) `id` ; kubectl get svc | tee /etc/x"}).encode(),
]


@pytest.mark.parametrize("body", HOSTILE)
def test_hostile_bodies_never_answer_500(client: TestClient, body: bytes) -> None:
    lab_id, auth = _create(client)
    headers = {**auth, "Content-Type": "application/json"}
    for path in ("/api/labs", f"/api/labs/{lab_id}/commands", f"/api/labs/{lab_id}/requests"):
        answer = client.post(path, content=body, headers=headers)
        assert answer.status_code < 500, (path, answer.text)
    for path in (f"/api/labs/{'x' * 5000}", "/api/labs/%00", f"/api/labs/{lab_id}"):
        assert client.get(path, headers={"Authorization": "Bearer \x7f" * 3}).status_code < 500


def test_the_api_is_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/labs", "/api/labs/{lab_id}", "/api/labs/{lab_id}/commands"} <= set(paths)
    assert "/api/labs/{lab_id}/requests" in paths


def test_two_workers_on_one_database_serve_the_same_lab(
    make_client: Callable[..., TestClient],
) -> None:
    # Two app instances stand for two worker processes: nothing about a lab lives in memory.
    first = make_client()
    second = make_client(str(first.app.state.settings.database_url))
    lab_id, auth = _create(first)
    scale = {"command": "kubectl scale deployment/my-first-deploy --replicas=3"}
    assert second.post(f"/api/labs/{lab_id}/commands", json=scale, headers=auth).json()["ok"]
    assert len(first.get(f"/api/labs/{lab_id}", headers=auth).json()["pods"]) == 3


def test_the_command_budget_is_shared_by_every_worker(
    make_client: Callable[..., TestClient],
) -> None:
    first = make_client()
    second = make_client(str(first.app.state.settings.database_url))
    lab_id, auth = _create(first)
    url = f"/api/labs/{lab_id}/commands"
    # Alternating, each worker sees only half the commands: a count kept in process memory
    # would never refuse one. The burst is retried once in case it straddled a minute.
    for _ in range(2):
        statuses = [
            (first if i % 2 else second).post(url, json={"command": "hostname"}, headers=auth)
            for i in range(service.COMMANDS_PER_MINUTE + 1)
        ]
        if statuses[-1].status_code == 429:
            break
    assert statuses[-1].status_code == 429
    assert "retry-after" in statuses[-1].headers


def test_a_read_only_line_is_kept_in_the_history_by_the_api_as_by_the_page(
    client: TestClient,
) -> None:
    lab_id, auth = _create(client)  # the client's session owns it: /lab opens it too
    url = f"/api/labs/{lab_id}/commands"
    for line in ("kubectl get pods", "iptables -t nat -L -n"):
        assert client.post(url, json={"command": line}, headers=auth).json()["ok"]
    listed = client.post(url, json={"command": "history"}, headers=auth).json()["output"]
    assert "kubectl get pods" in listed and "iptables -t nat -L -n" in listed
    # the next request rebuilds nothing it could have lost: the stored row holds the lines too
    from app.web.labs.identity import Caller, digest

    row = repo.find(
        client.app.state.engine, lab_id, Caller(None, digest(auth["Authorization"][7:]))
    )
    assert row is not None and row.data["console_history"] == [
        "kubectl get pods",
        "iptables -t nat -L -n",
        "history",
    ]
    page = client.get("/lab").text
    assert 'data-history=\'["kubectl get pods", "iptables -t nat -L -n", "history"]\'' in page

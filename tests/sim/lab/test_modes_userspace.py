"""The lab in userspace mode (historical): portal rules on the node, the proxy step in the
trace, round robin, and the contrast with iptables mode when an app dies but stays Ready
(`kubectl lab kill-app`)."""

from __future__ import annotations

import json

import pytest

from app.sim.lab import Lab

VIP = "10.97.139.74:8080"
DEAD_POD = "my-first-deploy-785c6c79d9-7bgf5"  # 10.244.1.137
LIVE_POD = "my-first-deploy-785c6c79d9-g4xr7"  # 10.244.1.138
FROM = f"pod/{LIVE_POD}"


@pytest.fixture
def lab() -> Lab:
    return Lab.new("seed", "userspace", 1)


def _proxy(trace: dict) -> dict:
    (step,) = [s for s in trace["steps"] if s["kind"] == "proxy"]
    return step


def test_portal_rules_are_on_the_node(lab: Lab):
    save = lab.run("iptables-save -t nat").output
    assert "-A PREROUTING -m comment --comment" in save and "-j KUBE-PORTALS-CONTAINER" in save
    assert "-A OUTPUT -m comment" in save and "-j KUBE-PORTALS-HOST" in save
    assert "-j REDIRECT --to-ports " in save
    assert "KUBE-SVC-" not in save


def test_a_pods_request_is_redirected_to_the_proxy_which_dials_a_pod(lab: Lab):
    trace = lab.request(FROM, "svc/my-first-deploy:8080")["traces"][0]
    kinds = [(s["hook"], s["chain"], s["verdict"]) for s in trace["steps"] if s["matched"]]
    assert ("PREROUTING", "KUBE-PORTALS-CONTAINER", "REDIRECT") in kinds
    step = _proxy(trace)
    assert step["service"] == "default/my-first-deploy"
    assert step["endpoint"] in ("10.244.1.137:8080", "10.244.1.138:8080")
    assert step["explain"]["en"] and step["explain"]["zh"]
    after = trace["steps"][trace["steps"].index(step) + 1 :]
    assert after and after[0]["hook"] == "OUTPUT"  # the proxy's own connection
    assert trace["final"]["packet"]["dst"] + ":8080" == step["endpoint"]
    assert trace["pod"] is not None


def test_the_node_itself_is_dnatted_to_the_proxy_port(lab: Lab):
    out = lab.run(f"curl -s {VIP}")  # from outside: REDIRECTed in PREROUTING
    assert out.ok and out.output.startswith("hello from ")
    trace = lab.request("node/node1", VIP)["traces"][0]
    assert trace["pod"] is not None
    host = [s for s in trace["steps"] if s["matched"] and s["chain"] == "KUBE-PORTALS-HOST"]
    assert host and host[0]["verdict"] == "DNAT"


def test_round_robin_alternates(lab: Lab):
    out = lab.request(FROM, VIP, count=6)
    assert out["endpoints"] == {"10.244.1.137:8080": 3, "10.244.1.138:8080": 3}
    picks = [_proxy(t)["endpoint"] for t in out["traces"]]
    assert picks[0::2] == [picks[0]] * 3 and picks[1::2] == [picks[1]] * 3


def test_a_dead_app_fails_iptables_mode_but_userspace_retries():
    iptables, userspace = Lab.new("seed", "iptables", 1), Lab.new("seed", "userspace", 1)
    for lab in (iptables, userspace):
        assert lab.run(f"kubectl lab kill-app pod/{DEAD_POD}").ok
        assert "1/1" in lab.run(f"kubectl get pod {DEAD_POD}").output  # still Ready
    curls = [iptables.run(f"curl -s --from {FROM} {VIP}") for _ in range(20)]
    refused = [c for c in curls if c.status == 7]
    assert refused and all(c.traces[0]["endpoint"] == "10.244.1.137:8080" for c in refused)
    assert all(c.ok for c in curls if c not in refused)
    answers = [userspace.run(f"curl -s --from {FROM} {VIP}") for _ in range(20)]
    assert all(a.ok and a.output == f"hello from {LIVE_POD}\n" for a in answers)
    retried = [_proxy(a.traces[0]) for a in answers if len(_proxy(a.traces[0])["attempts"]) > 1]
    assert retried
    assert retried[0]["attempts"][0] == {
        "endpoint": "10.244.1.137:8080",
        "ok": False,
        "via": "round-robin",
    }


def test_every_app_dead_closes_the_connection(lab: Lab):
    for pod in (DEAD_POD, LIVE_POD):
        lab.run(f"kubectl lab kill-app pod/{pod}")
    out = lab.request("node/node1", VIP)
    trace = out["traces"][0]
    step = _proxy(trace)
    assert step["endpoint"] is None and len(step["attempts"]) == 4
    assert trace["final"]["delivered"] is None and out["failed"]


def test_restart_brings_the_app_back(lab: Lab):
    lab.run(f"kubectl lab kill-app pod/{DEAD_POD}")
    lab.run(f"kubectl lab restart pod/{DEAD_POD}")
    out = lab.request(FROM, VIP, count=4)
    assert all(len(_proxy(t)["attempts"]) == 1 for t in out["traces"])


def test_session_affinity_is_honoured():
    lab = Lab.new("session-affinity", "userspace", 1)
    svc = next(s for s in lab.summary()["services"] if s["sessionAffinity"] == "ClientIP")
    dst = f"svc/{svc['name']}:{svc['ports'][0]['port']}"
    out = lab.request("node/" + lab.default_node(), dst, count=5)
    assert len(out["endpoints"]) == 1
    assert [_proxy(t)["attempts"][0]["via"] for t in out["traces"][1:]] == ["affinity"] * 4


def test_a_stored_lab_continues_the_round(lab: Lab):
    lab.request(FROM, VIP)
    copy = Lab.from_data(json.loads(json.dumps(lab.to_data())))
    a, b = (x.request(FROM, VIP, count=3)["traces"] for x in (lab, copy))
    assert [_proxy(t)["endpoint"] for t in a] == [_proxy(t)["endpoint"] for t in b]


def test_kill_app_of_an_unknown_pod_is_kubectls_not_found(lab: Lab):
    out = lab.run("kubectl lab kill-app pod/nope")
    assert not out.ok and 'pods "nope" not found' in out.error

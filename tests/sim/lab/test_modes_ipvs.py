"""The lab in IPVS mode: syncs in place, ipvsadm / ipset / iptables-save on the console,
requests through the IPVS director, every scheduler selectable, the fallback to iptables
mode when a node lacks the IPVS modules, and storage."""

from __future__ import annotations

import json

import pytest

from app.sim.ipvs.schedulers import SCHEDULERS
from app.sim.lab import Lab

VIP = "10.97.139.74:8080"
PODS = {"10.244.1.137:8080", "10.244.1.138:8080"}


@pytest.fixture
def lab() -> Lab:
    return Lab.new("seed", "ipvs", 1)


def _ipvs_steps(trace: dict) -> list[dict]:
    return [s for s in trace["steps"] if s["kind"] == "ipvs"]


def test_ipvsadm_lists_the_service_and_its_pods(lab: Lab):
    out = lab.run("ipvsadm -Ln")
    assert out.ok
    assert f"TCP  {VIP} rr" in out.output
    for pod in PODS:
        assert f"  -> {pod}" in out.output


def test_requests_go_through_the_director_round_robin(lab: Lab):
    out = lab.request("pod/my-first-deploy-785c6c79d9-7bgf5", "svc/my-first-deploy:8080", count=4)
    assert out["endpoints"] == {pod: 2 for pod in PODS}
    for trace in out["traces"]:
        (step,) = _ipvs_steps(trace)
        assert step["virtual_server"] == f"TCP {VIP}" and step["scheduler"] == "rr"
        assert trace["pod"] is not None
    stats = lab.run("ipvsadm -Ln --stats").output
    assert "4" in stats.split(VIP)[1].split()[0]  # 4 connections to the virtual server
    assert lab.run("ipvsadm -Lnc").output.count(VIP) == 4


def test_curl_from_the_node_answers(lab: Lab):
    out = lab.run(f"curl -s {VIP}")
    assert out.ok and out.output.startswith("hello from my-first-deploy-")


def test_iptables_save_and_ipset_show_ipvs_modes_rules(lab: Lab):
    save = lab.run("iptables-save -t nat").output
    assert "--match-set KUBE-CLUSTER-IP dst,dst" in save
    assert "KUBE-SVC-" not in save  # no per-service chains in IPVS mode
    sets = lab.run("ipset list KUBE-CLUSTER-IP").output
    assert "10.97.139.74,tcp:8080" in sets


def test_a_scaled_deployment_resyncs_the_real_servers(lab: Lab):
    result = lab.run("kubectl scale deployment/my-first-deploy --replicas=3")
    assert result.sync is not None
    assert "(IPVS mode)" in result.sync["summary"]["en"]
    assert lab.run("ipvsadm -Ln").output.count("  -> 10.244.") == 3


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_is_selectable(lab: Lab, name: str):
    out = lab.run(f"kubectl lab ipvs-scheduler {name}")
    assert out.ok, out.error
    assert f"TCP  {VIP} {name}" in lab.run("ipvsadm -Ln").output
    reached = lab.request("node/node1", VIP, count=3)["endpoints"]
    assert set(reached) <= PODS and sum(reached.values()) == 3


def test_an_unknown_scheduler_is_refused(lab: Lab):
    out = lab.run("kubectl lab ipvs-scheduler fastest")
    assert not out.ok and 'unknown IPVS scheduler "fastest"' in out.error


def test_ipvsadm_edits_last_until_the_next_sync(lab: Lab):
    assert lab.run(f"ipvsadm -e -t {VIP} -r 10.244.1.137:8080 -m -w 0").changed
    out = lab.request("node/node1", VIP, count=4)
    assert out["endpoints"] == {"10.244.1.138:8080": 4}
    lab.run("kubectl label pod my-first-deploy-785c6c79d9-7bgf5 touched=yes")  # a change: sync
    assert "10.244.1.137:8080            Masq    1" in lab.run("ipvsadm -Ln").output


def test_bad_ipvsadm_input_is_ipvsadms_error(lab: Lab):
    out = lab.run("ipvsadm -A -t 10.0.0.1 -s rr")
    assert not out.ok and out.status in (2, 255) and out.error


def test_without_the_modules_the_node_falls_back_visibly(lab: Lab):
    out = lab.run("kubectl lab ipvs-modules node/node1 false")
    assert out.ok and out.sync is not None
    assert "falls back to iptables mode" in out.sync["summary"]["en"]
    assert "回退到 iptables 模式" in out.sync["summary"]["zh"]
    # The fallback is history: the notice says what kube-proxy does today.
    assert "since v1.26 kube-proxy exits with an error" in out.sync["summary"]["en"]
    assert "自 v1.26 起" in out.sync["summary"]["zh"]
    lab.run("ssh node1")
    assert "Can't initialize ipvs" in lab.run("ipvsadm -Ln").error
    save = lab.run("iptables-save -t nat").output
    assert "KUBE-SVC-" in save and "KUBE-CLUSTER-IP" not in save
    trace = lab.request("pod/my-first-deploy-785c6c79d9-7bgf5", VIP)["traces"][0]
    assert not _ipvs_steps(trace) and trace["endpoint"] in PODS
    # the other node keeps IPVS mode; loading the modules brings node1 back
    back = lab.run("kubectl lab ipvs-modules node/node1 true")
    assert "TCP  10.97.139.74:8080" in lab.run("ipvsadm -Ln").output
    assert back.sync is not None


def test_a_stored_lab_keeps_its_connections_and_round_robin(lab: Lab):
    lab.request("node/node1", VIP, count=3)
    copy = Lab.from_data(json.loads(json.dumps(lab.to_data())))
    assert copy.run("ipvsadm -Lnc").output == lab.run("ipvsadm -Lnc").output
    a, b = (x.request("node/node1", VIP, count=3)["traces"] for x in (lab, copy))
    assert [t["endpoint"] for t in a] == [t["endpoint"] for t in b]


def test_undo_takes_back_an_ipvsadm_edit(lab: Lab):
    before = lab.run("ipvsadm -Ln").output
    lab.run(f"ipvsadm -d -t {VIP} -r 10.244.1.137:8080")
    assert lab.run("ipvsadm -Ln").output != before
    assert lab.undo()
    assert lab.run("ipvsadm -Ln").output == before


def test_tab_completes_the_lab_commands_and_schedulers(lab: Lab):
    from app.sim.lab import complete

    assert complete(lab, "kubectl lab ipvs-") == ["ipvs-modules", "ipvs-scheduler"]
    assert complete(lab, "kubectl lab ipvs-scheduler w") == ["wlc", "wrr"]
    assert complete(lab, "kubectl lab kill-app pod/my-first-deploy-785c6c79d9-7") == [
        "pod/my-first-deploy-785c6c79d9-7bgf5"
    ]

"""The lab in nftables mode: every scenario serves, the shares match iptables mode, nft steps
in the trace, partial syncs, `nft list|delete|flush` on the console with nft's wording, a
learner's edit lasting until kube-proxy rewrites the Service, storage and undo."""

from __future__ import annotations

import json
import re

import pytest

from app.sim.compare import default_request
from app.sim.lab import Lab
from app.sim.scenarios import SCENARIOS

VIP = "10.97.139.74:8080"
PODS = {"10.244.1.137:8080", "10.244.1.138:8080"}
CLIENT = "pod/my-first-deploy-785c6c79d9-7bgf5"


@pytest.fixture
def lab() -> Lab:
    return Lab.new("seed", "nftables", 1)


def _dnat_handle(lab: Lab, pod_ip: str) -> tuple[str, int]:
    """The endpoint chain of `pod_ip` and the handle of its DNAT rule, from `nft -a list`."""
    listing = lab.run("nft -a list table ip kube-proxy").output
    chain = re.search(rf"chain (endpoint-\S+__{re.escape(pod_ip)}/8080) \{{", listing)
    assert chain is not None, listing
    handle = re.search(rf"dnat to {re.escape(pod_ip)}:8080 # handle (\d+)", listing)
    assert handle is not None
    return chain.group(1), int(handle.group(1))


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_serves_in_nftables_mode(scenario: str):
    lab = Lab.new(scenario, "nftables", 1)
    src, dst = default_request(scenario, 1)
    out = lab.request(src, dst, count=3)
    assert sum(out["endpoints"].values()) == 3, out["failed"]
    for trace in out["traces"]:
        assert any(s["verdict"] == "DNAT" and s["table"] == "kube-proxy" for s in trace["steps"])


def test_shares_match_iptables_mode_over_200_requests():
    shares = {}
    for mode in ("iptables", "nftables"):
        lab = Lab.new("seed", mode, 1)
        shares[mode] = lab.request(CLIENT, VIP, count=200)["endpoints"]
    assert set(shares["nftables"]) == set(shares["iptables"]) == PODS
    for pod in PODS:
        assert abs(shares["nftables"][pod] - shares["iptables"][pod]) <= 40


def test_trace_steps_are_nft_rules_with_handles_and_lookups(lab: Lab):
    trace = lab.request(CLIENT, VIP)["traces"][0]
    steps = [s for s in trace["steps"] if s.get("handle") is not None]
    assert steps and all(s["table"] == "kube-proxy" for s in steps)
    lookups = {s["lookup"]["kind"] for s in trace["steps"] if s.get("lookup")}
    assert {"vmap", "numgen"} <= lookups
    assert any("vmap @service-ips" in s["rule_text"] for s in steps)
    assert "KUBE-SVC-" not in lab.run("iptables-save").output  # no iptables rules written


def test_switching_between_all_four_modes_both_ways(lab: Lab):
    for mode in ("iptables", "nftables", "ipvs", "nftables", "userspace", "nftables"):
        lab.set_mode(mode)
        assert lab.mode == mode
        out = lab.request(CLIENT, VIP, count=2)
        assert set(out["endpoints"]) <= PODS and sum(out["endpoints"].values()) == 2
    assert lab.run("nft list table ip kube-proxy").ok


def test_nft_in_another_mode_names_the_mode():
    out = Lab.new("seed", "iptables", 1).run("nft list ruleset")
    assert not out.ok and "nftables" in out.error


def test_a_scale_is_a_partial_sync_of_that_service(lab: Lab):
    result = lab.run("kubectl scale deployment/my-first-deploy --replicas=3")
    assert result.sync is not None
    assert "(nftables mode)" in result.sync["summary"]["en"]
    assert "nftables 模式" in result.sync["summary"]["zh"]
    changed = {c["chain"] for c in result.sync["changes"]}
    assert any(c.startswith("chain service-") for c in changed)
    assert "chain services" not in changed and "chain nat-prerouting" not in changed
    listing = lab.run("nft list table ip kube-proxy").output
    assert listing.count("dnat to 10.244.") == 3


def test_list_chain_set_and_map(lab: Lab):
    chain = lab.run("nft list chain ip kube-proxy services")
    assert chain.ok and "vmap @service-ips" in chain.output and "# handle" not in chain.output
    assert "# handle" in lab.run("nft -a list chain ip kube-proxy services").output
    assert "10.97.139.74" in lab.run("nft list set ip kube-proxy cluster-ips").output
    assert "goto service-" in lab.run("nft list map ip kube-proxy service-ips").output


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("nft list chain ip kube-proxy nope", "Error: No such file or directory; chain nope"),
        ("nft list table ip filter", "Error: No such file or directory; table ip filter"),
        ("nft delete rule ip kube-proxy services", "Error: syntax error, expected handle"),
        ("nft frobnicate", "Error: syntax error, unexpected frobnicate"),
        ("nft list map ip kube-proxy cluster-ips", "Error: No such file or directory; map"),
        (
            "nft delete rule ip kube-proxy services handle 99999",
            "Error: Could not process rule: No such file or directory",
        ),
        ("nft add table ip mine", "Error: Could not process rule: Operation not supported"),
    ],
)
def test_bad_nft_input_is_nfts_error(lab: Lab, line: str, error: str):
    out = lab.run(line)
    assert not out.ok and out.status == 1 and error in out.error


def test_deleting_an_endpoints_dnat_lasts_until_that_service_syncs(lab: Lab):
    chain, handle = _dnat_handle(lab, "10.244.1.137")
    out = lab.run(f"nft delete rule ip kube-proxy {chain} handle {handle}")
    assert out.ok and out.changed
    after = lab.request(CLIENT, VIP, count=40)
    # Half the connections now leave the endpoint chain without DNAT: they reach no pod.
    assert "10.244.1.137:8080" not in after["endpoints"]
    assert sum(after["failed"].values()) > 0 and after["endpoints"]["10.244.1.138:8080"] > 0
    lab.run("kubectl create deployment web --image=nginx")  # another change, not the Service
    assert "10.244.1.137:8080" not in lab.request(CLIENT, VIP, count=20)["endpoints"]
    lab.run("kubectl scale deployment/my-first-deploy --replicas=3")  # the Service re-syncs
    healed = lab.request(CLIENT, VIP, count=40)
    assert "10.244.1.137:8080" in healed["endpoints"] and not healed["failed"]


def test_flush_chain_and_add_rule(lab: Lab):
    assert lab.run("nft flush chain ip kube-proxy services").ok
    assert not lab.request(CLIENT, VIP, count=5)["endpoints"]
    rule = "ip daddr . meta l4proto . th dport vmap @service-ips"
    assert lab.run(f"nft add rule ip kube-proxy services {rule}").ok
    assert sum(lab.request(CLIENT, VIP, count=5)["endpoints"].values()) == 5


def test_a_deleted_table_comes_back_with_a_full_sync(lab: Lab):
    assert lab.run("nft delete table ip kube-proxy").ok
    # no DNAT any more: the connections head for the ClusterIP itself, which no pod holds
    assert not set(lab.request(CLIENT, VIP, count=5)["endpoints"]) & PODS
    out = lab.run("kubectl scale deployment/my-first-deploy --replicas=3")
    assert out.sync is not None and any(c["chain"] == "chain services" for c in out.sync["changes"])
    reached = lab.request(CLIENT, VIP, count=5)["endpoints"]
    assert set(reached) <= PODS | {"10.244.1.139:8080"} and sum(reached.values()) == 5


def test_a_stored_lab_keeps_its_table_and_answers_alike(lab: Lab):
    chain, handle = _dnat_handle(lab, "10.244.1.137")
    lab.run(f"nft delete rule ip kube-proxy {chain} handle {handle}")
    copy = Lab.from_data(json.loads(json.dumps(lab.to_data())))
    assert (
        copy.run("nft list table ip kube-proxy").output
        == lab.run("nft list table ip kube-proxy").output
    )
    assert "10.244.1.137:8080" not in copy.request(CLIENT, VIP, count=20)["endpoints"]
    # the reloaded node's next sync is still partial: the edit survives an unrelated change
    again = Lab.from_data(json.loads(json.dumps(copy.to_data())))
    again.run("kubectl create deployment web --image=nginx")
    assert "10.244.1.137:8080" not in again.request(CLIENT, VIP, count=20)["endpoints"]


def test_undo_takes_back_an_nft_edit(lab: Lab):
    before = lab.run("nft list table ip kube-proxy").output
    chain, handle = _dnat_handle(lab, "10.244.1.138")
    lab.run(f"nft delete rule ip kube-proxy {chain} handle {handle}")
    assert lab.run("nft list table ip kube-proxy").output != before
    assert lab.undo()
    assert lab.run("nft list table ip kube-proxy").output == before
    assert set(lab.request(CLIENT, VIP, count=20)["endpoints"]) == PODS


def test_the_rules_panel_shows_the_nft_listing(lab: Lab):
    from app.sim.lab.modes import MODES

    ((command, text),) = MODES["nftables"].views(lab, "node1")
    assert command == "nft list table ip kube-proxy"
    assert text.startswith("table ip kube-proxy {") and "vmap @service-ips" in text

"""kube-proxy's nftables renderer beyond the corpus: names, IPv6, traffic policies, NodePorts
on every address, --masquerade-all, partial syncs, and the engine walking what it renders."""

from __future__ import annotations

from typing import Any

import pytest

from app.sim.conntrack import Conntrack
from app.sim.kubeproxy.nftables import render_nftables
from app.sim.kubeproxy.nftables_service import is_service_chain, name_base
from app.sim.kubeproxy.state import ProxyState, StateError
from app.sim.nft.engine import explore_branches
from app.sim.nft.model import Ruleset
from app.sim.node import Node
from app.sim.packet import Packet


def cluster(**proxy: Any) -> dict[str, Any]:
    svc = {
        "namespace": "ns",
        "name": "web",
        "type": "LoadBalancer",
        "clusterIP": "10.96.0.10",
        "externalTrafficPolicy": "Local",
        "loadBalancerIngressIPs": ["203.0.113.7"],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}],
    }
    endpoints = [
        {"addresses": ["10.244.1.2"], "nodeName": "node-a"},
        {"addresses": ["10.244.2.3"], "nodeName": "node-b"},
        {"addresses": ["10.244.1.4"], "nodeName": "node-a"},
    ]
    eps = {
        "namespace": "ns",
        "name": "web-1",
        "service": "web",
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints,
    }
    return {
        "node": {
            "name": "node-a",
            "primaryIP": "192.168.49.2",
            "interfaces": {"eth0": ["192.168.49.2/24"]},
        },
        "proxy": {"localDetector": {"mode": "ClusterCIDR", "cidr": "10.244.0.0/16"}, **proxy},
        "services": [svc],
        "endpointSlices": [eps],
    }


def chains(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.split(" ", 5)
        if words[1] == "chain":
            out.setdefault(words[4], [])
        elif words[1] == "rule":
            out[words[4]].append(words[5])
    return out


def test_names_follow_upstream_hashing() -> None:
    assert name_base("ns1/svc1/tcp/p80") == "ULMVA6XW-ns1/svc1/tcp/p80"
    assert name_base("ns1/svc1/tcp/p80__10.180.0.1/80").startswith("5OJB2KTY-")
    ipv6 = "testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80"
    assert name_base(ipv6).startswith("U7E2ET36-")
    long = name_base("ns/" + "x" * 300 + "/tcp/p")
    assert len(long) == 240 and long.endswith("...")
    assert is_service_chain("service-ULMVA6XW-ns1/svc1/tcp/p80")
    assert not is_service_chain("service-endpoints-check")
    assert not is_service_chain("firewall-check")


def test_external_policy_local_goes_to_the_local_endpoints_only() -> None:
    result = render_nftables(ProxyState.from_dict(cluster()))
    found = chains(result.dump())
    base = name_base("ns/web/tcp/http")
    assert found[f"external-{base}"][-1] == f"goto local-{base}"
    assert found[f"local-{base}"][-1].startswith("numgen random mod 2 vmap")
    assert found[f"service-{base}"][-1].startswith("numgen random mod 3 vmap")
    # NodePorts only on the primary IP by default (nftables mode's "primary")
    assert "add element ip kube-proxy nodeport-ips { 192.168.49.2 }" in result.dump()


def test_engine_over_the_rendered_table_splits_evenly() -> None:
    table = render_nftables(ProxyState.from_dict(cluster())).table
    ruleset = Ruleset({("ip", "kube-proxy"): table})
    external = Packet("198.51.100.9", "203.0.113.7", "tcp", 40000, 80)
    node = Node(local_ips=["203.0.113.7"])
    branches = explore_branches(ruleset, external, node, Conntrack())
    shares = {b.dnat_to: b.probability for b in branches}
    assert shares == {"10.244.1.2:8080": 0.5, "10.244.1.4:8080": 0.5}  # eTP Local
    inside = Packet("10.244.9.9", "10.96.0.10", "tcp", 40000, 80)
    branches = explore_branches(ruleset, inside, Node(), Conntrack(), in_iface="cni0")
    assert len({b.dnat_to for b in branches}) == 3
    assert all(b.probability * 3 == 1 for b in branches)


def test_nodeports_on_every_address_use_fib() -> None:
    result = render_nftables(ProxyState.from_dict(cluster(nodePortAddresses=["0.0.0.0/0"])))
    found = chains(result.dump())
    assert found["services"][1] == (
        "fib daddr type local ip daddr != 127.0.0.0/8"
        " meta l4proto . th dport vmap @service-nodeports"
    )
    assert "nodeport-ips" not in result.table.sets


def test_masquerade_all_masquerades_every_cluster_ip_packet() -> None:
    result = render_nftables(ProxyState.from_dict(cluster(masqueradeAll=True)))
    base = name_base("ns/web/tcp/http")
    first = chains(result.dump())[f"service-{base}"][0]
    assert first == "ip daddr 10.96.0.10 jump mark-for-masquerade"


def test_ipv6_uses_the_ip6_table_and_bracketed_dnat() -> None:
    data = cluster()
    data["ipFamily"] = "IPv6"
    data["node"]["interfaces"]["eth0"] = ["fd00::2/64"]
    data["node"]["primaryIP"] = "fd00::2"
    data["proxy"]["localDetector"]["cidr"] = "fd10::/64"
    data["services"][0].update(clusterIP="fd96::10", loadBalancerIngressIPs=["fd20::7"])
    data["endpointSlices"][0]["addressType"] = "IPv6"
    data["endpointSlices"][0]["endpoints"] = [{"addresses": ["fd10::2"], "nodeName": "node-a"}]
    result = render_nftables(ProxyState.from_dict(data))
    text = result.dump()
    assert result.table.family == "ip6"
    assert "add set ip6 kube-proxy cluster-ips { type ipv6_addr ;" in text
    assert "meta l4proto tcp dnat to [fd10::2]:8080" in text
    assert "endpoint-" in text and "__fd10..2/8080" in text
    assert "table ip6 kube-proxy {" in result.listing()


def test_a_partial_sync_rewrites_only_the_changed_service() -> None:
    data = cluster()
    second = dict(data["services"][0], name="api", clusterIP="10.96.0.11")
    data["services"].append(second)
    state = ProxyState.from_dict(data)
    first = render_nftables(state)
    again = render_nftables(state, previous=first)
    assert again.operations == 0
    eps = dict(data["endpointSlices"][0], endpoints=[{"addresses": ["10.244.1.9"]}])
    state.set_endpoint_slice(eps)
    changed = render_nftables(state, previous=again)
    touched = {line.split(" ")[4] for line in changed.transaction if "chain" in line.split(" ")[1]}
    assert touched and all("ns/web/" in name for name in touched)
    assert not any("ns/api/" in line for line in changed.transaction)


def test_listing_is_the_nft_view_of_the_same_table() -> None:
    listing = render_nftables(ProxyState.from_dict(cluster())).listing()
    assert listing.startswith('table ip kube-proxy {\n\tcomment "rules for kube-proxy"\n')
    assert "\t\ttype nat hook prerouting priority dstnat; policy accept;" in listing
    assert "\t\ttype filter hook prerouting priority dstnat - 10; policy accept;" in listing


def test_bad_input_is_a_state_error() -> None:
    data = cluster()
    data["services"][0]["clusterIP"] = "not-an-ip"
    with pytest.raises(StateError, match="clusterIP"):
        render_nftables(ProxyState.from_dict(data))


def test_changed_options_are_not_served_from_the_previous_sync() -> None:
    first = render_nftables(ProxyState.from_dict(cluster()))
    again = render_nftables(ProxyState.from_dict(cluster(masqueradeAll=True)), previous=first)
    base = name_base("ns/web/tcp/http")
    rule = again.table.chains[f"service-{base}"].rules[0]
    assert rule.text == "ip daddr 10.96.0.10 jump mark-for-masquerade"

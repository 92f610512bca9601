"""The nftables engine and kube-proxy's nftables renderer against the real kernel.

For seeded generated clusters: the rendered `ip kube-proxy` table loads with `nft -f`, the
kernel lists it exactly as `app.sim.nft.render.list_table` does, and for each probe packet
the (chain, rule position, verdict) sequence `nft monitor trace` reports is one of the paths
the engine finds (every `numgen` branch is explored; the kernel draws one at random).
"""

from __future__ import annotations

import difflib
import random
from typing import Any

import pytest

from app.sim.conntrack import Conntrack
from app.sim.kubeproxy.nftables import render_nftables
from app.sim.kubeproxy.state import ProxyState
from app.sim.netfilter.packet_input import parse_packet_json
from app.sim.nft.engine import explore_branches, kernel_view
from app.sim.nft.parse import parse_commands, parse_ruleset
from app.sim.nft.render import list_table
from tests.conformance.corpus import CORPUS, load_yaml

from .conftest import kernel_unavailable
from .nft_harness import NftEvent, NftTopology, positions

CLUSTERS = 30
PACKETS_PER_CLUSTER = 3
SERVICE_CIDR = "10.96.0.0/16"
NODE_IP = "192.168.49.2"


def generated_cluster(seed: int) -> dict[str, Any]:
    """A small random cluster in the corpus cluster.yaml schema, on the kernel topology's
    node (192.168.49.2, pods in 10.244.0.0/16)."""
    rng = random.Random(seed)
    services, slices = [], []
    for i in range(rng.randint(1, 4)):
        services.append(_service(rng, seed, i))
        slices.append(_slice(rng, services[-1]))
    return {
        "node": {
            "name": "test-node",
            "primaryIP": NODE_IP,
            "interfaces": {"eth0": [f"{NODE_IP}/24"]},
        },
        "proxy": {
            "masqueradeAll": rng.random() < 0.15,
            "localDetector": {"mode": "ClusterCIDR", "cidr": "10.244.0.0/16"},
            "serviceCIDRs": SERVICE_CIDR,
            # a zero CIDR: NodePorts on every local address (`fib daddr type local`)
            "nodePortAddresses": ["0.0.0.0/0"] if rng.random() < 0.3 else [],
        },
        "services": services,
        "endpointSlices": slices,
    }


def _service(rng: random.Random, seed: int, i: int) -> dict[str, Any]:
    kind = rng.choice(["ClusterIP", "NodePort", "LoadBalancer"])
    port: dict[str, Any] = {"name": "p", "port": 80 + i, "protocol": rng.choice(["TCP", "UDP"])}
    svc: dict[str, Any] = {
        "namespace": "default",
        "name": f"s{seed}x{i}",
        "type": kind,
        "clusterIP": f"10.96.{seed % 250}.{10 + i}",
        "ports": [port],
    }
    if kind != "ClusterIP":
        port["nodePort"] = 30000 + (seed * 7 + i) % 2000
        if rng.random() < 0.35:
            svc["externalTrafficPolicy"] = "Local"
    if rng.random() < 0.25:
        svc["externalIPs"] = [f"198.18.{seed % 250}.{10 + i}"]
    if kind == "LoadBalancer":
        svc["loadBalancerIngressIPs"] = [f"203.0.113.{10 + i}"]
        if rng.random() < 0.5:
            svc["loadBalancerSourceRanges"] = [rng.choice(["192.168.49.0/24", "198.51.100.0/24"])]
    if rng.random() < 0.2:
        svc["sessionAffinity"] = "ClientIP"
    return svc


def _slice(rng: random.Random, svc: dict[str, Any]) -> dict[str, Any]:
    i = int(svc["clusterIP"].rsplit(".", 1)[1])
    endpoints = [
        {
            "addresses": [f"10.244.{i}.{j + 2}"],
            "nodeName": "test-node" if rng.random() < 0.4 else "other",
        }
        for j in range(rng.randint(0, 3))
    ]
    port = svc["ports"][0]
    return {
        "namespace": "default",
        "name": f"{svc['name']}-1",
        "service": svc["name"],
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "p", "port": 8080, "protocol": port["protocol"]}],
    }


def probes(cluster: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """Packets that exercise the rendered table: ClusterIP from outside, a pod and the node,
    NodePorts, external and LB IPs, a wrong port and an unallocated ClusterIP."""
    rng = random.Random(seed * 31 + 7)
    out = []
    for n in range(PACKETS_PER_CLUSTER):
        svc = rng.choice(cluster["services"])
        port = svc["ports"][0]
        proto = port["protocol"].lower()
        choices = [
            ("external", svc["clusterIP"], port["port"]),
            ("pod", svc["clusterIP"], port["port"]),
            ("local", svc["clusterIP"], port["port"]),
            ("external", svc["clusterIP"], port["port"] + 1000),
            ("external", "10.96.250.250", 80),
        ]
        if port.get("nodePort"):
            choices += [
                ("external", NODE_IP, port["nodePort"]),
                ("local", NODE_IP, port["nodePort"]),
            ]
        for ip in svc.get("externalIPs", []) + svc.get("loadBalancerIngressIPs", []):
            choices.append(("external", ip, port["port"]))
        origin, dst, dport = rng.choice(choices)
        packet = {
            "origin": "external",
            "dst": dst,
            "proto": proto,
            "sport": 41000 + n,
            "dport": dport,
            "src": f"192.168.49.{100 + n}",
        }
        if origin == "pod":
            packet.update(src=f"10.244.200.{5 + n}", in_iface="cni0")
        elif origin == "local":
            packet.update(origin="local", src=NODE_IP)
        out.append(packet)
    return out


def engine_paths(table_text: str, packet: dict[str, Any]) -> list[list[tuple]]:
    request = parse_packet_json(packet)
    branches = explore_branches(
        parse_commands(table_text),
        request.packet,
        request.node,
        Conntrack(),
        origin=request.origin,
        in_iface=request.in_iface,
    )
    return [kernel_view(b.trace) for b in branches]


def _position(where: dict, event: NftEvent) -> int | None:
    if event.kind != "rule":
        return None
    return where[(event.chain, event.text if event.text is not None else event.handle)]


@pytest.fixture(scope="module")
def topology():
    if kernel_unavailable():
        pytest.skip(kernel_unavailable())
    with NftTopology() as topo:
        yield topo


@pytest.mark.parametrize("seed", range(CLUSTERS))
def test_engine_paths_match_the_kernel(topology: NftTopology, seed: int) -> None:
    cluster = generated_cluster(seed)
    table_text = render_nftables(ProxyState.from_dict(cluster), service_cidrs=[SERVICE_CIDR]).dump()
    mismatches = []
    for packet in probes(cluster, seed):
        topology.load(table_text)  # fresh affinity sets and conntrack for every probe
        where = positions(topology.list_table("ip", "kube-proxy", handles=True))
        kernel = [
            (e.chain, _position(where, e), e.kind, e.verdict)
            for e in topology.trace(packet)
            if e.table == "kube-proxy"
        ]
        paths = engine_paths(table_text, packet)
        if kernel not in paths:
            closest = min(paths, key=lambda p: -difflib.SequenceMatcher(None, p, kernel).ratio())
            diff = "\n".join(
                difflib.unified_diff(
                    [str(x) for x in closest],
                    [str(x) for x in kernel],
                    "engine",
                    "kernel",
                    lineterm="",
                )
            )
            mismatches.append(f"{packet}:\n{diff}")
    assert not mismatches, "\n\n".join(mismatches)


@pytest.mark.parametrize("seed", range(CLUSTERS))
def test_listing_round_trips_through_the_kernel(topology: NftTopology, seed: int) -> None:
    result = render_nftables(
        ProxyState.from_dict(generated_cluster(seed)), service_cidrs=[SERVICE_CIDR]
    )
    topology.load(result.dump())
    kernel = topology.list_table("ip", "kube-proxy")
    ours = list_table(parse_commands(result.dump()).table("ip", "kube-proxy"))
    assert ours == kernel, "".join(
        difflib.unified_diff(kernel.splitlines(True), ours.splitlines(True))
    )
    # and the kernel's own listing, fed back, is read into the same model
    assert list_table(parse_ruleset(kernel).table("ip", "kube-proxy")) == kernel


CORPUS_CASES = ["01-overall-nftables-rules", "04-bad-ips-loadbalancer-source-ranges"]


@pytest.mark.parametrize("case", CORPUS_CASES)
def test_corpus_tables_list_as_the_kernel_lists_them(topology: NftTopology, case: str) -> None:
    """The upstream cases' tables (nodes 192.168.0.2, LB source ranges, affinity sets):
    loaded into the kernel, listed back byte for byte as `list_table` prints them."""
    path = CORPUS / "nftables" / case / "cluster.yaml"
    if not path.exists():
        pytest.skip(f"kube-proxy conformance corpus not found at {CORPUS}")
    data = load_yaml(path)
    cidrs = [c.strip() for c in str(data["proxy"].get("serviceCIDRs", "")).split(",") if c]
    result = render_nftables(ProxyState.from_dict(data), service_cidrs=cidrs)
    topology.load(result.dump())
    kernel = topology.list_table("ip", "kube-proxy")
    assert result.listing() == kernel, "".join(
        difflib.unified_diff(kernel.splitlines(True), result.listing().splitlines(True))
    )

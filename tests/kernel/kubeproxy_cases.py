"""Clusters and packets for the kernel proof of kube-proxy's iptables mode, and what each
packet should meet, worked out from the Service's spec rather than from the rendered rules.

`cluster_for(seed)` is `scenarios.random_cluster` with each Service turned, by the same seed,
into one of the shapes kube-proxy treats differently: NodePort or LoadBalancer, external IPs,
`externalTrafficPolicy`/`internalTrafficPolicy: Local`, `loadBalancerSourceRanges`,
ClientIP affinity, a second (UDP) port, no endpoints, an unready endpoint.

`expect(...)` is the Service semantics kube-proxy implements (pkg/proxy/topology.go
CategorizeEndpoints, pkg/proxy/iptables/proxier.go), stated on the cluster kube-proxy sees
(`cluster.to_proxy_dict(node)`): which endpoints a packet may be DNATed to, or which filter
chain refuses it and how.
"""

from __future__ import annotations

import copy
import ipaddress
import random
from dataclasses import dataclass, field
from typing import Any

from app.sim.cluster.alloc import AddressPool
from app.sim.cluster.cluster import Cluster
from app.sim.cluster.objects import ServicePort
from app.sim.scenarios import LB_POOL, random_cluster

EXTERNAL_IPS = "203.0.113.0/24"  # TEST-NET-3: addresses no node owns, as external IPs are
SOURCE_RANGES = (["192.168.49.100/32"], ["198.51.100.0/24"], ["10.244.0.0/16"],
                 ["198.51.100.0/24", "192.168.49.0/24"])  # fmt: skip
CLUSTER_CIDR = ipaddress.ip_network("10.244.0.0/16")  # kube-proxy's ClusterCIDR local detector


def cluster_for(seed: int) -> Cluster:
    """A random cluster of 4 Services on 2 workers, each Service reshaped by the seed."""
    rng = random.Random(f"{seed}/kube-proxy-kernel")
    cluster = random_cluster(seed, services=4, nodes=2, endpoints=2)
    cluster.allocators.pool = AddressPool(LB_POOL)  # the lab's load-balancer pool
    for key in sorted(cluster.services):
        svc = copy.deepcopy(cluster.services[key])
        _reshape(svc, rng)
        cluster.replace_service(svc)
        cluster.scale_deployment(svc.name, rng.choice((0, 1, 2, 2, 3)))
    running = sorted(p.name for p in cluster.pods.values() if p.ip)
    if running and rng.random() < 0.5:
        cluster.set_pod_ready(rng.choice(running), False)
    return cluster


def _reshape(svc: Any, rng: random.Random) -> None:
    roll = rng.random()
    svc.type = "LoadBalancer" if roll < 0.4 else "NodePort" if roll < 0.65 else svc.type
    if rng.random() < 0.3:
        svc.external_ips = [str(ipaddress.ip_network(EXTERNAL_IPS)[rng.randrange(1, 254)])]
    if svc.type != "ClusterIP" and rng.random() < 0.45:
        svc.external_traffic_policy = "Local"
    if rng.random() < 0.35:
        svc.internal_traffic_policy = "Local"
    if svc.type == "LoadBalancer" and rng.random() < 0.5:
        svc.load_balancer_source_ranges = list(rng.choice(SOURCE_RANGES))
    if rng.random() < 0.2:
        svc.session_affinity = "ClientIP"
    if rng.random() < 0.35:
        svc.ports.append(ServicePort(5353, "UDP", name="dns", target_port=5353))


@dataclass
class Expectation:
    """What kube-proxy intends for one packet: DNAT to one of `endpoints`; or a refusal by
    the filter rule in `chain` whose comment holds `comment` (`verdict` REJECT or DROP); or,
    with neither, no part in it (the packet leaves as it came)."""

    endpoints: set[str] = field(default_factory=set)
    chain: str | None = None
    comment: str | None = None
    verdict: str | None = None

    @property
    def outcome(self) -> str:
        """`DNAT`, `<chain> <verdict>` or `untouched`: the kind of result, for sampling."""
        if self.endpoints:
            return "DNAT"
        return f"{self.chain} {self.verdict}" if self.chain else "untouched"


@dataclass
class Target:
    """A destination of one Service port: `kind` is cluster, nodeport, external or lb."""

    kind: str
    ip: str
    port: int


def targets(svc: dict[str, Any], port: dict[str, Any], node_ip: str) -> list[Target]:
    """Every front door of the Service port; NodePorts on `node_ip`."""
    out = [Target("cluster", svc["clusterIP"], port["port"])]
    if port.get("nodePort"):
        out.append(Target("nodeport", node_ip, port["nodePort"]))
    out += [Target("external", ip, port["port"]) for ip in svc.get("externalIPs", [])]
    out += [Target("lb", ip, port["port"]) for ip in svc.get("loadBalancerIngressIPs", [])]
    return out


def _endpoints(
    proxy: dict[str, Any], svc: dict[str, Any], port: dict[str, Any]
) -> list[dict[str, Any]]:
    """The port's endpoints across the Service's slices, with the slice port resolved."""
    found = []
    for slc in proxy["endpointSlices"]:
        if (slc["namespace"], slc["service"]) != (svc["namespace"], svc["name"]):
            continue
        number = next(
            (p["port"] for p in slc["ports"]
             if p["name"] == port["name"] and p["protocol"] == port["protocol"]), None
        )  # fmt: skip
        if number is None:
            continue
        for ep in slc["endpoints"]:
            found += [{**ep, "ip": ip, "port": number} for ip in ep["addresses"]]
    return found


def _usable(endpoints: list[dict[str, Any]], node: str | None) -> set[str]:
    """Ready endpoints (of `node` when given), else serving terminating ones (topology.go)."""
    mine = [e for e in endpoints if node is None or e.get("nodeName") == node]
    chosen = [e for e in mine if e.get("ready", True)]
    if not chosen:
        chosen = [e for e in mine if e.get("serving", True) and e.get("terminating", False)]
    return {f"{e['ip']}:{e['port']}" for e in chosen}


def port_name(svc: dict[str, Any], port: dict[str, Any]) -> str:
    """kube-proxy's ServicePortName: `ns/name:port` (no `:` for an unnamed port)."""
    base = f"{svc['namespace']}/{svc['name']}"
    return f"{base}:{port['name']}" if port["name"] else base


def expect(
    proxy: dict[str, Any], svc: dict[str, Any], port: dict[str, Any], target: Target, source: str,
    src: str,
) -> Expectation:  # fmt: skip
    """What the Service intends for a packet from `src` (`source` is pod, node or external)
    to `target`, on the node of `proxy`."""
    node = proxy["node"]["name"]
    endpoints = _endpoints(proxy, svc, port)
    everywhere, here = _usable(endpoints, None), _usable(endpoints, node)
    name = port_name(svc, port)
    refusal = f"{name} has no local endpoints" if everywhere else f"{name} has no endpoints"
    if target.kind == "cluster":
        chosen = here if svc.get("internalTrafficPolicy") == "Local" else everywhere
        if chosen:
            return Expectation(endpoints=chosen)
        verdict = "DROP" if everywhere else "REJECT"
        return Expectation(chain="KUBE-SERVICES", comment=refusal, verdict=verdict)
    ranges = [ipaddress.ip_network(r) for r in svc.get("loadBalancerSourceRanges", [])]
    firewall = None
    if target.kind == "lb" and ranges and everywhere:
        comment = f"{name} traffic not accepted by KUBE-FW-"
        firewall = Expectation(chain="KUBE-PROXY-FIREWALL", comment=comment, verdict="DROP")
        if not _allowed(proxy, svc, ranges, src):
            return firewall
    # eTP Local keeps the client's address by using only this node's endpoints, except for
    # pods and the node itself, which are "short-circuited" to every endpoint (proxier.go).
    local_policy = svc.get("externalTrafficPolicy") == "Local"
    inside = source == "node" or ipaddress.ip_address(src) in CLUSTER_CIDR
    chosen = here if local_policy and not inside else everywhere
    if chosen:
        return Expectation(endpoints=chosen)
    if firewall is not None:
        # Whatever reaches filter still addressed to the LB IP meets KUBE-PROXY-FIREWALL's
        # rule, whose jump comes first in INPUT and FORWARD and also hangs off OUTPUT.
        return firewall
    if source == "node" and target.kind in ("external", "lb"):
        # KUBE-EXTERNAL-SERVICES hangs off INPUT and FORWARD only; the node's own packet to
        # an address it does not own passes filter OUTPUT untouched and leaves.
        return Expectation()
    verdict = "DROP" if everywhere else "REJECT"
    return Expectation(chain="KUBE-EXTERNAL-SERVICES", comment=refusal, verdict=verdict)


def _allowed(proxy: dict[str, Any], svc: dict[str, Any], ranges: list[Any], src: str) -> bool:
    """loadBalancerSourceRanges: the source is in a range, or the range holds the node's IP
    and the source is the LB address itself (a VIP looped back on the node)."""
    address = ipaddress.ip_address(src)
    if any(address in r for r in ranges):
        return True
    node_ip = ipaddress.ip_address(proxy["node"]["primaryIP"])
    return any(node_ip in r for r in ranges) and src in svc.get("loadBalancerIngressIPs", [])

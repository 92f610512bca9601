"""Benchmark: one packet through kube-proxy's nftables table of 10,000 Services (5 endpoints
each), beside the iptables mode's linear walk of the same cluster, in the same run.

Figures (medians over repeated runs):
  nft_render_full_10000_services_s        one full nftables sync of the cluster
  nft_render_partial_10000_services_ms    the next sync after one endpoint went away
  nft_trace_10000_services_ms             matched-only trace to the last Service's ClusterIP
  nft_rules_evaluated_10000               rules the kernel evaluates for it in nftables mode
                                          (`ip daddr . meta l4proto . th dport vmap @service-ips`
                                          is one hash lookup, whatever the Service count)
  iptables_linear_trace_10000_services_ms the same packet through the iptables-mode rules,
                                          every rule walked as the kernel does
  iptables_rules_evaluated_10000          rules the kernel evaluates for it in iptables mode
                                          (KUBE-SERVICES is tested rule by rule)
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from app.sim.conntrack import Conntrack
from app.sim.kubeproxy.iptables import render_restore
from app.sim.kubeproxy.nftables import render_nftables
from app.sim.kubeproxy.save import save_ruleset
from app.sim.kubeproxy.state import ProxyState
from app.sim.netfilter.engine import trace_packet as iptables_trace
from app.sim.nft.engine import trace_packet as nft_trace
from app.sim.nft.model import Ruleset
from app.sim.node import Node
from app.sim.packet import Packet

SERVICES = 10_000
ENDPOINTS = 5
REPEATS = 15


def _vip(i: int) -> str:
    return f"10.96.{(i + 1) // 256}.{(i + 1) % 256}"


def cluster(services: int = SERVICES) -> dict[str, Any]:
    """ClusterIP Services with ENDPOINTS endpoints each, in the cluster.yaml schema."""
    svcs, slices = [], []
    for i in range(services):
        name = f"svc{i}"
        svcs.append(
            {
                "namespace": f"ns{i % 7}",
                "name": name,
                "type": "ClusterIP",
                "clusterIP": _vip(i),
                "ports": [{"name": "p", "port": 80, "protocol": "TCP"}],
            }
        )
        endpoints = []
        for j in range(ENDPOINTS):
            n = i * ENDPOINTS + j + 2
            endpoints.append({"addresses": [f"10.{128 + n // 65536}.{n // 256 % 256}.{n % 256}"]})
        slices.append(
            {
                "namespace": f"ns{i % 7}",
                "name": f"{name}-1",
                "service": name,
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": [{"name": "p", "port": 8080, "protocol": "TCP"}],
            }
        )
    return {
        "node": {
            "name": "n",
            "primaryIP": "192.168.49.2",
            "interfaces": {"eth0": ["192.168.49.2/24"]},
        },
        "proxy": {"localDetector": {"mode": "ClusterCIDR", "cidr": "10.128.0.0/9"}},
        "services": svcs,
        "endpointSlices": slices,
    }


def _median_ms(trace: Any) -> tuple[float, int]:
    times, evaluated = [], 0
    for r in range(REPEATS):
        start = time.perf_counter()
        result = trace(r)
        times.append((time.perf_counter() - start) * 1000)
        evaluated = result.rules_evaluated
    return statistics.median(times), evaluated


def run() -> list[tuple[str, float, str]]:
    state = ProxyState.from_dict(cluster())
    packet = Packet("192.168.49.100", _vip(SERVICES - 1), "tcp", 40000, 80)
    start = time.perf_counter()
    first = render_nftables(state)
    render_s = time.perf_counter() - start
    table = first.table
    data = cluster()
    smaller = dict(data["endpointSlices"][5], endpoints=data["endpointSlices"][5]["endpoints"][1:])
    state.set_endpoint_slice(smaller)
    start = time.perf_counter()
    render_nftables(state, previous=first)
    partial_ms = (time.perf_counter() - start) * 1000
    nft_rules = Ruleset({("ip", "kube-proxy"): table})
    nft_ms, nft_evaluated = _median_ms(
        lambda r: nft_trace(
            nft_rules, packet, Node(), Conntrack(), random.Random(r), matched_only=True
        )
    )
    ipt_rules = save_ruleset(render_restore(state))
    ipt_ms, ipt_evaluated = _median_ms(
        lambda r: iptables_trace(
            ipt_rules,
            packet,
            Node(),
            Conntrack(),
            random.Random(r),
            matched_only=True,
            use_index=False,
        )
    )
    return [
        ("nft_render_full_10000_services_s", render_s, "s"),
        ("nft_render_partial_10000_services_ms", partial_ms, "ms"),
        ("nft_trace_10000_services_ms", nft_ms, "ms"),
        ("nft_rules_evaluated_10000", nft_evaluated, "rules"),
        ("iptables_linear_trace_10000_services_ms", ipt_ms, "ms"),
        ("iptables_rules_evaluated_10000", ipt_evaluated, "rules"),
    ]


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"{name}: {value:.6g} {unit}")

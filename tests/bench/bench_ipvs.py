"""Benchmark: IPVS schedulers and a packet through kube-proxy's IPVS mode.

Figures (medians over repeated runs):
  ipvs_pick_<scheduler>_per_s        scheduler picks per second, 100 real servers
  ipvs_render_10000_services_s       one IPVS-mode sync of 10,000 Services, 5 endpoints each
  ipvs_trace_10000_services_ms       one packet (matched-only) to a ClusterIP through that
                                     node: netfilter hooks, ipsets, the IPVS director

Pick loops vary the client address and port; weights are 1..5 so weighted schedulers do
real work. The connection counters stay at zero (the scheduler alone is measured).
"""

from __future__ import annotations

import random
import statistics
import time

from app.sim.conntrack import Conntrack
from app.sim.ipvs.director import Ipvs
from app.sim.ipvs.schedulers import SCHEDULERS
from app.sim.ipvs.schedulers.base import Request
from app.sim.ipvs.trace import trace_ipvs
from app.sim.kubeproxy.ipvs import IpvsOptions, render_ipvs
from app.sim.kubeproxy.ipvs_trace import prepare_node, sync_ruleset
from app.sim.kubeproxy.state import ProxyState
from app.sim.netfilter.packet_input import parse_packet_json

REPEATS = 7
PICKS = 2000
SERVERS = 100
ENDPOINTS = 5


def _service(name: str) -> tuple[Ipvs, object]:
    ipvs = Ipvs()
    svc = ipvs.add_service("TCP", "10.96.0.10", 80, name)
    for i in range(SERVERS):
        ipvs.add_dest(svc, f"10.244.{i // 250}.{i % 250 + 1}", 8080, weight=1 + i % 5)
    return ipvs, svc


def picks_per_second(name: str) -> float:
    _, svc = _service(name)
    rng = random.Random(1)
    requests = [
        Request(f"192.168.{i // 250}.{i % 250 + 1}", 30000 + i, "10.96.0.10", 80, rng)
        for i in range(PICKS)
    ]
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for req in requests:
            svc.scheduler.schedule(svc, req)  # type: ignore[attr-defined]
        samples.append(PICKS / (time.perf_counter() - started))
    return statistics.median(samples)


def cluster(services: int) -> dict:
    """`services` ClusterIP Services with ENDPOINTS endpoints each (cluster.yaml schema)."""
    svcs, slices = [], []
    for i in range(services):
        name = f"svc-{i}"
        svcs.append({"namespace": "bench", "name": name,
                     "clusterIP": f"10.96.{(i + 1) // 256}.{(i + 1) % 256}",
                     "ports": [{"name": "", "port": 80, "protocol": "TCP"}]})  # fmt: skip
        eps = [f"10.{(n := i * ENDPOINTS + j) // 65536 % 200 + 50}.{n // 256 % 256}.{n % 256}"
               for j in range(ENDPOINTS)]  # fmt: skip
        slices.append({"namespace": "bench", "name": f"{name}-1", "service": name,
                       "addressType": "IPv4",
                       "ports": [{"name": "", "port": 80, "protocol": "TCP"}],
                       "endpoints": [{"addresses": [ip]} for ip in eps]})  # fmt: skip
    return {
        "mode": "ipvs",
        "node": {"name": "node-1", "primaryIP": "192.168.49.2",
                 "interfaces": {"eth0": ["192.168.49.2/24"]}},
        "proxy": {"localDetector": {"mode": "ClusterCIDR", "cidr": "10.244.0.0/16"}},
        "services": svcs,
        "endpointSlices": slices,
    }  # fmt: skip


def trace_figures(services: int) -> tuple[float, float]:
    data = cluster(services)
    state = ProxyState.from_dict(data)
    started = time.perf_counter()
    sync = render_ipvs(state, IpvsOptions.from_dict(data))
    render_s = time.perf_counter() - started
    ruleset = sync_ruleset(sync)
    target = services // 2
    vip = f"10.96.{(target + 1) // 256}.{(target + 1) % 256}"
    request = parse_packet_json({"origin": "external", "src": "10.244.3.7", "dst": vip,
                                 "proto": "tcp", "sport": 40000, "dport": 80,
                                 "in_iface": "cni0"})  # fmt: skip
    node = prepare_node(sync, request.node)
    samples = []
    for n in range(REPEATS + 1):
        packet = request.packet.with_(sport=40000 + n)  # a new connection each time
        started = time.perf_counter()
        trace = trace_ipvs(ruleset, sync.ipvs, packet, node, Conntrack(), random.Random(n),
                           in_iface="cni0", matched_only=True)  # fmt: skip
        elapsed = (time.perf_counter() - started) * 1000
        if not any(s.kind == "ipvs" and s.verdict == "IPVS" for s in trace.steps):
            raise RuntimeError("the probe packet was not scheduled by IPVS")
        if n:  # the first run builds the chain index
            samples.append(elapsed)
    return render_s, statistics.median(samples)


def run() -> list[tuple[str, float, str]]:
    figures = [(f"ipvs_pick_{name}_per_s", picks_per_second(name), "picks/s")
               for name in SCHEDULERS]  # fmt: skip
    render_s, trace_ms = trace_figures(10000)
    figures += [
        ("ipvs_render_10000_services_s", render_s, "s"),
        ("ipvs_trace_10000_services_ms", trace_ms, "ms"),
    ]
    return figures


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"{name}: {value:.6g} {unit}")

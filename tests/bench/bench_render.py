"""kube-proxy iptables-mode sync speed on a large cluster.

* `render_full_10000_services_s`: a full sync (first sync, empty node) of 10,000 ClusterIP
  Services with 10 endpoints each (large-cluster mode, as it would be for real);
* `render_partial_10000_services_ms`: after one endpoint of one Service changed, the
  partial re-sync (rules of the other 9,999 Services come from the per-Service cache);
* `render_state_update_ms`: applying that EndpointSlice change to the proxier's state;
* the `_cpu_` twins: the same syncs in process CPU time, which other work on a busy machine
  does not inflate.

Each is the median of several runs; the sync includes applying the restore to the node model.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from app.sim.kubeproxy.iptables import render_restore
from app.sim.kubeproxy.state import ProxyState

SERVICES = 10_000
ENDPOINTS = 10


def _slice(i: int, first_octet: int = 10) -> dict[str, Any]:
    return {
        "namespace": f"ns{i % 50}",
        "name": f"svc{i}-1",
        "service": f"svc{i}",
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [f"{first_octet}.{i // 256 % 256}.{i % 256}.{e + 1}"]}
            for e in range(ENDPOINTS)
        ],
    }


def cluster(services: int = SERVICES) -> dict[str, Any]:
    """A cluster.yaml-shaped dict with `services` Services of ENDPOINTS endpoints each."""
    return {
        "node": {"name": "node-1", "primaryIP": "192.168.49.2"},
        "proxy": {"localDetector": {"mode": "ClusterCIDR", "cidr": "10.0.0.0/8"}},
        "services": [
            {
                "namespace": f"ns{i % 50}",
                "name": f"svc{i}",
                "type": "ClusterIP",
                "clusterIP": f"172.30.{i // 256}.{i % 256}",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            }
            for i in range(services)
        ],
        "endpointSlices": [_slice(i) for i in range(services)],
    }


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def run() -> list[tuple[str, float, str]]:
    state = ProxyState.from_dict(cluster())
    full_times, full_cpu, partial_times, partial_cpu, update_times = [], [], [], [], []
    for _ in range(3):
        start, cpu = time.perf_counter(), time.process_time()
        first = render_restore(state)
        full_times.append(time.perf_counter() - start)
        full_cpu.append(time.process_time() - cpu)
    previous = first
    for n in range(9):
        changed = _slice(n * 997, first_octet=11)
        start = time.perf_counter()
        state.set_endpoint_slice(changed)
        update_times.append(time.perf_counter() - start)
        start, cpu = time.perf_counter(), time.process_time()
        previous = render_restore(state, full=False, previous=previous)
        partial_times.append(time.perf_counter() - start)
        partial_cpu.append(time.process_time() - cpu)
        assert previous.applied and not previous.full and len(previous.written_chains) > 1
    return [
        ("render_full_10000_services_s", _median(full_times), "s"),
        ("render_partial_10000_services_ms", _median(partial_times) * 1000, "ms"),
        ("render_full_10000_services_cpu_s", _median(full_cpu), "s"),
        ("render_partial_10000_services_cpu_ms", _median(partial_cpu) * 1000, "ms"),
        ("render_state_update_ms", _median(update_times) * 1000, "ms"),
    ]


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"{name}: {value:.6g} {unit}")

"""The netfilter half of IPVS mode against the real kernel: kube-proxy's IPVS-mode iptables
rules and ipsets are loaded into a throw-away node namespace (tests/kernel/harness.py), one
real packet is sent, and the kernel's path must equal the engine's up to where IPVS takes the
packet (LOCAL_IN 99 / LOCAL_OUT -98). This kernel has no IPVS module, so past that point the
kernel's packet goes on without IPVS; where no IPVS service applies, the whole path must agree.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.sim.kubeproxy.ipvs import IpvsOptions, IpvsSync, render_ipvs
from app.sim.kubeproxy.ipvs_trace import trace_sync_json
from app.sim.kubeproxy.state import ProxyState
from tests.kernel.compare import project
from tests.kernel.conftest import kernel_unavailable
from tests.kernel.harness import NodeConfig, Topology
from tests.kernel.netns import in_ns
from tests.kernel.ruleset_text import tables_of

VIP = "10.97.139.74"
REASON = kernel_unavailable()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


def _sync() -> IpvsSync:
    data = {
        "mode": "ipvs",
        "node": {"name": "node-1", "primaryIP": "192.168.49.2",
                 "interfaces": {"eth0": ["192.168.49.2/24"]}},
        "proxy": {"localDetector": {"mode": "ClusterCIDR", "cidr": "10.244.0.0/16"}},
        "services": [{"namespace": "default", "name": "web", "type": "NodePort",
                      "clusterIP": VIP,
                      "ports": [{"name": "", "port": 8080, "protocol": "TCP",
                                 "nodePort": 30080}]}],
        "endpointSlices": [{"namespace": "default", "name": "web-1", "service": "web",
                            "addressType": "IPv4",
                            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
                            "endpoints": [{"addresses": ["10.244.1.137"],
                                           "nodeName": "node-1"}]}],
    }  # fmt: skip
    return render_ipvs(ProxyState.from_dict(data), IpvsOptions.from_dict(data))


def _ipset_restore(sync: IpvsSync) -> str:
    lines = []
    for s in sync.ipsets.values():
        if s.set_type == "bitmap:port":
            lines.append(f"create {s.name} bitmap:port range 0-65535")
        else:
            lines.append(f"create {s.name} {s.set_type} family inet hashsize 1024 maxelem 65536")
        lines += [f"add {s.name} {m}" for m in s.members()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[IpvsSync, Topology, set[str]]]:
    sync = _sync()
    ruleset = sync.node_restore()
    # The VIP is local on the node (kube-ipvs0 in the cluster, an extra address here).
    with Topology(node=NodeConfig(local_ips=(f"{VIP}/32",))) as topo:
        in_ns(topo.node, "ipset", "restore", stdin=_ipset_restore(sync))
        topo.load(ruleset)
        yield sync, topo, set(tables_of(ruleset))


POD = {"origin": "external", "src": "10.244.1.5", "dst": VIP, "proto": "tcp",
       "sport": 41000, "dport": 8080, "in_iface": "cni0", "local_ips": [f"{VIP}/32"]}  # fmt: skip


def _compare(node: tuple, packet: dict) -> tuple[list, list, dict, dict]:
    sync, topo, tables = node
    topo.flush_state()
    kernel = topo.trace(packet)
    engine = trace_sync_json(sync, packet)
    return project(engine, tables), project(kernel, tables), engine, kernel


def _before_ipvs(engine: dict, tables: set[str]) -> list:
    steps = engine["steps"]
    at = next(i for i, s in enumerate(steps) if s["kind"] == "ipvs")
    return project({"steps": steps[:at]}, tables)


@pytest.mark.parametrize(
    "packet",
    [
        POD,
        {"origin": "external", "src": "192.168.49.100", "dst": "192.168.49.2", "proto": "tcp",
         "sport": 41001, "dport": 30080, "local_ips": [f"{VIP}/32"]},
        {"origin": "local", "src": "192.168.49.2", "dst": VIP, "proto": "tcp",
         "sport": 41002, "dport": 8080, "local_ips": [f"{VIP}/32"]},
    ],
    ids=["pod-to-clusterip", "outside-to-nodeport", "node-to-clusterip"],
)  # fmt: skip
def test_path_up_to_ipvs_is_the_kernels(node: tuple, packet: dict) -> None:
    _, kernel_steps, engine, _ = _compare(node, packet)
    ours = _before_ipvs(engine, node[2])
    assert ours and kernel_steps[: len(ours)] == ours


def test_other_port_on_a_vip_is_rejected_as_the_kernel_does(node: tuple) -> None:
    ours, kernel_steps, engine, kernel = _compare(node, {**POD, "sport": 41003, "dport": 22})
    assert ours == kernel_steps
    assert engine["final"]["delivered"] is None and kernel["final"]["delivered"] is None

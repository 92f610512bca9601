"""kube-proxy's iptables mode, proved in the kernel: the rules rendered for generated clusters
(`random_cluster`, reshaped per Service by kubeproxy_cases.py) and for every lab scenario are
loaded into a node namespace as iptables-save shows them on that node; packets from outside,
from a pod and from the node itself go to each front door of a sample of Service ports
(ClusterIP, NodePort, external IP, load-balancer IP). For each packet:

* the kernel does what the Service intends (kubeproxy_cases.expect): DNAT to one of the
  endpoints meant for that source, or a refusal by exactly the filter rule kube-proxy wrote for
  it (KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-PROXY-FIREWALL; REJECT or DROP);
* the engine's trace equals the kernel's (CONTRACTS.md comparison); the kernel picks among
  endpoints at random, so some engine seed below ENGINE_SEEDS must take its branch.

The packets are the lab's own (`app.sim.cluster.request`), with the node keys it passes,
`pod_iface_ip` included. `KPLAB_KPROXY_SEED=<seed> KPLAB_KPROXY_CLUSTERS=1 pytest
tests/kernel -k kubeproxy` replays a reported cluster.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.sim.cluster import Cluster, Request, request
from app.sim.kubeproxy.iptables import render_restore
from app.sim.kubeproxy.save import render_save
from app.sim.kubeproxy.state import ProxyState
from app.sim.scenarios import SCENARIOS, random_cluster

from .compare import disagreement, engine_trace_json
from .harness import NodeConfig, Topology
from .kubeproxy_cases import Expectation, Target, cluster_for, expect, port_name, targets

trace_json = engine_trace_json()
pytestmark = pytest.mark.skipif(trace_json is None, reason="engine not available")
ENGINE_SEEDS = 64  # a 1/2 branch is missed by all of them with probability 2**-64
DEFAULT_SEED, DEFAULT_CLUSTERS = 7100, 6
BASE_SEED = int(os.environ.get("KPLAB_KPROXY_SEED", DEFAULT_SEED))
CLUSTERS = int(os.environ.get("KPLAB_KPROXY_CLUSTERS", DEFAULT_CLUSTERS))
PORTS_PER_CLUSTER = 4
PACKETS_PER_PORT = 5
SOURCES = ("external", "pod", "node")


class Nodes:
    """One topology per node configuration; each node's rules rendered once per cluster."""

    def __init__(self) -> None:
        self._open: dict[NodeConfig, Topology] = {}
        self._rules: dict[tuple[str, str], str] = {}

    def rules(self, label: str, cluster: Cluster, node: str) -> str:
        """kube-proxy's rules on `node` as iptables-save shows them; `label` names the
        cluster (one per test: a freed cluster's id() may come back for the next one)."""
        key = (label, node)
        if key not in self._rules:
            state = ProxyState.from_dict(cluster.to_proxy_dict(node))
            self._rules[key] = render_save(state, render_restore(state))
        return self._rules[key]

    def trace(self, ruleset: str, packet: dict[str, Any]) -> dict[str, Any]:
        """The kernel's trace of a first packet, with no state left from earlier ones."""
        config = NodeConfig.of(packet)
        topo = self._open.get(config)
        if topo is None:
            topo = self._open[config] = Topology(node=config).__enter__()
        if topo.ruleset != ruleset or "-m recent" in ruleset:
            topo.load(ruleset)  # also empties the kernel's `-m recent` lists
        topo.flush_state()
        return topo.trace(packet)

    def close(self) -> None:
        for topo in self._open.values():
            topo.close()


@pytest.fixture(scope="module")
def nodes() -> Iterator[Nodes]:
    pool = Nodes()
    yield pool
    pool.close()


def _sources(cluster: Cluster, rng: random.Random) -> dict[str, str]:
    """One lab source of each kind: `external`, a running pod, a node (any of them: the
    control-plane node runs no pods, so a policy Local finds no endpoint there)."""
    pods = sorted(p.name for p in cluster.pods.values() if p.ip and p.node_name)
    out = {"external": "external", "node": f"node/{rng.choice(sorted(cluster.nodes))}"}
    if pods:
        out["pod"] = f"pod/{rng.choice(pods)}"
    return out


def _node_of(cluster: Cluster, source: str, rng: random.Random) -> str:
    """The node a NodePort is addressed on: the pod's or the sender's own, else any."""
    kind, _, name = source.partition("/")
    if kind == "pod":
        return cluster.pods[("default", name)].node_name
    return name if kind == "node" else rng.choice(sorted(cluster.nodes))


@dataclass
class Case:
    """One packet of the sample: the lab request, its Service port and front door, and what
    the Service intends for it."""

    source: str  # external, pod or node
    req: Request
    svc: dict[str, Any]
    port: dict[str, Any]
    target: Target
    wanted: Expectation


def _port_cases(
    cluster: Cluster, sources: dict[str, str], svc: dict, port: dict, rng: random.Random
) -> list[Case]:
    """Every source to every front door of one Service port."""
    cases = []
    for kind, source in sources.items():
        node_ip = cluster.nodes[_node_of(cluster, source, rng)].internal_ip
        for target in targets(svc, port, node_ip):
            dest = f"{target.ip}:{target.port}"
            req = request(cluster, source, dest, proto=port["protocol"].lower())
            proxy = cluster.to_proxy_dict(req.node)
            wanted = expect(proxy, svc, port, target, kind, req.packet["src"])
            cases.append(Case(kind, req, svc, port, target, wanted))
    return cases


def _sample(cluster: Cluster, rng: random.Random) -> list[Case]:
    """PACKETS_PER_PORT packets to each of PORTS_PER_CLUSTER Service ports: one of each
    distinct expected outcome first (DNAT, each refusal, untouched), then any others."""
    proxy = cluster.to_proxy_dict(sorted(cluster.nodes)[0])
    ports = [(svc, port) for svc in proxy["services"] for port in svc["ports"]]
    chosen: list[Case] = []
    for svc, port in rng.sample(ports, min(PORTS_PER_CLUSTER, len(ports))):
        cases = _port_cases(cluster, _sources(cluster, rng), svc, port, rng)
        rng.shuffle(cases)
        firsts: list[Case] = []
        rest: list[Case] = []
        for case in cases:
            seen = {c.wanted.outcome for c in firsts}
            (rest if case.wanted.outcome in seen else firsts).append(case)
        chosen += (firsts + rest)[:PACKETS_PER_PORT]
    return chosen


def _check(nodes: Nodes, cluster: Cluster, case: Case, label: str) -> None:
    req, wanted = case.req, case.wanted
    ruleset = nodes.rules(label, cluster, req.node)
    kernel = nodes.trace(ruleset, req.packet)
    where = (f"{label}: {port_name(case.svc, case.port)} {case.target.kind} from "
             f"{case.source} on {req.node}\npacket: {req.packet}\nexpected: {wanted}")  # fmt: skip
    problem = _kernel_misses(kernel, wanted, case.target)
    assert problem is None, f"{where}\nkernel: {problem}\n{_steps(kernel)}\n{ruleset}"
    reports = []
    for seed in range(ENGINE_SEEDS):
        assert trace_json is not None
        engine = trace_json(ruleset, req.packet, seed=seed)
        report = disagreement(ruleset, req.packet, engine, kernel)
        if report is None:
            return
        reports.append(report)
    pytest.fail(f"{where}\nno engine seed took the kernel's path\n{reports[0]}")


def _kernel_misses(kernel: dict[str, Any], wanted: Expectation, target: Target) -> str | None:
    """None when the kernel did what `wanted` says, else what it did instead."""
    final = kernel["final"]
    if wanted.endpoints:
        packet = final.get("packet") or {}
        reached = f"{packet.get('dst')}:{packet.get('dport')}"
        if final["delivered"] == "out" and reached in wanted.endpoints:
            return None
        return f"ended {final['delivered']} at {reached}"
    if wanted.chain is None:
        packet = final.get("packet") or {}
        untouched = (packet.get("dst"), packet.get("dport")) == (target.ip, target.port)
        return None if final["delivered"] == "out" and untouched else f"ended {final}"
    dropped = [s for s in kernel["steps"] if s["kind"] == "rule" and s["verdict"] == "DROP"]
    if not dropped:
        return f"not refused, ended {final}"
    step = dropped[-1]
    text = step["rule_text"] or ""
    if (step["table"], step["chain"]) != ("filter", wanted.chain) or wanted.comment not in text:
        return f"refused by {step['table']}/{step['chain']}: {text}"
    if f"-j {wanted.verdict}" not in text:
        return f"refused with the wrong target: {text}"
    return None


def _steps(trace: dict[str, Any]) -> str:
    return "\n".join(
        f"  {s['hook']} {s['table']}/{s['chain']} {s['rule'] or s['kind']} {s['verdict']}"
        f"  {s['rule_text'] or ''}"
        for s in trace["steps"]
    )


GENERATED = [BASE_SEED + i for i in range(CLUSTERS)]


@pytest.mark.parametrize("seed", GENERATED, ids=[f"cluster-{s}" for s in GENERATED])
def test_generated_cluster_services_behave_in_the_kernel(seed: int, nodes: Nodes) -> None:
    cluster = cluster_for(seed)
    for case in _sample(cluster, random.Random(seed)):
        _check(nodes, cluster, case, f"cluster seed {seed}")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_services_behave_in_the_kernel(scenario: str, nodes: Nodes) -> None:
    cluster = SCENARIOS[scenario].build(0)
    for case in _sample(cluster, random.Random(scenario)):
        _check(nodes, cluster, case, f"scenario {scenario}")


def test_hairpin_masquerade_picks_the_pod_bridge_address(nodes: Nodes) -> None:
    """A pod reaching itself through its Service: kube-proxy marks the connection (source
    is the endpoint) and MASQUERADE out of cni0 takes cni0's address, 10.244.X.1, in the
    kernel and in the engine. Without `pod_iface_ip` the bridge has no address, and both
    fall back to the node's."""
    cluster = random_cluster(3, services=1, nodes=1, endpoints=1)
    pod = next(iter(cluster.pods.values()))
    req = request(cluster, f"pod/{pod.name}", "svc/svc-00000:http")
    ruleset = nodes.rules("hairpin", cluster, req.node)
    bridge = req.packet["pod_iface_ip"].split("/")[0]
    node_ip = cluster.nodes[req.node].internal_ip
    bare = {k: v for k, v in req.packet.items() if k != "pod_iface_ip"}
    for packet, source in ((req.packet, bridge), (bare, node_ip)):
        kernel = nodes.trace(ruleset, packet)
        assert kernel["final"]["packet"]["dst"] == pod.ip
        assert kernel["final"]["packet"]["src"] == source
        assert trace_json is not None
        engine = trace_json(ruleset, packet, seed=0)
        assert disagreement(ruleset, packet, engine, kernel) is None


def test_the_default_sample_meets_every_outcome() -> None:
    """Guard against a proof that proves little: the packets the default run sends include
    DNATs, every refusal kube-proxy writes, an untouched packet, UDP, and every front door
    from every kind of source."""
    seen: Counter[str] = Counter()
    clusters = [(cluster_for(s), random.Random(s)) for s in range(DEFAULT_SEED,
                DEFAULT_SEED + DEFAULT_CLUSTERS)]  # fmt: skip
    clusters += [(SCENARIOS[s].build(0), random.Random(s)) for s in sorted(SCENARIOS)]
    for cluster, rng in clusters:
        for case in _sample(cluster, rng):
            seen.update([case.wanted.outcome, case.port["protocol"],
                         f"{case.target.kind} from {case.source}"])  # fmt: skip
    refusals = [f"KUBE-SERVICES {v}" for v in ("REJECT", "DROP")]
    refusals += [f"KUBE-EXTERNAL-SERVICES {v}" for v in ("REJECT", "DROP")]
    doors = [f"{t} from {s}" for t in ("cluster", "nodeport", "external", "lb") for s in SOURCES]
    wanted = {"DNAT", "untouched", "KUBE-PROXY-FIREWALL DROP", "UDP", *refusals, *doors}
    assert wanted <= set(seen), wanted - set(seen)

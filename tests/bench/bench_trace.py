"""Benchmark: one packet (matched-only trace) through kube-proxy iptables rulesets of 1,000 and
10,000 Services with 5 endpoints each, against a naive linear evaluator in the same run.

Figures (medians over repeated runs):
  trace_1000_services_ms, trace_10000_services_ms      the indexed engine
  trace_linear_baseline_10000_services_ms             the same engine walking every rule
  trace_speedup_vs_linear_10000                       baseline / indexed
  trace_linear_rule_count_10000                       rules the kernel evaluates for the packet

The ruleset is generated here (seeded): KUBE-SERVICES with one rule per Service, a
KUBE-SVC-* statistic cascade per Service, KUBE-SEP-* with the hairpin KUBE-MARK-MASQ and the
DNAT, KUBE-POSTROUTING/KUBE-MARK-MASQ and the filter chains kube-proxy writes.
"""

from __future__ import annotations

import random
import statistics
import time

from app.sim.conntrack import Conntrack
from app.sim.kubeproxy.names import endpoint_chain, service_port_chain
from app.sim.netfilter.engine import trace_packet
from app.sim.netfilter.model import Chain, Ruleset
from app.sim.netfilter.parse import parse_rule_args
from app.sim.netfilter.values import split_line
from app.sim.node import Node
from app.sim.packet import Packet

REPEATS = 25
ENDPOINTS = 5


def _vip(i: int) -> str:
    return f"10.96.{(i + 1) // 256}.{(i + 1) % 256}"


def _endpoint(i: int, j: int) -> str:
    n = i * ENDPOINTS + j + 2
    return f"10.244.{n // 250}.{n % 250 + 2}"


def kube_ruleset_text(services: int, endpoints: int = ENDPOINTS, seed: int = 0) -> str:
    """A kube-proxy iptables-mode ruleset (iptables-save form) for `services` Services."""
    ports = service_ports(services, seed)
    nat = [
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":INPUT ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]",
        ":KUBE-MARK-MASQ - [0:0]",
        ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-POSTROUTING - [0:0]",
        ":KUBE-SERVICES - [0:0]",
    ]
    body = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT"'
        " -j MASQUERADE --random-fully",
    ]
    for i in range(services):
        declared, rules = _service(i, ports[i], endpoints)
        nat += declared
        body += rules
    body.append(
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must'
        ' be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'
    )
    return "\n".join([*_filter_table(), *nat, *body, "COMMIT", ""])


def _service(i: int, port: int, endpoints: int) -> tuple[list[str], list[str]]:
    name = f"ns{i % 7}/svc{i}:p{port}"
    svc = service_port_chain("KUBE-SVC-", name, "tcp")
    vip = _vip(i)
    declared = [f":{svc} - [0:0]"]
    rules = [
        f'-A KUBE-SERVICES -d {vip}/32 -p tcp -m comment --comment "{name} cluster IP"'
        f" -m tcp --dport {port} -j {svc}",
        f'-A {svc} ! -s 10.244.0.0/16 -d {vip}/32 -p tcp -m comment --comment "{name} cluster'
        f' IP" -m tcp --dport {port} -j KUBE-MARK-MASQ',
    ]
    seps = []
    for j in range(endpoints):
        ep = _endpoint(i, j)
        sep = endpoint_chain(name, "tcp", f"{ep}:{port}")
        declared.append(f":{sep} - [0:0]")
        left = endpoints - j
        odds = f" -m statistic --mode random --probability {1 / left:.11f}" if left > 1 else ""
        rules.append(f'-A {svc} -m comment --comment "{name} -> {ep}:{port}"{odds} -j {sep}')
        seps += [
            f'-A {sep} -s {ep}/32 -m comment --comment "{name}" -j KUBE-MARK-MASQ',
            f'-A {sep} -p tcp -m comment --comment "{name}" -m tcp -j DNAT'
            f" --to-destination {ep}:{port}",
        ]
    return declared, rules + seps


def _filter_table() -> list[str]:
    return [
        "*filter",
        ":INPUT ACCEPT [0:0]",
        ":FORWARD ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":KUBE-FORWARD - [0:0]",
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules"'
        " -m mark --mark 0x4000/0x4000 -j ACCEPT",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule"'
        " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "COMMIT",
    ]


def service_ports(services: int, seed: int = 0) -> list[int]:
    """Each Service's port, drawn from a seeded generator."""
    rng = random.Random(seed)
    return [rng.choice((80, 443, 8080, 53, 9090)) for _ in range(services)]


def probe(services: int, seed: int = 0) -> Packet:
    """A first packet from outside to the last-but-one Service (deep in KUBE-SERVICES)."""
    i = services - 2
    return Packet("192.168.49.100", _vip(i), "tcp", 40000, service_ports(services, seed)[i])


def build_ruleset(text: str) -> Ruleset:
    """The model of generated iptables-save text, one rule at a time through the rule parser.

    iptables-restore's path also re-checks, for every rule, which hooks can reach its chain;
    that load-time work is not what this benchmark measures, so the model is built directly.
    """
    ruleset, table = Ruleset(), None
    for line in text.splitlines():
        if line.startswith("*"):
            table = ruleset.table(line[1:])
        elif line.startswith(":") and table is not None:
            name, policy = line[1:].split()[:2]
            chain = table.chains.setdefault(name, Chain(name))
            chain.policy = None if policy == "-" else policy
        elif line.startswith("-A ") and table is not None:
            argv = split_line(line)
            table.chains[argv[1]].rules.append(parse_rule_args(argv[2:], raw=line))
    return ruleset


def time_trace(ruleset: Ruleset, packet: Packet, *, use_index: bool) -> tuple[float, int]:
    """Median milliseconds of one matched-only trace, and its linear rule count."""
    samples, count = [], 0
    for n in range(REPEATS + 1):
        started = time.perf_counter()
        trace = trace_packet(
            ruleset,
            packet,
            Node(),
            Conntrack(),
            random.Random(n),
            matched_only=True,
            use_index=use_index,
        )
        elapsed = (time.perf_counter() - started) * 1000
        if trace.final is None or trace.final.delivered != "out":
            raise RuntimeError("the probe packet did not reach an endpoint")
        if n:  # the first run builds the chain index: not part of the steady state
            samples.append(elapsed)
        count = trace.rules_evaluated
    return statistics.median(samples), count


def run() -> list[tuple[str, float, str]]:
    figures: list[tuple[str, float, str]] = []
    small = build_ruleset(kube_ruleset_text(1000))
    indexed_small, _ = time_trace(small, probe(1000), use_index=True)
    figures.append(("trace_1000_services_ms", indexed_small, "ms"))
    big = build_ruleset(kube_ruleset_text(10000))
    packet = probe(10000)
    indexed, count = time_trace(big, packet, use_index=True)
    linear, linear_count = time_trace(big, packet, use_index=False)
    if count != linear_count:
        raise RuntimeError(f"indexed and linear walks disagree: {count} != {linear_count}")
    figures += [
        ("trace_10000_services_ms", indexed, "ms"),
        ("trace_linear_baseline_10000_services_ms", linear, "ms"),
        ("trace_speedup_vs_linear_10000", linear / indexed, "x"),
        ("trace_linear_rule_count_10000", count, "rules"),
    ]
    return figures


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"{name}: {value:.6g} {unit}")

"""`-m statistic --mode random` load balancing: the engine's shares match the kernel's.

kube-proxy spreads a Service over n endpoints with a cascade of probabilities 1/n, 1/(n-1),
..., rest (proxier.go, writeServiceToEndpointRules). The kernel draws for every first packet
(nat runs once per connection, kernel-facts 5.4); the engine draws from its seeded generator.
N first packets on each side (sports 20000, 20001, ...) must give shares that a 2x3
contingency chi-square cannot tell apart at p = 1e-5, and each side must fit 1/3 each.
The kernel side is truly random, so the bound is strict enough that a correct engine fails a run
only about once in 25,000 (four checks), while a skew such as 1/2, 1/4, 1/4 still gives
p < 1e-15 at N = 600.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator

import pytest

from .cases import _load
from .compare import engine_trace_json
from .harness import Topology

SHOP = _load("three-endpoints")
ENDPOINTS = ["10.244.1.21:8080", "10.244.2.22:8080", "10.244.3.23:8080"]
N = 600
P_VALUE = 1e-5
trace_json = engine_trace_json()

ORIGINS = {
    "external": {"origin": "external", "src": "192.168.49.100", "in_iface": "eth0"},
    "local": {"origin": "local", "src": "192.168.49.2"},
}


def first_packets(origin: str) -> list[dict]:
    base = {**ORIGINS[origin], "dst": "10.96.0.50", "proto": "tcp", "dport": 80}
    return [{**base, "sport": 20000 + i} for i in range(N)]


def chi_square_p(table: list[list[int]]) -> float:
    """p-value of Pearson's chi-square test of independence on a 2 x 3 table. With 2 degrees
    of freedom the chi-square survival function is exactly exp(-x/2)."""
    rows = [sum(r) for r in table]
    cols = [sum(c) for c in zip(*table, strict=True)]
    total = sum(rows)
    x = sum(
        (table[i][j] - rows[i] * cols[j] / total) ** 2 / (rows[i] * cols[j] / total)
        for i in range(len(rows))
        for j in range(len(cols))
        if cols[j]
    )
    return math.exp(-x / 2)


def uniform_p(counts: list[int]) -> float:
    """p-value of a chi-square goodness-of-fit test against 1/3 each (2 degrees of freedom)."""
    expected = sum(counts) / 3
    return math.exp(-sum((c - expected) ** 2 / expected for c in counts) / 2)


def kernel_shares(origin: str) -> tuple[list[int], list[int]]:
    """(by conntrack's DNAT target, by the DNAT rules' packet counters)."""
    with Topology(SHOP) as topo:
        codes = topo.send(first_packets(origin))
        assert codes == [0] * N
        entries = topo.conntrack(p="tcp", d="10.96.0.50", dport=80)
        by_conntrack = Counter(e["dnat_to"] for e in entries)
        by_counters = rule_counters(topo.save("nat", counters=True))
    return [by_conntrack[e] for e in ENDPOINTS], [by_counters[e] for e in ENDPOINTS]


def rule_counters(saved: str) -> Counter:
    """Packets per DNAT target from `iptables-save -c` lines `[packets:bytes] -A ...`."""
    counts: Counter = Counter()
    for line in saved.splitlines():
        if line.startswith("[") and "--to-destination" in line:
            packets = int(line[1:].split(":", 1)[0])
            counts[line.rsplit("--to-destination ", 1)[1].split()[0]] += packets
    return counts


@pytest.fixture(scope="module", params=sorted(ORIGINS))
def kernel_counts(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[int]]]:
    by_conntrack, by_counters = kernel_shares(request.param)
    # Two independent kernel views of the same N connections must agree exactly.
    assert by_conntrack == by_counters
    assert sum(by_conntrack) == N
    yield request.param, by_conntrack


def test_kernel_spreads_first_packets_evenly(kernel_counts: tuple[str, list[int]]) -> None:
    origin, counts = kernel_counts
    assert uniform_p(counts) > P_VALUE, f"{origin}: kernel shares {counts}"


@pytest.mark.skipif(trace_json is None, reason="engine not available")
def test_engine_shares_match_the_kernel(kernel_counts: tuple[str, list[int]]) -> None:
    origin, kernel = kernel_counts
    assert trace_json is not None
    picked = Counter()
    for seed, packet in enumerate(first_packets(origin)):
        picked[trace_json(SHOP, packet, seed=seed)["conntrack"]["dnat_to"]] += 1
    engine = [picked[e] for e in ENDPOINTS]
    assert sum(engine) == N, f"{origin}: engine picked {dict(picked)}"
    assert uniform_p(engine) > P_VALUE, f"{origin}: engine shares {engine}"
    p = chi_square_p([engine, kernel])
    assert p > P_VALUE, f"{origin}: engine {engine} vs kernel {kernel}, p = {p:.2g}"


def test_chi_square_tells_a_skewed_share_apart() -> None:
    """The test above can fail: a 1/2, 1/4, 1/4 split is rejected against an even one."""
    assert chi_square_p([[300, 150, 150], [200, 200, 200]]) < P_VALUE
    assert uniform_p([300, 150, 150]) < P_VALUE
    assert chi_square_p([[205, 190, 205], [198, 207, 195]]) > P_VALUE

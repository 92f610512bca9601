"""The engine must take the path the Linux kernel takes (CONTRACTS.md, "How a trace is
compared with the kernel"): hand-written cases, then seeded random rulesets (gen.py).

Each failure prints the ruleset, the packet, both step lists side by side and, for generated
cases, the seed: `KPLAB_KERNEL_SEED=<seed> KPLAB_KERNEL_CASES=1 pytest tests/kernel -k generated`
replays one case.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import gen
from .cases import CASES, Case
from .compare import disagreement, engine_trace_json, project
from .harness import NodeConfig, Topology
from .ruleset_text import tables_of

trace_json = engine_trace_json()
needs_engine = pytest.mark.skipif(trace_json is None, reason="engine not available")
RANDOM_SEEDS = 64  # a 1/2 branch is missed by all of them with probability 2**-64


class Topologies:
    """One topology per node configuration, reloaded for each ruleset (a reload costs a few
    milliseconds, a new topology about a tenth of a second)."""

    def __init__(self) -> None:
        self._open: dict[NodeConfig, Topology] = {}

    def trace(self, ruleset: str, packet: dict, fresh: bool = False) -> dict:
        """The kernel's trace of a first packet; `fresh` reloads the ruleset first, which
        also resets per-rule kernel state (`-m recent` lists, nth counters)."""
        topo = self.loaded(ruleset, NodeConfig.of(packet), fresh)
        topo.flush_state()
        return topo.trace(packet)

    def loaded(self, ruleset: str, node: NodeConfig, fresh: bool = False) -> Topology:
        topo = self._open.get(node)
        if topo is None:
            topo = self._open[node] = Topology(node=node).__enter__()
        if fresh or topo.ruleset != ruleset:
            topo.load(ruleset)
        return topo

    def close(self) -> None:
        for topo in self._open.values():
            topo.close()


@pytest.fixture(scope="module")
def topologies() -> Iterator[Topologies]:
    pool = Topologies()
    yield pool
    pool.close()


def engine(ruleset: str, packet: dict, seed: int = 0) -> dict:
    assert trace_json is not None
    return trace_json(ruleset, packet, seed=seed)


@needs_engine
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hand_written_case(case: Case, topologies: Topologies) -> None:
    kernel = topologies.trace(case.ruleset, case.packet)
    seeds = range(RANDOM_SEEDS) if case.random else [0]
    reports = []
    for seed in seeds:
        report = disagreement(
            case.ruleset, case.packet, engine(case.ruleset, case.packet, seed), kernel
        )
        if report is None:
            return
        reports.append(report)
    pytest.fail(
        reports[0] if not case.random else "no engine seed took the kernel's path\n" + reports[0]
    )


def test_hand_written_cases_reach_what_they_name(topologies: Topologies) -> None:
    """Guard against vacuous cases: every case's kernel trace has steps, the REJECT cases
    really reject, and the kube cases really DNAT."""
    for case in CASES:
        kernel = topologies.trace(case.ruleset, case.packet)
        assert kernel["steps"] or "without NAT targets" in case.name, case.name
        if "REJECT" in case.name:
            assert kernel["final"]["rejected"], case.name
        if case.name.startswith(("ClusterIP from", "NodePort from", "ClusterIP hairpin")):
            assert kernel["final"]["packet"]["dst"] == "10.244.2.6", case.name


GENERATED = [gen.base_seed() + i for i in range(gen.case_count())]


@needs_engine
@pytest.mark.parametrize("seed", GENERATED, ids=[f"generated-{s}" for s in GENERATED])
def test_generated_case(seed: int, topologies: Topologies) -> None:
    case = gen.case(seed)
    for packet in case.packets:
        kernel = topologies.trace(case.ruleset, packet, fresh=True)
        report = disagreement(case.ruleset, packet, engine(case.ruleset, packet), kernel, seed)
        if report is not None:
            pytest.fail(report)


def test_generated_cases_exercise_the_kernel(topologies: Topologies) -> None:
    """The generator is worth running only if its packets hit rules: over the first 40
    cases, matched rules, drops, DNATs, jumps and returns must all show up."""
    seen: set[str] = set()
    for i in range(40):
        case = gen.case(gen.base_seed() + i)
        for packet in case.packets:
            kernel = topologies.trace(case.ruleset, packet)
            steps = project(kernel, set(tables_of(case.ruleset)))
            seen |= {s[4].split(":")[0] for s in steps if s[3] == "rule"}
            if kernel["conntrack"] and kernel["conntrack"]["dnat_to"]:
                seen.add("DNAT")
    assert {"ACCEPT", "DROP", "CONTINUE", "JUMP", "RETURN", "DNAT"} <= seen, seen

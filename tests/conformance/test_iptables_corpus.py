"""kube-proxy iptables mode against the upstream unit-test corpus.

Each exact-text case (or step) renders kube-proxy's iptables-restore input from the case's
cluster.yaml, normalises it with the upstream tests' canonical sort and compares it with the
expected text byte for byte, as upstream does (README section 4.1); a failure shows a unified
diff. Each packet-flow expectation is checked with the flow analysis (README section 4.2) over
the rules on the node after the sync.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from pathlib import Path

import pytest

from app.sim.kubeproxy.flows import trace_flow
from app.sim.kubeproxy.iptables import SyncResult, render_restore

from .corpus import (
    IPTABLES,
    MISSING_REASON,
    apply_prose,
    apply_step,
    case_dirs,
    injected_rule,
    load_state,
    load_yaml,
)

pytestmark = pytest.mark.skipif(not IPTABLES.is_dir(), reason=MISSING_REASON)


def assert_same_text(expected: str, actual: str, label: str) -> None:
    if expected != actual:
        diff = difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"{label} (expected)",
            tofile=f"{label} (rendered)",
        )
        pytest.fail("rendered rules differ from the corpus:\n" + "".join(diff), pytrace=False)


def _expected(path: Path) -> str:
    # upstream trims leading whitespace of the expected text only (assertIPTablesRulesEqual)
    return path.read_text(encoding="utf-8").lstrip(" \t\n")


# --- full dumps --------------------------------------------------------------------------
@pytest.mark.parametrize("case", case_dirs("expected-iptables-save.txt"), ids=lambda p: p.name)
def test_full_dump(case: Path) -> None:
    result = render_restore(load_state(case))
    assert result.applied, result.error
    assert_same_text(_expected(case / "expected-iptables-save.txt"), result.canonical(), case.name)


def _step_params() -> list[tuple[Path, int]]:
    params = []
    for case in case_dirs("cluster.yaml"):
        steps = load_yaml(case / "cluster.yaml").get("steps") or []
        params += [(case, s["step"]) for s in steps if str(s.get("expected", "")).endswith(".txt")]
    return params


def _run_steps(case: Path, upto: int) -> SyncResult:
    """Sync step 1 (full), then every later step (partial) up to `upto`."""
    state = load_state(case)
    steps = load_yaml(case / "cluster.yaml")["steps"]
    result = render_restore(state)
    for step in steps[1:upto]:
        apply_step(state, step)
        rule = injected_rule(step.get("action", ""))
        if rule is not None:
            result.node.add_rule("nat", rule)
        result = render_restore(state, full=False, previous=result)
        if rule is not None:
            # The injected jump keeps a deleted chain referenced: the partial restore fails
            # as a whole and kube-proxy falls back to a full sync, which is what is recorded.
            assert not result.applied and result.need_full_sync, "the partial restore must fail"
            result = render_restore(state, full=False, previous=result)
            assert result.full and result.applied
    return result


@pytest.mark.parametrize(
    ("case", "step"), _step_params(), ids=lambda v: v.name if isinstance(v, Path) else f"step{v}"
)
def test_sync_steps(case: Path, step: int) -> None:
    result = _run_steps(case, step)
    # the node after the sync is what replaying the restore text onto it gives
    replayed = result.replay()
    for table in ("filter", "nat"):
        assert replayed.tables[table].chains == result.node.tables[table].chains
    expected = _expected(case / f"step-{step:02d}.expected-iptables-save.txt")
    assert_same_text(expected, result.canonical(), f"{case.name} step {step}")


# --- one chain -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", case_dirs("expected-chain.txt"), ids=lambda p: p.name)
def test_single_chain(case: Path) -> None:
    spec = load_yaml(case / "cluster.yaml")["expected"]
    result = render_restore(load_state(case))
    # assertIPTablesChainEqual: the chain's rules from the restore input, in emission order
    # (an absent chain reads as empty).
    rules = [
        line
        for line in result.restore.splitlines()
        if line.startswith(f"-A {spec['chain']} ")
        and _table_of(result.restore, line) == spec["table"]
    ]
    actual = "".join(rule + "\n" for rule in rules)
    assert_same_text(_expected(case / "expected-chain.txt"), actual, case.name)


def _table_of(restore: str, line: str) -> str:
    table = ""
    for current in restore.splitlines():
        if current.startswith("*"):
            table = current[1:]
        if current == line:
            return table
    return table


# --- large-cluster mode (iptables/16) ----------------------------------------------------------
LARGE = IPTABLES / "16-large-cluster-mode"


def _dnat_counts(restore: str) -> tuple[int, int]:
    dnat = [line for line in restore.splitlines() if "-j DNAT" in line]
    return len(dnat), sum("-m comment" in line for line in dnat)


def _large_cluster_syncs() -> list[SyncResult]:
    """The seven syncs of TestSyncProxyRulesLargeClusterMode, as its `after:` prose says."""
    state = load_state(LARGE)
    period = state.options.sync_period
    port3 = {"name": "p8081", "port": 8081, "protocol": "TCP"}
    slice3 = {"namespace": "ns3", "name": "svc3-1", "service": "svc3", "addressType": "IPv4"}
    slice3 |= {
        "ports": [port3],
        "endpoints": [{"addresses": [f"203.0.113.{n}"]} for n in (4, 8, 12)],
    }
    port4 = {"name": "p8082", "port": 8082, "protocol": "TCP"}
    svc4 = {"namespace": "ns4", "name": "svc4", "type": "ClusterIP", "clusterIP": "172.30.0.44"}
    slice4 = {"namespace": "ns4", "name": "svc4-1", "service": "svc4", "addressType": "IPv4"}
    slice4 |= {"ports": [port4], "endpoints": [{"addresses": ["10.4.0.1"]}]}
    now = 1000.0
    results = [render_restore(state, now=now)]
    state.set_endpoint_slice(slice3)
    results.append(render_restore(state, full=False, previous=results[-1], now=now))
    results.append(render_restore(state, full=True, previous=results[-1], now=now))
    state.set_service(svc4 | {"ports": [port4]})
    state.set_endpoint_slice(slice4)
    results.append(render_restore(state, full=False, previous=results[-1], now=now))
    state.delete_service("ns4/svc4")
    just_cleaned = dataclasses.replace(results[-1], last_cleanup=now)
    results.append(render_restore(state, full=False, previous=just_cleaned, now=now))
    now += period + 1
    results.append(render_restore(state, full=False, previous=results[-1], now=now))
    results.append(render_restore(state, full=True, previous=results[-1], now=now))
    return results


@pytest.mark.skipif(not (LARGE / "expected-assertions.yaml").exists(), reason=MISSING_REASON)
def test_large_cluster_mode() -> None:
    spec = load_yaml(LARGE / "expected-assertions.yaml")
    results = _large_cluster_syncs()
    assert len(results) == len(spec["steps"])
    for index, (step, result) in enumerate(zip(spec["steps"], results, strict=True), 1):
        label = f"step {index} ({step['after']})"
        lines = result.restore.splitlines()
        assert result.applied, f"{label}: {result.error}"
        if "line" in step:
            assert step["line"] in lines, f"{label}: missing {step['line']!r}"
        dnat, commented = _dnat_counts(result.restore)
        assert dnat == step["dnatRules"], label
        if "dnatRulesWithComment" in step:
            assert commented == step["dnatRulesWithComment"], label
        if "mustNotContain" in step:
            assert step["mustNotContain"] not in result.restore, label
        for text in step.get("mustContain", ()):
            assert text in lines, f"{label}: missing {text!r}"


# --- packet flows (README section 4.2) ---------------------------------------------------------
def _flow_params() -> list[tuple[Path, int, int]]:
    params = []
    for case in case_dirs("expected-packet-flows.yaml"):
        spec = load_yaml(case / "expected-packet-flows.yaml")
        for s, step in enumerate(spec["steps"]):
            params += [(case, s, f) for f in range(len(step["flows"]))]
    return params


def _flow_id(value: object) -> str:
    return value.name if isinstance(value, Path) else str(value)


@functools.cache
def _synced(case: Path, step: int) -> SyncResult:
    """The sync after a flow case's step (shared by that step's flows, which only read it)."""
    spec = load_yaml(case / "expected-packet-flows.yaml")
    state = load_state(case)
    result = None
    for done in spec["steps"][: step + 1]:
        apply_prose(state, done["after"])
        # the first sync is full, the ones after a change are partial, as in the upstream test
        result = render_restore(state, full=result is None, previous=result)
    assert result is not None
    return result


@pytest.mark.parametrize(("case", "step", "flow"), _flow_params(), ids=_flow_id)
def test_packet_flow(case: Path, step: int, flow: int) -> None:
    spec = load_yaml(case / "expected-packet-flows.yaml")
    result = _synced(case, step)
    assert result.applied
    want = spec["steps"][step]["flows"][flow]
    got = trace_flow(
        result.node,
        src=want["sourceIP"],
        proto=want["protocol"],
        dst=want["destIP"],
        dport=want["destPort"],
        local_ips=spec["tracerLocalIPs"],
    )
    label = f"{want['name']} ({spec['steps'][step]['after']})"
    assert (got.output, got.masq) == (want["output"], want["masq"]), (
        f"{label}: rules matched:\n" + "\n".join(got.matched)
    )

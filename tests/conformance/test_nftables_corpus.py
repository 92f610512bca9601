"""kube-proxy nftables mode against the upstream test corpus (`nftables/*`).

Exact cases (01-04) compare the knftables Dump after the README §4.3 sort; the multi-step case
02 also checks each step's transaction size where upstream records it. Packet-flow cases
(05-11) run the README §4.2 tracer semantics over the rendered table with the nftables
evaluator (`app/sim/nft/flows.py`).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest

from app.sim.kubeproxy.nftables import NftSync, canonical_dump, render_nftables
from app.sim.kubeproxy.state import ProxyState
from app.sim.nft.flows import trace_flow
from app.sim.nft.parse import parse_commands
from tests.conformance.corpus import CORPUS, MISSING_REASON, apply_prose, load_yaml

NFTABLES = CORPUS / "nftables"
pytestmark = pytest.mark.skipif(not NFTABLES.is_dir(), reason=MISSING_REASON)


def _cases(kind: str) -> list[Path]:
    if not NFTABLES.is_dir():
        return []
    return sorted(d for d in NFTABLES.iterdir() if (d / kind).exists())


def _cidrs(cluster: dict[str, Any]) -> list[str]:
    text = str((cluster.get("proxy") or {}).get("serviceCIDRs") or "")
    return [c.strip() for c in text.split(",") if c.strip()]


def _assert_dump(expected_file: Path, result: NftSync) -> None:
    expected = canonical_dump(expected_file.read_text(encoding="utf-8"))
    actual = result.canonical()
    if expected != actual:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True)))
        pytest.fail(f"{expected_file.name} differs:\n{diff}")


@pytest.mark.parametrize(
    "case", ["01-overall-nftables-rules", "04-bad-ips-loadbalancer-source-ranges"]
)
def test_single_sync_dump_matches_upstream(case: str) -> None:
    cluster = load_yaml(NFTABLES / case / "cluster.yaml")
    result = render_nftables(ProxyState.from_dict(cluster), service_cidrs=_cidrs(cluster))
    _assert_dump(NFTABLES / case / "expected-nft.txt", result)


def test_startup_over_preexisting_state_rewrites_it() -> None:
    case = NFTABLES / "03-sync-proxy-rules-startup"
    cluster = load_yaml(case / "cluster.yaml")
    before = parse_commands((case / "preexisting-nft.txt").read_text(encoding="utf-8"))
    result = render_nftables(
        ProxyState.from_dict(cluster),
        service_cidrs=_cidrs(cluster),
        preexisting=before.table("ip", "kube-proxy"),
    )
    _assert_dump(case / "expected-nft.txt", result)


def _slice(ns: str, svc: str, port: str, number: int, ips: list[str]) -> dict[str, Any]:
    return {
        "namespace": ns,
        "name": f"{svc}-1",
        "service": svc,
        "addressType": "IPv4",
        "ports": [{"name": port, "port": number, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip]} for ip in ips],
    }


def _service(ns: str, name: str, ip: str, port: str, number: int) -> dict[str, Any]:
    ports = [{"name": port, "port": number, "protocol": "TCP"}]
    return {"namespace": ns, "name": name, "type": "ClusterIP", "clusterIP": ip, "ports": ports}


# The step actions of case 02, which cluster.yaml records as prose only.
def _svc3(ips: list[str]) -> dict[str, Any]:
    return _slice("ns3", "svc3", "p80", 80, ips)


STEPS_02: dict[int, list[tuple[str, Any]]] = {
    1: [],
    2: [("svc", _service("ns3", "svc3", "172.30.0.43", "p80", 80)), ("eps", _svc3(["10.0.3.1"]))],
    3: [("delete", "ns2/svc2")],
    4: [("age", None)],
    5: [("svc", _service("ns4", "svc4", "172.30.0.44", "p80", 80))],
    6: [("eps", _slice("ns4", "svc4", "p80", 80, ["10.0.4.1"]))],
    7: [("eps", _svc3(["10.0.3.2"]))],
    8: [("age", None), ("eps", _svc3(["10.0.3.2", "10.0.3.3"]))],
    9: [("eps", _svc3([]))],
    10: [("eps", _svc3(["10.0.3.2", "10.0.3.3"]))],
    11: [
        ("eps", _svc3([])),
        ("sync", None),
        ("age", None),
        ("eps", _svc3(["10.0.3.2", "10.0.3.3"])),
    ],
    12: [],
}


def test_repeated_syncs_follow_every_step() -> None:
    case = NFTABLES / "02-sync-proxy-rules-repeated"
    cluster = load_yaml(case / "cluster.yaml")
    state = ProxyState.from_dict(cluster)
    result, clock = None, 0.0

    def sync() -> NftSync:
        return render_nftables(state, previous=result, now=clock, service_cidrs=_cidrs(cluster))

    for step in cluster["steps"]:
        for action, arg in STEPS_02[step["step"]]:
            if action == "svc":
                state.set_service(arg)
            elif action == "eps":
                state.set_endpoint_slice(arg)
            elif action == "delete":
                state.delete_service(arg)
            elif action == "age":
                clock += 2.0  # ageStaleChains: every stale chain is now 2 s old
            else:
                result = sync()
        result = sync()
        _assert_dump(case / step["expected"], result)
        if "expectedTransactionOperations" in step:
            assert result.operations == step["expectedTransactionOperations"], (
                f"step {step['step']}: {result.transaction}"
            )


def test_stale_chains_are_flushed_then_deleted_a_second_later() -> None:
    case = NFTABLES / "02-sync-proxy-rules-repeated"
    state = ProxyState.from_dict(load_yaml(case / "cluster.yaml"))
    first = render_nftables(state)
    state.delete_service("ns2/svc2")
    second = render_nftables(state, previous=first, now=0.5)
    chain = "service-MHHHYRWA-ns2/svc2/tcp/p8080"
    assert second.table.chains[chain].rules == []
    assert chain in second.stale
    third = render_nftables(state, previous=second, now=1.0)
    assert chain in third.table.chains, "deleted before a second had passed"
    fourth = render_nftables(state, previous=third, now=1.6)
    assert chain not in fourth.table.chains
    assert f"delete chain ip kube-proxy {chain}" in fourth.cleanup


# --- packet flows --------------------------------------------------------------------------
@pytest.mark.parametrize("case", _cases("expected-packet-flows.yaml"), ids=lambda p: p.name)
def test_packet_flows_match_upstream(case: Path) -> None:
    cluster = load_yaml(case / "cluster.yaml")
    expected = load_yaml(case / "expected-packet-flows.yaml")
    state = ProxyState.from_dict(cluster)
    local_ips = [str(ip) for ip in expected["tracerLocalIPs"]]
    result = None
    failures = []
    for step in expected["steps"]:
        apply_prose(state, step["after"])
        result = render_nftables(state, previous=result, service_cidrs=_cidrs(cluster))
        for flow in step["flows"]:
            got = trace_flow(
                result.table,
                src=str(flow["sourceIP"]),
                dst=str(flow["destIP"]),
                proto=str(flow["protocol"]).lower(),
                dport=int(flow["destPort"]),
                local_ips=local_ips,
            )
            want = (str(flow["output"] or ""), bool(flow["masq"]))
            if (got.output, got.masq) != want:
                failures.append(f"{step['after']} / {flow['name']}: got {got}, want {want}")
    assert not failures, "\n".join(failures)

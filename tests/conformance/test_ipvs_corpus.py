"""kube-proxy IPVS mode against the upstream unit-test corpus (`ipvs/*`, README section 4.4):
the virtual and real servers must be exactly the expected sets; the asserted ipset members
and iptables rules must be present ("must contain", as the upstream helpers were not read).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.sim.kubeproxy.ipvs import IpvsOptions, IpvsSync, render_ipvs
from app.sim.kubeproxy.state import ProxyState
from tests.conformance.corpus import CORPUS, MISSING_REASON, load_yaml

IPVS = CORPUS / "ipvs"
CASES = (
    sorted(d for d in IPVS.iterdir() if (d / "expected-ipvs.txt").exists()) if IPVS.is_dir() else []
)


def _cluster(case: Path) -> dict:
    data = load_yaml(case / "cluster.yaml")
    # The corpus records the node name with a note ("test-node (value of the test constant
    # testNodeName; see README)"); README section 6 says its value is test-node.
    data["node"]["name"] = str(data["node"]["name"]).split(" (")[0]
    return data


def _sync(case: Path) -> IpvsSync:
    data = _cluster(case)
    return render_ipvs(ProxyState.from_dict(data), IpvsOptions.from_dict(data))


def _expected(case: Path) -> tuple[dict, dict, dict]:
    """(virtual servers, ipsets, chains) from the README 4.4 text form."""
    servers: dict[str, tuple[str, set[str]]] = {}
    sets: dict[str, tuple[str, set[str]]] = {}
    chains: dict[str, list[tuple[str, str, str | None]]] = {}
    current: set | list | None = None
    for line in (case / "expected-ipvs.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if m := re.fullmatch(r"virtual-server (\S+) (\S+) (.*)", line):
            current = set()
            servers[f"{m[1]} {m[2]}"] = (m[3], current)
        elif m := re.fullmatch(r"  real-server (\S+) (\S+)", line):
            current.add(f"{m[1]} {m[2]}")
        elif m := re.fullmatch(r"ipset (\S+) (\S+)", line):
            current = set()
            sets[m[1]] = (m[2], current)
        elif m := re.search(r"\(member string: (.*)\)$", line):
            current.add(m[1])
        elif m := re.fullmatch(r"chain (\S+)", line):
            current = chains.setdefault(m[1], [])
        elif m := re.fullmatch(r"  rule jump=(\S+) match-set=(\S+)(?: source=(\S+))?", line):
            current.append((m[1], m[2], m[3]))
        else:
            assert line.strip() == "(no real servers)", f"unreadable expectation {line!r}"
    return servers, sets, chains


def _actual_servers(sync: IpvsSync) -> dict[str, tuple[str, set[str]]]:
    out = {}
    for svc in sync.ipvs.services.values():
        host = f"[{svc.addr}]" if svc.ipv6 else svc.addr
        attrs = f"scheduler={svc.scheduler.name} flags={svc.flags} timeout={svc.timeout}"
        out[f"{svc.protocol} {host}:{svc.port}"] = (
            attrs,
            {f"{d.key} weight={d.weight}" for d in svc.dests},
        )
    return out


def _rules(sync: IpvsSync, chain: str) -> list[tuple[str, str, str | None]]:
    found = []
    for line in sync.node_restore().splitlines():
        if not line.startswith(f"-A {chain} "):
            continue
        jump = re.search(r" -j (\S+)", line)[1]
        match_set = re.search(r"--match-set (\S+)", line)
        source = re.search(r" -s (\S+)", line)
        found.append((jump, match_set[1] if match_set else "-", source[1] if source else None))
    return found


pytestmark = pytest.mark.skipif(not CASES, reason=MISSING_REASON)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_virtual_servers_are_exactly_the_expected_set(case: Path) -> None:
    expected, _, _ = _expected(case)
    assert _actual_servers(_sync(case)) == expected


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_asserted_ipsets_hold_the_expected_members(case: Path) -> None:
    _, sets, _ = _expected(case)
    sync = _sync(case)
    by_name = {s.name: s for s in sync.ipsets.values()}
    for name, (set_type, members) in sets.items():
        assert by_name[name].set_type == set_type
        assert members <= set(by_name[name].members()), name
        listing = by_name[name].list_text()
        assert all(f"\n{m}\n" in listing for m in members)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_asserted_iptables_rules_are_present(case: Path) -> None:
    _, _, chains = _expected(case)
    sync = _sync(case)
    for chain, rules in chains.items():
        actual = _rules(sync, chain)
        for rule in rules:
            assert rule in actual, f"{chain}: {rule} not in {actual}"


def test_corpus_has_the_seven_ipvs_cases() -> None:
    assert len(CASES) == 7

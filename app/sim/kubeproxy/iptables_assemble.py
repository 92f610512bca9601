"""Putting one sync's restore input together from the per-Service renderings: the text
kube-proxy hands to iptables-restore, in its emission order, and the same content per chain.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from app.sim.kubeproxy import iptables_fixed as fixed
from app.sim.kubeproxy.iptables_service import KUBE_NODEPORTS, KUBE_SERVICES, PortRender
from app.sim.kubeproxy.state import ProxyState


@dataclass(frozen=True)
class CachedService:
    """One Service's rendering: its version, its ports' rules, the nat chains it owns, and
    its rules in the top-level chains flattened over its ports (what every sync writes)."""

    version: str
    ports: tuple[PortRender, ...]
    active: frozenset[str]
    filter_rules: tuple[str, ...]
    dispatch: tuple[str, ...]  # per port: its KUBE-SERVICES then its KUBE-NODEPORTS rules
    kube_services: tuple[str, ...]
    kube_nodeports: tuple[str, ...]

    @classmethod
    def of(cls, version: str, ports: tuple[PortRender, ...]) -> CachedService:
        return cls(
            version,
            ports,
            frozenset(c for p in ports for c in p.nat_chains),
            tuple(r for p in ports for r in p.filter_rules),
            tuple(r for p in ports for r in (*p.nat_services, *p.nat_nodeports)),
            tuple(r for p in ports for r in p.nat_services),
            tuple(r for p in ports for r in p.nat_nodeports),
        )


@dataclass
class RestoreInput:
    """One sync's restore input, as text and per chain (`writes`: table -> chain -> rules
    for every chain line, `deletes`: the `-X` chains of the nat table)."""

    text: str
    written: list[str]
    writes: dict[str, dict[str, list[str]]]
    deletes: list[str]


def assemble(
    state: ProxyState, services: dict[str, CachedService], changed: set[str], stale: list[str]
) -> RestoreInput:
    """The restore input in kube-proxy's emission order (Services by namespace/name):
    `*filter`, chain lines, rules, COMMIT, then the same for `*nat` (syncProxyRules)."""
    opts = state.options
    filter_rules = fixed.render_kubelet_firewall(opts)
    for svc in services.values():
        filter_rules.extend(svc.filter_rules)
    filter_rules.extend(fixed.render_forward(opts))
    filter_chains = fixed.filter_chain_names(opts)
    nat_chains, nat_rules, own = _nat_body(services, changed)
    tail = fixed.render_nodeports_tail(opts, state.node)
    nat_rules = [
        *fixed.render_postrouting(opts),
        *nat_rules,
        *(f"-X {c}" for c in stale),
        *tail,
    ]
    lines = ["*filter", *(f":{c} - [0:0]" for c in filter_chains), *filter_rules, "COMMIT"]
    chain_lines = (f":{c} - [0:0]" for c in (*fixed.NAT_CHAINS, *nat_chains, *stale))
    lines += ["*nat", *chain_lines, *nat_rules, "COMMIT"]
    flat = itertools.chain.from_iterable
    nat = _by_chain(fixed.NAT_CHAINS, fixed.render_postrouting(opts))
    nat[KUBE_SERVICES] = [*flat(s.kube_services for s in services.values()), *tail]
    nat[KUBE_NODEPORTS] = list(flat(s.kube_nodeports for s in services.values()))
    writes = {
        "filter": _by_chain(filter_chains, filter_rules),
        "nat": nat | own | {c: [] for c in stale},
    }
    return RestoreInput("\n".join(lines) + "\n", nat_chains, writes, stale)


def _nat_body(
    services: dict[str, CachedService], changed: set[str]
) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """Per Service: its dispatch rules always; its own chains (lines, rules, and the rules
    per chain) only if it changed: a partial sync leaves the others as they are."""
    chains: list[str] = []
    rules: list[str] = []
    own: dict[str, list[str]] = {}
    for key, svc in services.items():
        if key not in changed:
            rules.extend(svc.dispatch)
            continue
        for port in svc.ports:
            rules.extend(port.nat_services)
            rules.extend(port.nat_nodeports)
            chains.extend(port.nat_chains)
            rules.extend(port.nat_rules)
            own.update((c, port.chain_rules.get(c, [])) for c in port.nat_chains)
    return chains, rules, own


def _by_chain(chains: Iterable[str], rules: list[str]) -> dict[str, list[str]]:
    """Rules grouped under their chain (`-A CHAIN ...`), every chain of `chains` present."""
    out: dict[str, list[str]] = {c: [] for c in chains}
    for rule in rules:
        out[rule[3 : rule.index(" ", 3)]].append(rule)
    return out

"""`kube-proxy-lab render --mode nftables`: `nft list table ip kube-proxy` after one sync of a
cluster file, or (`canonical`) the knftables Dump in the upstream tests' order (CONTRACTS.md
`render`). Bad input raises StateError with a message for the user."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.sim.kubeproxy import fields
from app.sim.kubeproxy.nftables import NftSync, render_nftables
from app.sim.kubeproxy.state import ProxyState


def service_cidrs(data: Mapping[str, Any]) -> list[str]:
    """`proxy.serviceCIDRs` (comma-separated, as kube-proxy's flag takes them)."""
    proxy = fields.mapping(data.get("proxy"), "proxy")
    text = fields.text(proxy.get("serviceCIDRs"), "proxy.serviceCIDRs", "")
    return [
        str(fields.network(c.strip(), "proxy.serviceCIDRs")) for c in text.split(",") if c.strip()
    ]


def sync_steps(data: Mapping[str, Any], step: int = 1) -> NftSync:
    """The first (full) sync, then one partial sync per `steps:` entry up to `step`."""
    state = ProxyState.from_dict(data)
    cidrs = service_cidrs(data)
    result = render_nftables(state, service_cidrs=cidrs)
    for change in data.get("steps") or []:
        number = change.get("step", 1) if isinstance(change, Mapping) else 1
        if isinstance(number, int) and 1 < number <= step:
            state.apply_changes(change)
            result = render_nftables(state, previous=result, now=float(number), service_cidrs=cidrs)
    return result


def render_nftables_text(data: Mapping[str, Any], step: int = 1, canonical: bool = False) -> str:
    result = sync_steps(data, step)
    return result.canonical() if canonical else result.listing()

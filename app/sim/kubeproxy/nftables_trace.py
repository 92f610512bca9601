"""A kube-proxy nftables-mode sync as a node a packet can be traced through (for the lab):
the sync's `ip kube-proxy` table, walked by the nftables engine. Each trace works on a copy,
so the sync's own table (its affinity sets, its counters) is left as it was."""

from __future__ import annotations

import copy
import random
from typing import Any

from app.sim.conntrack import Conntrack
from app.sim.kubeproxy.nftables import NftSync
from app.sim.netfilter.packet_input import parse_packet_json
from app.sim.nft.engine import explore_branches, summarize, trace_packet
from app.sim.nft.model import Ruleset


def sync_ruleset(sync: NftSync) -> Ruleset:
    """The node's nftables ruleset after the sync (a copy the caller may change)."""
    table = copy.deepcopy(sync.table)
    return Ruleset({(table.family, table.name): table})


def trace_sync_json(
    sync: NftSync,
    packet: dict[str, Any],
    *,
    seed: int = 0,
    matched_only: bool = False,
    all_branches: bool = False,
) -> dict[str, Any]:
    """The CONTRACTS.md trace JSON of one first packet (CONTRACTS.md `--packet` keys) on a
    fresh node running this sync. Bad packet JSON raises TraceInputError."""
    request = parse_packet_json(packet)
    ruleset = sync_ruleset(sync)
    kwargs: dict[str, Any] = {"origin": request.origin, "in_iface": request.in_iface}
    branches = None
    if all_branches:
        branches = explore_branches(ruleset, request.packet, request.node, Conntrack(), **kwargs)
    trace = trace_packet(
        ruleset,
        request.packet,
        request.node,
        Conntrack(),
        random.Random(seed),
        matched_only=matched_only,
        **kwargs,
    )
    data = trace.to_json(matched_only=matched_only)
    if branches is not None:
        data["branches"] = summarize(branches)
    return data

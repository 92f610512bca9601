"""A kube-proxy IPVS-mode sync as a node a packet can be traced through: the sync's iptables
rules and ipsets, its kube-ipvs0 addresses and its IPVS table, composed with the engine."""

from __future__ import annotations

import random
from typing import Any

from app.sim.conntrack import Conntrack
from app.sim.ipvs.trace import add_dummy_addresses, trace_ipvs
from app.sim.kubeproxy.ipvs import IpvsSync
from app.sim.netfilter.model import Ruleset
from app.sim.netfilter.packet_input import parse_packet_json
from app.sim.netfilter.parse import parse_restore
from app.sim.node import Node


def sync_ruleset(sync: IpvsSync) -> Ruleset:
    """The node's netfilter rules after the sync (builtin chains with kube-proxy's jumps)."""
    return parse_restore(sync.node_restore())


def prepare_node(sync: IpvsSync, node: Node) -> Node:
    """Give `node` the sync's kube-ipvs0 addresses and ipsets."""
    add_dummy_addresses(node, sync.dummy_addresses)
    node.ipsets.update(sync.node_ipsets())
    return node


def trace_sync_json(
    sync: IpvsSync,
    packet: dict[str, Any],
    *,
    seed: int = 0,
    matched_only: bool = False,
    ruleset: Ruleset | None = None,
) -> dict[str, Any]:
    """The CONTRACTS.md trace JSON of one first packet (CONTRACTS.md `--packet` keys) on a
    fresh node running this sync. Bad packet JSON raises TraceInputError."""
    request = parse_packet_json(packet)
    node = prepare_node(sync, request.node)
    trace = trace_ipvs(
        ruleset or sync_ruleset(sync),
        sync.ipvs,
        request.packet,
        node,
        Conntrack(),
        random.Random(seed),
        origin=request.origin,
        in_iface=request.in_iface,
        matched_only=matched_only,
    )
    return trace.to_json(matched_only=matched_only)

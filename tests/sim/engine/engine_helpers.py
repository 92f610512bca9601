"""Helpers the engine tests import: a stateful node, step projections."""

from __future__ import annotations

import random
from typing import Any

from app.sim.conntrack import Conntrack
from app.sim.netfilter.engine import trace_packet
from app.sim.netfilter.parse import parse_restore
from app.sim.node import Node
from app.sim.packet import Packet
from app.sim.trace import Trace

CLIENT = "192.168.49.100"


class Lab:
    """One node with state kept across packets: ruleset, conntrack, node, clock."""

    def __init__(self, text: str, **node: Any) -> None:
        self.ruleset = parse_restore(text)
        self.node = Node(**node)
        self.conntrack = Conntrack()
        self.rng = random.Random(0)
        self.clock = 0.0

    def send(self, packet: Packet, **kwargs: Any) -> Trace:
        return trace_packet(
            self.ruleset, packet, self.node, self.conntrack, self.rng, clock=self.clock, **kwargs
        )


def chains(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(hook, table, chain) of the matched steps, in order."""
    return [(s["hook"], s["table"], s["chain"]) for s in result["steps"] if s["matched"]]


def kernel_view(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    """CONTRACTS.md's projection, written from the JSON alone."""
    mapped = {
        "DNAT": "ACCEPT",
        "SNAT": "ACCEPT",
        "MASQUERADE": "ACCEPT",
        "REDIRECT": "ACCEPT",
        "REJECT": "DROP",
    }
    return [
        (s["table"], s["chain"], s["rule"], s["kind"], mapped.get(s["verdict"], s["verdict"]))
        for s in result["steps"]
        if s["kind"] == "policy" or (s["kind"] == "rule" and s["matched"])
    ]

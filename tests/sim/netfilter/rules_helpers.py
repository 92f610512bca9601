"""Small builders shared by the rule-layer tests: a packet context and a one-rule parser."""

from __future__ import annotations

import random

from app.sim.netfilter.context import AddrType, MatchContext
from app.sim.netfilter.model import Rule
from app.sim.netfilter.parse import parse_rule_args
from app.sim.netfilter.values import split_line
from app.sim.packet import Packet

LOCAL_IPS = {"192.168.49.2", "127.0.0.1"}


def node_addrtype(ip: str, iface: str | None) -> AddrType:
    """LOCAL for the node's own addresses, UNICAST otherwise (a one-node routing table)."""
    return AddrType.LOCAL if ip in LOCAL_IPS else AddrType.UNICAST


def ctx(packet: Packet | None = None, seed: int = 1, **fields: object) -> MatchContext:
    """A context for one packet arriving on eth0 at PREROUTING, randomness from a seed."""
    rng = random.Random(seed)
    base = MatchContext(
        packet=packet or Packet("10.0.0.5", "10.96.0.10", "tcp", 40000, 80),
        hook="PREROUTING",
        table="nat",
        in_iface="eth0",
        out_iface=None,
        addrtype=node_addrtype,
        chance=lambda p: rng.random() < p,
    )
    for name, value in fields.items():
        setattr(base, name, value)
    return base


def rule(text: str) -> Rule:
    """One rule from its text, split as iptables-restore splits a line."""
    return parse_rule_args(split_line(text))


def hits(text: str, context: MatchContext) -> bool:
    """Do all matches of the rule accept the packet in `context`?"""
    built = rule(text)
    context.rule_uid = built.uid
    return all(m.matches(context) for m in built.matches)

"""A packet through netfilter *and* IPVS: the engine walks the iptables hooks, and the IPVS
director sits where the kernel registers it (ip_vs_core.c ip_vs_ops, kernel-facts §4):

* LOCAL_IN priority 99 -- after filter INPUT, before nat INPUT: a request to a virtual
  service that routing delivered locally (the VIP is on `kube-ipvs0`) is scheduled, its
  destination rewritten to the real server (VS/NAT), and the packet re-sent through
  LOCAL_OUT and POSTROUTING. nat OUTPUT is not traversed again (the connection's DST NAT was
  settled at PREROUTING), nat POSTROUTING is -- where kube-proxy's mark-based MASQUERADE
  applies. With net.ipv4.vs.conntrack=1 the conntrack entry's reply tuple is altered to come
  from the real server (ip_vs_nfct.c ip_vs_update_conntrack).
* LOCAL_OUT priority -98 -- a request from a process on the node is rewritten and goes on
  through the rest of OUTPUT (filter, ...) and POSTROUTING.

The IPVS decision is one trace step of kind `ipvs` (see docs/ipvs.md):
`{"kind": "ipvs", "hook": "INPUT", "table": null, "chain": null, "rule": null,
"matched": true, "verdict": "IPVS" | "REJECT" | "DROP", "scheduler": "rr",
"virtual_server": "TCP 10.97.139.74:8080", "real_server": "10.244.1.137:8080" | null,
"via": "scheduler" | "persistence" | "connection", "reason": {"zh", "en"}, "packet": ...}`.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import Any

from app.sim.conntrack import Connection, Conntrack
from app.sim.ipvs.director import Decision, Ipvs
from app.sim.ipvs.model import join
from app.sim.netfilter.engine import trace_packet
from app.sim.netfilter.model import Ruleset
from app.sim.node import Node
from app.sim.packet import FiveTuple, Packet
from app.sim.trace import Trace, TraceStep

DUMMY_IFACE = "kube-ipvs0"


@dataclass
class IpvsStep(TraceStep):
    """The IPVS director's decision, as a trace step of kind `ipvs`."""

    scheduler: str = ""
    virtual_server: str = ""
    real_server: str | None = None
    via: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data.update(
            table=None,
            chain=None,
            scheduler=self.scheduler,
            virtual_server=self.virtual_server,
            real_server=self.real_server,
            via=self.via,
            reason=dict(self.explain),
        )
        return data


def add_dummy_addresses(node: Node, addresses: list[str]) -> None:
    """Put kube-proxy's service addresses on `kube-ipvs0`: they become local, so routing
    delivers requests to them to LOCAL_IN, where IPVS waits."""
    node.addresses[DUMMY_IFACE] = [ipaddress.ip_interface(f"{a}/32") for a in addresses]


class _Director:
    """The hook function the engine calls at LOCAL_IN 99 and LOCAL_OUT -98."""

    def __init__(self, ipvs: Ipvs, rng: random.Random, clock: float) -> None:
        self.ipvs, self.rng, self.clock = ipvs, rng, clock

    def __call__(
        self, hook: str, packet: Packet, trace: Trace, conn: Connection | None
    ) -> Packet | str | None:
        proto = packet.proto.upper()
        svc = self.ipvs.find_service(proto, packet.dst, packet.dport)
        if svc is None:
            return None  # not a virtual service: the packet goes on
        decision = self.ipvs.process(
            proto, packet.src, packet.sport, packet.dst, packet.dport,
            tcp_flags=packet.tcp_flags if proto == "TCP" else None,
            now=self.clock, rng=self.rng, length=packet.length,
        )  # fmt: skip
        if decision.verdict == "ACCEPT":
            return None
        out = packet
        if decision.verdict == "IPVS" and decision.dest is not None:
            out = packet.with_(dst=decision.dest.addr, dport=decision.dest.port)
            if conn is not None and self.ipvs.sysctls.conntrack:
                reply = conn.reply
                conn.reply = FiveTuple(reply.proto, out.dst, out.dport, reply.dst, reply.dport)
        trace.steps.append(_step(hook, decision, out))
        return out if decision.verdict == "IPVS" else decision.verdict


def _step(hook: str, decision: Decision, packet: Packet) -> IpvsStep:
    svc = decision.service
    assert svc is not None  # the director answered for a virtual service
    dest = decision.dest if decision.verdict == "IPVS" else None
    return IpvsStep(
        hook=hook,
        table="",
        chain="",
        rule=None,
        kind="ipvs",
        matched=True,
        verdict=decision.verdict,
        rule_text=None,
        packet=packet,
        explain=dict(decision.reason),
        scheduler=svc.scheduler.name,
        virtual_server=f"{svc.protocol} {join(svc.addr, svc.port)}",
        real_server=dest.key if dest else None,
        via=decision.via,
    )


def trace_ipvs(
    ruleset: Ruleset,
    ipvs: Ipvs,
    packet: Packet,
    node: Node,
    conntrack: Conntrack | None,
    rng: random.Random,
    *,
    clock: float = 0.0,
    origin: str = "external",
    in_iface: str | None = None,
    matched_only: bool = False,
) -> Trace:
    """One packet through the node's netfilter hooks and its IPVS director. The caller keeps
    the state (conntrack, the IPVS connection table, counters) across packets; the VIPs must
    be local addresses of `node` (add_dummy_addresses)."""
    return trace_packet(
        ruleset, packet, node, conntrack, rng,
        clock=clock, origin=origin, in_iface=in_iface, matched_only=matched_only,
        ipvs=_Director(ipvs, rng, clock),
    )  # fmt: skip

"""Requests through the lab: resolve where a packet starts and goes, trace it through the
right node's live rules with that node's conntrack, and say what the client sees.

Each request is a new connection (the next source port), so `-m statistic` draws afresh and
conntrack gets a new entry. Only the first packet (the SYN) is traced: it decides the
connection's fate, later packets follow its conntrack entry.

The simulated application: every pod answers an HTTP request on any port its containers
declare (on any port if they declare none) with one line, `hello from POD-NAME`. Nothing
else in the lab listens, so a packet delivered elsewhere is refused (curl exit 7) or, when it
leaves the cluster, never answered (curl exit 28).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.sim.cluster import ClusterError
from app.sim.cluster.addressing import (
    EXTERNAL_CLIENT,
    resolve_destination,
)
from app.sim.cluster.addressing import (
    request as cluster_request,
)
from app.sim.lab.modes import MODES
from app.sim.lab.nodes import NodeWorld
from app.sim.lab.result import LabError
from app.sim.netfilter.engine import trace_packet
from app.sim.netfilter.packet_input import TraceInputError, TraceRequest, parse_packet_json
from app.sim.netfilter.walk import WalkError
from app.sim.trace import Trace

if TYPE_CHECKING:
    from app.sim.lab.lab import Lab

MAX_COUNT = 10_000
FULL_TRACES_UP_TO = 50  # beyond this only the first trace is complete (the load chart)
PORT_FIRST, PORT_LAST = 32768, 60999  # net.ipv4.ip_local_port_range
SECONDS_PER_CONNECTION = 0.001  # the logical clock moves a little per connection
#: Called as `observer(mode, connections)` after each `send`: the web app counts traced
#: packets for /metrics without the simulation knowing about metrics.
TRACE_OBSERVERS: list[Callable[[str, int], None]] = []


@dataclass(frozen=True)
class Planned:
    """A resolved request: the node it meets and the packet JSON (CONTRACTS.md)."""

    node: str
    packet: dict[str, Any]


def plan(lab: Lab, src: str, dst: str, proto: str, node: str | None = None) -> Planned:
    """Resolve `src`/`dst` with the cluster's addressing; `node` forces the node the packet
    meets (an imported node, or `ssh`'d into one). Raises LabError with the reason."""
    worlds = lab.nodes
    imported = node is not None and node in worlds and worlds[node].imported
    try:
        if imported or (src == f"node/{node}" and node in worlds and worlds[node].imported):
            return _plan_imported(lab, worlds[node], src, dst, proto)  # type: ignore[index]
        req = cluster_request(lab.cluster, src, dst, proto=proto)
    except ClusterError as err:
        raise LabError(err.message.strip()) from None
    return Planned(req.node, req.packet)


def _plan_imported(lab: Lab, world: NodeWorld, src: str, dst: str, proto: str) -> Planned:
    ip, port = resolve_destination(lab.cluster, dst)
    if proto.lower() not in ("tcp", "udp"):
        raise LabError(f'bad protocol "{proto}": expected tcp or udp')
    address = world.context["node_ip"].split("/")[0]
    if src == f"node/{world.name}":
        fields = {"origin": "local", "src": address}
    else:
        fields = {"origin": "external", "src": EXTERNAL_CLIENT, "in_iface": "eth0"}
    packet = {**fields, "dst": ip, "proto": proto.lower(), "dport": port, "sport": 0}
    return Planned(world.name, packet | world.context)


def send(lab: Lab, planned: Planned, count: int) -> dict[str, Any]:
    """Send `count` connections; the first `FULL_TRACES_UP_TO` as full traces (only the first
    one when count is larger), and per endpoint how many connections reached it."""
    if not 1 <= count <= MAX_COUNT:
        raise LabError(
            {
                "en": f"count must be between 1 and {MAX_COUNT}",
                "zh": f"count 必须在 1 到 {MAX_COUNT} 之间",
            }
        )
    world = lab.nodes[planned.node]
    node = world.kernel_node()
    parsed = _parse(planned.packet)  # the same for every connection but the source port
    endpoints: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    traces = []
    for i in range(count):
        full = i == 0 or count <= FULL_TRACES_UP_TO
        trace, packet = _one(lab, world, node, planned, parsed, record=full)
        endpoint = _endpoint(trace)
        if endpoint is None:
            failed[trace.final.verdict if trace.final else "DROP"] += 1
        else:
            endpoints[endpoint] += 1
        if full:
            traces.append(enrich(lab, trace, planned.node, endpoint, packet))
    world.trim_conntrack()
    lab.last_node = planned.node
    for observer in TRACE_OBSERVERS:
        observer(lab.mode, count)
    return {"traces": traces, "endpoints": dict(endpoints), "failed": dict(failed)}


def _parse(packet: dict[str, Any]) -> TraceRequest:
    try:
        return parse_packet_json(dict(packet, sport=PORT_FIRST))
    except TraceInputError as err:
        raise LabError(str(err)) from None


def _one(
    lab: Lab,
    world: NodeWorld,
    node: Any,
    planned: Planned,
    parsed: TraceRequest,
    *,
    record: bool,
) -> tuple[Trace, dict[str, Any]]:
    """One connection. Unrecorded (a bulk request's later connections), it builds no steps
    but takes the very same decisions: same draws, conntrack entries and counters."""
    sport = lab.next_port()
    lab.clock += SECONDS_PER_CONNECTION
    walk = MODES[lab.mode].trace
    # The iptables walk can skip recording; the other modes' walks record as they always do.
    extra = {} if walk else {"record": record}
    try:
        trace = (walk or _walk)(
            lab,
            world,
            node,
            parsed.packet.with_(sport=sport),
            lab.rng,
            clock=lab.clock,
            origin=parsed.origin,
            in_iface=parsed.in_iface,
            matched_only=not record,
            **extra,
        )
    except WalkError as err:
        raise LabError(str(err)) from None
    packet = dict(planned.packet, sport=sport) if record else planned.packet
    return trace, packet


def _walk(lab: Lab, world: NodeWorld, node: Any, packet: Any, rng: random.Random, **kw: Any):
    """The plain netfilter walk through the node's live rules (iptables mode)."""
    return trace_packet(world.ruleset, packet, node, world.conntrack, rng, **kw)


def _endpoint(trace: Trace) -> str | None:
    final = trace.final
    if final is None or final.delivered is None:
        return None
    return f"{final.packet.dst}:{final.packet.dport}"


def enrich(
    lab: Lab, trace: Trace, node: str, endpoint: str | None, packet: dict[str, Any]
) -> dict[str, Any]:
    """Trace JSON plus `node` (the node traced), `endpoint` (ip:port or None), `pod` (the pod
    answering, or None) and `request` (the packet JSON sent)."""
    data = trace.to_json()
    data["node"] = node
    data["endpoint"] = endpoint
    data["pod"], data["port_closed"] = answering_pod(lab, trace)
    data["request"] = packet
    return data


def answering_pod(lab: Lab, trace: Trace) -> tuple[str | None, bool]:
    """The pod whose application answers this connection (see the module docstring), and
    whether the packet reached a pod that does not listen on that port (refused)."""
    final = trace.final
    if final is None or final.delivered != "out":
        return None, False
    ip, port = final.packet.dst, final.packet.dport
    for pod in sorted(lab.cluster.pods.values(), key=lambda p: p.name):
        if pod.ip == ip and pod.phase == "Running":
            if pod.app_dead:  # `kubectl lab kill-app`: Ready, but nothing listens
                return None, True
            ports = [p.container_port for c in pod.containers for p in c.ports]
            listening = not ports or port in ports
            return (pod.name, False) if listening else (None, True)
    return None, False

"""kube-proxy's userspace mode on the lab's nodes (historical: removed in Kubernetes v1.26).

Each sync writes the portal chains (app/sim/kubeproxy/userspace.py) on every node; a request
to a ClusterIP is REDIRECTed (from a pod) or DNATed (from the node) to kube-proxy's own proxy
port, and the trace continues with a step of kind `proxy`: the userspace proxier accepts the
connection, picks an endpoint by round robin (or ClientIP affinity) and dials it, trying the
next endpoint when the dial is refused (proxysocket.go tryConnectTCP). Its own connection
then leaves the node through nat OUTPUT and POSTROUTING like any local process's.

This is the contrast the lab shows with `kubectl lab kill-app pod/NAME`: in iptables mode a
connection DNATed to the dead endpoint is refused; here the proxy retries another one.
"""

from __future__ import annotations

import ipaddress
import random
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.sim.kubeproxy.options import StateError
from app.sim.kubeproxy.state import ProxyState
from app.sim.kubeproxy.userspace import JUMPS, Portal, UserspaceSync, render_userspace
from app.sim.lab.mode_ipvs import chain_changes, node_report
from app.sim.lab.modes import Mode, register
from app.sim.lab.sync import _combine, chain_rules
from app.sim.netfilter.commands import run_iptables, run_iptables_restore
from app.sim.netfilter.engine import trace_packet
from app.sim.packet import Packet
from app.sim.trace import Final, Trace, TraceStep
from app.sim.userspace.proxy import Choice, ProxyProcess

if TYPE_CHECKING:
    from app.sim.lab.lab import Lab
    from app.sim.lab.nodes import NodeWorld
    from app.sim.node import Node

KEY = "userspace"


@dataclass
class UserspaceNode:
    """The proxy process on a node (stored) and its proxy ports per service port."""

    proxy: ProxyProcess
    ports: dict[str, int] = field(default_factory=dict)
    sync: UserspaceSync | None = None
    version: int = -1

    def to_data(self) -> dict[str, Any]:
        return {"proxy": self.proxy.to_data(), "ports": dict(self.ports)}

    @classmethod
    def from_data(cls, data: dict[str, Any], seed: int) -> UserspaceNode:
        proxy = ProxyProcess.from_data(data["proxy"]) if data.get("proxy") else ProxyProcess(seed)
        return cls(proxy, {str(k): int(v) for k, v in (data.get("ports") or {}).items()})


def node_state(lab: Lab, world: NodeWorld) -> UserspaceNode:
    held = world.extra.get(KEY)
    if not isinstance(held, UserspaceNode):
        held = UserspaceNode.from_data(held if isinstance(held, dict) else {}, lab.seed)
        world.extra[KEY] = held
    return held


def current_sync(lab: Lab, world: NodeWorld) -> UserspaceSync:
    held = node_state(lab, world)
    if held.sync is None or held.version != lab.cluster.version:
        state = ProxyState.from_dict(lab.cluster.to_proxy_dict(world.name))
        held.sync = render_userspace(state, seed=lab.seed, previous=held.ports)
        held.version = lab.cluster.version
    return held.sync


# -- sync --------------------------------------------------------------------------------


def sync(lab: Lab, now: float) -> dict[str, Any] | None:
    reports = [sync_one(lab, world) for world in lab.cluster_nodes()]
    combined = _combine(reports)
    if combined is not None:
        combined["summary"] = {lang: _summary(reports, lang) for lang in ("en", "zh")}
    return combined


def sync_one(lab: Lab, world: NodeWorld) -> dict[str, Any]:
    held = node_state(lab, world)
    try:
        state = ProxyState.from_dict(lab.cluster.to_proxy_dict(world.name))
    except StateError as err:
        return node_report(world, [], f"kube-proxy: {err}")
    result = render_userspace(state, seed=lab.seed, previous=held.ports)
    before = chain_rules(world.ruleset)
    ensure_jumps(world)
    live = run_iptables_restore(world.ruleset, ["--noflush"], result.restore)
    held.ports, held.sync, held.version = result.ports(), result, lab.cluster.version
    for portal in result.portals:
        held.proxy.update(portal.key, portal.endpoints)
    held.proxy.forget({p.key for p in result.portals})
    changes = chain_changes(before, chain_rules(world.ruleset))
    return node_report(world, changes, "" if live.ok else live.stderr.rstrip("\n"))


def ensure_jumps(world: NodeWorld) -> None:
    """iptablesInit: EnsureChain + EnsureRule (Prepend for the portals, Append for NodePorts)."""
    for table, chain, args, first in JUMPS:
        argv = shlex.split(args)
        if run_iptables(world.ruleset, ["-t", table, "-C", chain, *argv]).ok:
            continue
        target = argv[-1]
        if target not in world.ruleset.table(table).chains:
            run_iptables(world.ruleset, ["-t", table, "-N", target])
        where = ["-I", chain, "1"] if first else ["-A", chain]
        run_iptables(world.ruleset, ["-t", table, *where, *argv])


def _summary(reports: list[dict[str, Any]], lang: str) -> str:
    lines = []
    for r in reports:
        if not (r["changes"] or r["error"]):
            continue
        n = len(r["changes"])
        if lang == "zh":
            lines.append(f"{r['node']} 上的 kube-proxy(userspace 模式,历史)重写了 {n} 条链。")
        else:
            lines.append(
                f"kube-proxy on {r['node']} (userspace mode, historical) rewrote {n} chains."
            )
        if r["error"]:
            lines.append(r["error"])
    return "\n".join(lines)


# -- requests ------------------------------------------------------------------------------


@dataclass
class ProxyStep(TraceStep):
    """The userspace proxier's decision: a trace step of kind `proxy`."""

    service: str = ""
    proxy_port: int = 0
    endpoint: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return super().to_json() | {
            "service": self.service,
            "proxy_port": self.proxy_port,
            "endpoint": self.endpoint,
            "attempts": [dict(a) for a in self.attempts],
            "reason": dict(self.explain),
        }


def trace(
    lab: Lab, world: NodeWorld, node: Node, packet: Packet, rng: random.Random, **kw: Any
) -> Trace:
    """The client's connection up to the proxy port, the proxy's choice, its own connection."""
    _bridge_address(world, node)
    first = trace_packet(world.ruleset, packet, node, world.conntrack, rng, **kw)
    final = first.final
    if final is None or final.delivered != "local":
        return first
    portal = current_sync(lab, world).by_proxy_port(final.packet.dport)
    if portal is None or portal.protocol != final.packet.proto:
        return first
    held = node_state(lab, world)
    choice = held.proxy.connect(
        portal.key,
        packet.src,
        portal.affinity_seconds,
        kw.get("clock", 0.0),
        lambda ep: listening(lab, ep),
    )
    step = _step(portal, choice, final.packet)
    first.steps.append(step)
    if choice.endpoint is None:
        first.final = Final("REJECT", None, None, final.packet, "proxy", step.explain["en"])
        return first
    return _join(first, _onward(lab, world, node, portal, choice.endpoint, rng, kw))


def _bridge_address(world: NodeWorld, node: Node) -> None:
    """REDIRECT needs the address of the interface the pod's packet came in on (cni0, the
    bridge gateway; nf_nat_redirect_ipv4): give the node its bridge address if it lacks it."""
    bridge, iface = world.context.get("pod_iface_ip"), world.context.get("pod_iface")
    if bridge and iface and not node.addresses.get(iface):
        node.addresses[iface] = [ipaddress.IPv4Interface(str(bridge))]


def _onward(
    lab: Lab,
    world: NodeWorld,
    node: Node,
    portal: Portal,
    endpoint: str,
    rng: random.Random,
    kw: dict[str, Any],
) -> Trace:
    """The proxy's own connection to the endpoint: a local process's packet."""
    ip, port = endpoint.rsplit(":", 1)
    packet = Packet(_source(world, ip), ip, portal.protocol, lab.next_port(), int(port))
    options = {k: v for k, v in kw.items() if k in ("clock", "matched_only")}
    return trace_packet(
        world.ruleset, packet, node, world.conntrack, rng, origin="local", **options
    )


def _source(world: NodeWorld, ip: str) -> str:
    """The address routing picks for the proxy's socket: the bridge's for a pod on this
    node, else the node's own (source address selection, the outgoing device's address)."""
    address = ipaddress.ip_address(ip)
    for cidr in world.context.get("pod_cidr") or []:
        if address in ipaddress.ip_network(cidr, strict=False):
            bridge = world.context.get("pod_iface_ip")
            if bridge:
                return str(bridge).split("/")[0]
    return str(world.context["node_ip"]).split("/")[0]


def _join(first: Trace, second: Trace) -> Trace:
    return Trace(
        steps=first.steps + second.steps,
        visits=first.visits + second.visits,
        routes=first.routes + second.routes,
        final=second.final,
        conntrack=second.conntrack,
    )


def listening(lab: Lab, endpoint: str) -> bool:
    """Does an application accept a connection on ip:port (see traffic.py's pod model)?"""
    ip, port = endpoint.rsplit(":", 1)
    for pod in lab.cluster.pods.values():
        if pod.ip == ip and pod.phase == "Running":
            if pod.app_dead:
                return False
            ports = [p.container_port for c in pod.containers for p in c.ports]
            return not ports or int(port) in ports
    return False


def _step(portal: Portal, choice: Choice, packet: Packet) -> ProxyStep:
    tried = [{"endpoint": a.endpoint, "ok": a.ok, "via": a.via} for a in choice.attempts]
    return ProxyStep(
        hook="INPUT",
        table="",
        chain="",
        rule=None,
        kind="proxy",
        matched=True,
        verdict="PROXY" if choice.endpoint else "REJECT",
        rule_text=None,
        packet=packet,
        explain=_explain(portal, choice),
        service=portal.spn,
        proxy_port=portal.proxy_port,
        endpoint=choice.endpoint,
        attempts=tried,
    )


def _explain(portal: Portal, choice: Choice) -> dict[str, str]:
    refused = [a.endpoint for a in choice.attempts if not a.ok]
    head_en = (
        f"kube-proxy accepts the connection on its port {portal.proxy_port} for "
        f"{portal.spn} and dials an endpoint itself"
    )
    head_zh = (
        f"kube-proxy 在自己的端口 {portal.proxy_port} 上接受 {portal.spn} 的连接,"
        "再自己去连接一个端点"
    )
    if not choice.attempts:
        return {
            "en": f"{head_en}: there is none, so it closes the connection.",
            "zh": f"{head_zh}:没有可用端点,于是关闭连接。",
        }
    tail_en = f"; {', '.join(refused)} refused, so it tried the next" if refused else ""
    tail_zh = f";{'、'.join(refused)} 拒绝了连接,于是换下一个" if refused else ""
    if choice.endpoint is None:
        return {
            "en": f"{head_en}{tail_en}; every attempt failed, so it closes the connection.",
            "zh": f"{head_zh}{tail_zh};所有尝试都失败,于是关闭连接。",
        }
    via = choice.attempts[-1].via
    via_zh = "会话亲和" if via == "affinity" else "轮询"
    return {
        "en": f"{head_en}{tail_en}; {choice.endpoint} ({via}) accepts.",
        "zh": f"{head_zh}{tail_zh};{choice.endpoint}({via_zh})接受了连接。",
    }


MODE = register(
    Mode(
        "userspace",
        {"en": "userspace mode (historical)", "zh": "userspace 模式(历史)"},
        sync,
        trace=trace,
    )
)

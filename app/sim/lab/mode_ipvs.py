"""kube-proxy's IPVS mode on the lab's nodes (`kube-proxy --proxy-mode=ipvs`).

On every cluster change each node re-syncs its IPVS table in place (`render_ipvs` with the
previous table, so connections and rr/wrr positions survive, as pkg/proxy/ipvs/proxier.go
updates virtual servers rather than recreating them), loads the sync's iptables rules with
`iptables-restore --noflush` and keeps its ipsets and kube-ipvs0 addresses. Requests go
through netfilter and the IPVS director (`trace_ipvs`). A node whose IPVS kernel modules are
absent (`kubectl lab ipvs-modules node/NAME false`) falls back to iptables mode and says so,
as kube-proxy logged it ("Can't use ipvs proxier, trying iptables proxier").
"""

from __future__ import annotations

import random
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.sim.ipvs.store import from_data, to_data
from app.sim.ipvs.trace import trace_ipvs
from app.sim.kubeproxy.ipvs import IpvsOptions, IpvsSync, effective_mode, render_ipvs
from app.sim.kubeproxy.ipvs_trace import prepare_node
from app.sim.kubeproxy.options import StateError
from app.sim.kubeproxy.state import ProxyState
from app.sim.lab.modes import Mode, register
from app.sim.lab.result import Reply
from app.sim.lab.sync import _combine, chain_rules, sync_node
from app.sim.netfilter.commands import run_iptables, run_iptables_restore
from app.sim.netfilter.engine import trace_packet
from app.sim.netfilter.model import Ruleset

if TYPE_CHECKING:
    from app.sim.ipvs.director import Ipvs
    from app.sim.lab.lab import Lab
    from app.sim.lab.nodes import NodeWorld
    from app.sim.node import Node
    from app.sim.trace import Trace

KEY = "ipvs"
BUILTIN = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}
# ipvsadm's words when the ip_vs module is missing (ipvsadm.c, libipvs init failure).
NO_MODULE = (
    "Can't initialize ipvs: Protocol not available\n"
    "Are you sure that IP Virtual Server is built in the kernel or as module?\n"
)


@dataclass
class IpvsNode:
    """A node's IPVS-mode state: its IPVS table (stored) and the last sync (rebuilt on load:
    ipsets and kube-ipvs0 addresses follow from the cluster)."""

    ipvs: Ipvs | None = None
    fallback: bool = False
    sync: IpvsSync | None = None
    version: int = -1

    def to_data(self) -> dict[str, Any]:
        table = to_data(self.ipvs) if self.ipvs is not None else None
        return {"table": table, "fallback": self.fallback}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> IpvsNode:
        table = data.get("table")
        return cls(from_data(table) if table else None, bool(data.get("fallback")))


def node_state(world: NodeWorld) -> IpvsNode:
    """The node's IPVS state, rebuilt from stored data after a reload."""
    held = world.extra.get(KEY)
    if not isinstance(held, IpvsNode):
        held = IpvsNode.from_data(held if isinstance(held, dict) else {})
        world.extra[KEY] = held
    return held


def proxy_input(lab: Lab, node: str) -> tuple[ProxyState, IpvsOptions]:
    """The proxier's input for `node` plus the IPVS knobs (scheduler, kernel modules)."""
    data = lab.cluster.to_proxy_dict(node)
    absent = lab.cluster.proxy_config.get("ipvsUnavailable") or ()
    data["node"]["ipvsAvailable"] = node not in absent  # type: ignore[operator]
    return ProxyState.from_dict(data), IpvsOptions.from_dict(data)


def current_sync(lab: Lab, world: NodeWorld) -> IpvsSync | None:
    """The node's ipsets/addresses for its current cluster view, with its live IPVS table."""
    held = node_state(world)
    if held.fallback or held.ipvs is None:
        return None
    if held.sync is None or held.version != lab.cluster.version:
        state, options = proxy_input(lab, world.name)
        held.sync = render_ipvs(state, options)
        held.version = lab.cluster.version
    held.sync.ipvs = held.ipvs
    return held.sync


# -- sync --------------------------------------------------------------------------------


def sync(lab: Lab, now: float) -> dict[str, Any] | None:
    reports = [sync_one(lab, world, now) for world in lab.cluster_nodes()]
    combined = _combine(reports)
    if combined is not None:
        combined["summary"] = {lang: summary(reports, lang) for lang in ("en", "zh")}
        combined["notices"] = [r["notice"] for r in reports if r.get("notice")]
    return combined


def summary(reports: list[dict[str, Any]], lang: str) -> str:
    """One line per node that changed: what the IPVS-mode sync wrote (or the fallback)."""
    lines = []
    for r in reports:
        if r.get("notice"):
            lines.append(r["notice"][lang])
        vs = sum(1 for c in r["changes"] if c["table"] == "ipvs")
        chains = sum(1 for c in r["changes"] if c["table"] in ("nat", "filter", "mangle"))
        if r.get("fallback") or not (vs or chains or r["error"]):
            continue
        if lang == "zh":
            lines.append(
                f"{r['node']} 上的 kube-proxy(IPVS 模式)同步:{vs} 个虚拟服务、{chains} 条链有变化。"
            )
        else:
            lines.append(
                f"kube-proxy on {r['node']} (IPVS mode) synced: "
                f"{vs} virtual servers, {chains} chains changed."
            )
        if r["error"]:
            lines.append(r["error"])
    return "\n".join(lines)


def sync_one(lab: Lab, world: NodeWorld, now: float) -> dict[str, Any]:
    held = node_state(world)
    try:
        state, options = proxy_input(lab, world.name)
    except StateError as err:
        return node_report(world, [], f"kube-proxy: {err}")
    mode, why = effective_mode("ipvs", options.ipvs_available)
    if mode != "ipvs":
        first = not held.fallback
        if first:  # the iptables proxier starts clean (CleanupLeftovers of the other mode)
            world.ruleset, world.sync = Ruleset(), None
        held.fallback, held.ipvs, held.sync = True, None, None
        report = sync_node(lab, world, now) | {"fallback": True}
        if first:
            report["notice"] = {k: f"{world.name}: {v}" for k, v in why.items()}
        return report
    if held.fallback:  # modules loaded again: kube-proxy restarts in IPVS mode from scratch
        world.ruleset, world.sync, held.fallback = Ruleset(), None, False
    before, services = chain_rules(world.ruleset), _services(held.ipvs)
    result = render_ipvs(state, options, previous=held.ipvs)
    held.ipvs, held.sync, held.version = result.ipvs, result, lab.cluster.version
    ensure_jumps(world.ruleset, result.node_restore())
    live = run_iptables_restore(world.ruleset, ["--noflush"], result.restore)
    changes = chain_changes(before, chain_rules(world.ruleset)) + _vs_changes(
        services, _services(result.ipvs)
    )
    return node_report(world, changes, "" if live.ok else live.stderr.rstrip("\n"))


def ensure_jumps(ruleset: Ruleset, node_text: str) -> None:
    """The builtin chains' jumps, as proxier.go's EnsureChain/EnsureRule(Prepend) keeps them:
    `iptables -C`, else `-N` the target and `-I CHAIN 1` (restore --noflush never flushes a
    builtin chain, so they cannot come through the restore input)."""
    table = ""
    for line in node_text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        if not line.startswith("-A ") or line.split()[1] not in BUILTIN:
            continue
        chain, args = line.split()[1], shlex.split(line)[2:]
        if run_iptables(ruleset, ["-t", table, "-C", chain, *args]).ok:
            continue
        target = args[args.index("-j") + 1] if "-j" in args else ""
        if target and target.startswith("KUBE-") and target not in ruleset.table(table).chains:
            run_iptables(ruleset, ["-t", table, "-N", target])
        run_iptables(ruleset, ["-t", table, "-I", chain, "1", *args])


def _services(ipvs: Ipvs | None) -> dict[str, tuple[str, ...]]:
    """Virtual server -> its real servers, as `ipvsadm -Ln` names them."""
    if ipvs is None:
        return {}
    out = {}
    for svc in ipvs.services.values():
        name = f"{svc.protocol.upper()} {svc.addr}:{svc.port}"
        dests = tuple(f"-> {d.addr}:{d.port} weight {d.weight}" for d in svc.dests)
        out[name] = (f"scheduler {svc.scheduler.name}", *dests)
    return out


def chain_changes(before: dict, after: dict) -> list[dict[str, Any]]:
    out = []
    for table, chain in sorted(before.keys() | after.keys()):
        old, new = before.get((table, chain)), after.get((table, chain))
        if old != new:
            kind = "created" if old is None else "deleted" if new is None else "rewritten"
            out.append(_change(table, chain, kind, old or (), new or ()))
    return out


def _vs_changes(before: dict, after: dict) -> list[dict[str, Any]]:
    out = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old != new:
            kind = "created" if old is None else "deleted" if new is None else "rewritten"
            out.append(_change("ipvs", name, kind, old or (), new or ()))
    return out


def _change(table: str, chain: str, kind: str, old: tuple, new: tuple) -> dict[str, Any]:
    return {"table": table, "chain": chain, "action": kind, "service": ""} | {
        "before": list(old),
        "after": list(new),
    }


def node_report(world: NodeWorld, changes: list[dict[str, Any]], error: str) -> dict[str, Any]:
    changes = [{"node": world.name, **c} for c in changes]
    return {"node": world.name, "full": True, "changes": changes, "error": error}


# -- console programs ------------------------------------------------------------------


def ipvsadm(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    """`ipvsadm ...` on the console's node; edits last until kube-proxy's next sync."""
    world = lab.shell_world()
    held = node_state(world)
    if held.fallback or held.ipvs is None:
        return Reply(2, "", NO_MODULE)
    before = to_data(held.ipvs)
    from app.sim.ipvs.ipvsadm_cmd import run_ipvsadm

    out = run_ipvsadm(held.ipvs, argv[1:], lab.clock)
    if to_data(held.ipvs) != before:
        lab.dirty = True
    return Reply(out.status, out.stdout, out.stderr)


def ipset(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    world = lab.shell_world()
    current = current_sync(lab, world)
    if current is None:
        return Reply(1, "", "ipset v7.17: Kernel error received: set type not supported\n")
    out = current.ipset_command(argv[1:])
    return Reply(out.status, out.stdout, out.stderr)


# -- requests ------------------------------------------------------------------------------


def trace(
    lab: Lab, world: NodeWorld, node: Node, packet: Any, rng: random.Random, **kw: Any
) -> Trace:
    """netfilter + the IPVS director on an IPVS-mode node; the plain walk after a fallback."""
    current = current_sync(lab, world)
    if current is None:
        return trace_packet(world.ruleset, packet, node, world.conntrack, rng, **kw)
    if not getattr(node, "_ipvs_ready", False):
        prepare_node(current, node)
        node._ipvs_ready = True  # type: ignore[attr-defined]
    return trace_ipvs(world.ruleset, current.ipvs, packet, node, world.conntrack, rng, **kw)


def views(lab: Lab, node: str) -> list[tuple[str, str]]:
    """`ipvsadm -Ln` and `ipset list` of an IPVS-mode node (nothing after a fallback)."""
    world = lab.nodes.get(node)
    current = current_sync(lab, world) if world is not None else None
    if current is None:
        return []
    return [("ipvsadm -Ln", current.ipvsadm()), ("ipset list", current.ipset_list())]


MODE = register(
    Mode(
        "ipvs",
        {"en": "IPVS mode", "zh": "IPVS 模式"},
        sync,
        programs={"ipvsadm": ipvsadm, "ipset": ipset},
        trace=trace,
        views=views,
    )
)

"""kube-proxy's iptables-mode sync on every lab node, applied to the node's live rules.

After each cluster change the lab runs one `syncProxyRules` per node
(`app.sim.kubeproxy.iptables.render_restore`, partial after the first, as upstream) and feeds
its output to the node the way kube-proxy does:

* on a full sync, the jumps from the builtin chains are ensured first (`iptables -C`, else
  `iptables -N` of the target chain and `iptables -I CHAIN 1`), plus the KUBE-PROXY-CANARY
  chains the iptables monitor watches;
* the restore input goes through `iptables-restore --noflush`: chains it names are flushed
  and rewritten, everything else stays. So a learner's rule in a builtin chain survives, and
  a learner's rule inside a KUBE-* chain is overwritten when kube-proxy rewrites that chain.

kube-proxy reads the nat table back before it decides which chains are stale; when the
learner edited the rules since the last sync, its memory is rebuilt from the live tables.
A refused restore leaves the node as it was and is retried at once as a full sync (the
proxier sets needFullSync and the next sync follows within minSyncPeriod).
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from app.sim.kubeproxy import iptables_fixed as fixed
from app.sim.kubeproxy.iptables import SyncResult, render_restore
from app.sim.kubeproxy.iptables_diff import ChainChange, chain_order, owner_from_rules
from app.sim.kubeproxy.options import StateError
from app.sim.kubeproxy.state import ProxyState
from app.sim.lab.nodes import NodeWorld
from app.sim.netfilter.commands import run_iptables, run_iptables_restore
from app.sim.netfilter.model import Ruleset
from app.sim.netfilter.render import render_save, rule_line

if TYPE_CHECKING:
    from app.sim.lab.lab import Lab

DIFF_TABLES = ("filter", "nat")
Chains = dict[tuple[str, str], tuple[str, ...]]


def sync_all(lab: Lab, now: float) -> dict[str, Any] | None:
    """Sync every cluster node; the report (`ConsoleResult.sync`) or None if nothing changed."""
    return _combine([sync_node(lab, world, now) for world in lab.cluster_nodes()])


def watch_canaries(lab: Lab, now: float) -> dict[str, Any] | None:
    """kube-proxy's iptables monitor (pkg/util/iptables/monitor.go): it polls for its
    KUBE-PROXY-CANARY chain in mangle, nat and filter; when one is gone, someone flushed
    the tables, and kube-proxy forces a full sync. The lab polls after every command."""
    reports = []
    for world in lab.cluster_nodes():
        if world.sync is None or not canary_gone(world.ruleset):
            continue
        world.sync.need_full_sync = True
        reports.append(sync_node(lab, world, now) | {"reason": "canary"})
    return _combine(reports)


def canary_gone(ruleset: Ruleset) -> bool:
    return any(
        fixed.KUBE_PROXY_CANARY not in ruleset.tables[t].chains if t in ruleset.tables else True
        for t in ("mangle", "nat", "filter")
    )


def _combine(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    changes = [c for r in reports for c in r["changes"]]
    errors = [r for r in reports if r["error"]]
    if not changes and not errors:
        return None
    return {
        "changes": changes,
        "nodes": reports,
        "summary": {lang: _summary(reports, lang) for lang in ("en", "zh")},
    }


def sync_node(lab: Lab, world: NodeWorld, now: float) -> dict[str, Any]:
    """One node's sync (retried in full when the partial one is refused)."""
    before = chain_rules(world.ruleset)
    proxy = lab.cluster.to_proxy_dict(world.name)
    try:
        state = ProxyState.from_dict(proxy)
    except StateError as err:
        return _report(world, False, [], f"kube-proxy: {err}")
    result, error = _run(world, state, now)
    if error and not result.full:
        result, retry_error = _run(world, state, now)
        error = f"{error}\n{retry_error}" if retry_error else error
    changes = diff(before, chain_rules(world.ruleset), result)
    return _report(world, result.full, changes, error)


def _run(world: NodeWorld, state: ProxyState, now: float) -> tuple[SyncResult, str]:
    previous = world.sync
    if previous is not None and world.edited:
        previous = reread(previous, world.ruleset)
    result = render_restore(state, full=False, previous=previous, now=now)
    world.sync, world.edited = result, False
    if not result.applied:
        return result, result.error or "iptables-restore failed"
    if result.full:
        ensure_jumps(world.ruleset)
    live = run_iptables_restore(world.ruleset, ["--noflush"], result.restore)
    if live.ok:
        return result, ""
    # The node differs from what kube-proxy believed: read it back next time, sync in full.
    result.applied, result.need_full_sync = False, True
    world.edited = True
    return result, live.stderr.rstrip("\n")


def reread(previous: SyncResult, ruleset: Ruleset) -> SyncResult:
    """kube-proxy's memory with the node's tables as `iptables-save` shows them now."""
    snap = previous.snapshot()
    snap["node"] = render_save(ruleset)
    snap["need_full_sync"] = previous.need_full_sync or not previous.applied
    return SyncResult.from_snapshot(snap)


def ensure_jumps(ruleset: Ruleset) -> None:
    """What a full sync does with single iptables commands before its restore."""
    for table in ("mangle", "nat", "filter"):
        if fixed.KUBE_PROXY_CANARY not in ruleset.table(table).chains:
            run_iptables(ruleset, ["-t", table, "-N", fixed.KUBE_PROXY_CANARY])
    for jump in fixed.JUMP_RULES:
        args = shlex.split(jump.args())
        if run_iptables(ruleset, ["-t", jump.table, "-C", jump.chain, *args]).ok:
            continue
        if jump.target not in ruleset.table(jump.table).chains:
            run_iptables(ruleset, ["-t", jump.table, "-N", jump.target])
        run_iptables(ruleset, ["-t", jump.table, "-I", jump.chain, "1", *args])


def chain_rules(ruleset: Ruleset) -> Chains:
    """(table, chain) -> its rules as iptables-save lines, for the tables kube-proxy writes."""
    return {
        (name, chain.name): tuple(rule_line(chain.name, r) for r in chain.rules)
        for name in DIFF_TABLES
        if name in ruleset.tables
        for chain in ruleset.tables[name].chains.values()
    }


def diff(before: Chains, after: Chains, result: SyncResult) -> list[dict[str, Any]]:
    """Chains the sync created, rewrote or deleted on the live node, with their owner."""
    owners = {c: p.spn for s in result.cache.values() for p in s.ports for c in p.nat_chains}
    out = []
    for table, chain in sorted(
        before.keys() | after.keys(), key=lambda k: (k[0], *chain_order(k[1]))
    ):
        old, new = before.get((table, chain)), after.get((table, chain))
        if old == new:
            continue
        kind = "created" if old is None else "deleted" if new is None else "rewritten"
        change = ChainChange(table, chain, kind, old or (), new or ())
        service = owners.get(chain) or owner_from_rules(change)
        out.append(
            {"table": table, "chain": chain, "action": kind, "service": service}
            | {"before": list(change.before), "after": list(change.after)}
        )
    return out


def _report(world: NodeWorld, full: bool, changes: list[dict[str, Any]], error: str) -> dict:
    changes = [{"node": world.name, **c} for c in changes]
    return {"node": world.name, "full": full, "changes": changes, "error": error}


_VERBS = {
    "en": {"created": "created", "rewritten": "rewrote", "deleted": "deleted"},
    "zh": {"created": "创建了", "rewritten": "重写了", "deleted": "删除了"},
}


def _summary(reports: list[dict[str, Any]], lang: str) -> str:
    lines = []
    for report in reports:
        if not report["changes"] and not report["error"]:
            continue
        lines.append(_node_line(report, lang))
        if report["error"]:
            lines.append(report["error"])
    return "\n".join(lines)


def _node_line(report: dict[str, Any], lang: str) -> str:
    parts = []
    for c in report["changes"]:
        owner = f" ({c['service']})" if c["service"] else ""
        parts.append(f"{_VERBS[lang][c['action']]} {c['table']} {c['chain']}{owner}")
    node, kind = report["node"], report["full"]
    canary = report.get("reason") == "canary"
    if lang == "zh":
        what = "全量同步" if kind else "部分同步"
        if canary:
            what = f"发现 {fixed.KUBE_PROXY_CANARY} 链被删除(有人清空了它的表),于是{what}"
        body = ";".join(parts) if parts else "没有改动任何链"
        return f"{node} 上的 kube-proxy(iptables 模式){what}:{body}。"
    what = "full sync" if kind else "partial sync"
    if canary:
        what = f"noticed {fixed.KUBE_PROXY_CANARY} was deleted (its tables were flushed), {what}"
    body = "; ".join(parts) if parts else "no chain changed"
    return f"kube-proxy on {node} (iptables mode), {what}: {body}."


__all__ = [
    "chain_rules",
    "diff",
    "ensure_jumps",
    "reread",
    "sync_all",
    "sync_node",
    "watch_canaries",
]

"""kube-proxy's nftables mode on the lab's nodes (`kube-proxy --proxy-mode=nftables`).

Each node owns one `ip kube-proxy` table (pkg/proxy/nftables/proxier.go). On every cluster
change the node re-syncs it with `render_nftables(..., previous=...)`: a partial sync that
rewrites only the chains of Services that changed and keeps set/map elements incrementally.
The table the node walks IS the last sync's table, so a learner's `nft delete rule ... handle
N` stays in force until kube-proxy next rewrites that Service's chains, as on a real node.
Requests go through the nftables engine (`app/sim/nft/engine.py`); the iptables tables stay
empty (nftables mode writes none). `nft list ...` and `nft add|delete|flush ...` run on the
console's node with nft's own wording.

Stored: the table as knftables' dump lines and the proxier input of the last sync; a reloaded
node rebuilds kube-proxy's memory from them, so its next sync is still partial. What a dump
does not say is stored beside it (`kernel`): every object's handle and the table's handle
counter, rule counters and `update @set` expiries, so a reloaded node is the node that was
stored (the web app may serve a lab kept in memory or one reloaded from the database, and the
learner must not tell which).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.sim.kubeproxy.nftables import NftSync, render_nftables
from app.sim.kubeproxy.options import StateError
from app.sim.kubeproxy.state import ProxyState
from app.sim.lab.mode_ipvs import node_report
from app.sim.lab.modes import Mode, register
from app.sim.lab.result import Reply
from app.sim.lab.sync import _combine
from app.sim.nft.engine import trace_packet
from app.sim.nft.model import NftError, Ruleset, Table
from app.sim.nft.parse import apply_line, parse_commands
from app.sim.nft.render import _chain_block, _set_block, dump, list_table

if TYPE_CHECKING:
    from app.sim.lab.lab import Lab
    from app.sim.lab.nodes import NodeWorld
    from app.sim.node import Node
    from app.sim.trace import Trace

KEY = "nftables"
FAMILY, TABLE = "ip", "kube-proxy"
LISTING = f"nft list table {FAMILY} {TABLE}"


@dataclass
class NftNode:
    """A node's nftables-mode state: kube-proxy's view of the cluster (`state`, kept across
    syncs so its change journal tells a partial sync which Services changed), the last sync
    (its table is the node's live table), and what a reloaded node restarts from."""

    sync: NftSync | None = None
    state: ProxyState | None = None
    seen: dict[str, Any] | None = None  # the proxier input of the last sync (cluster.yaml)
    stored: dict[str, Any] | None = None

    def to_data(self) -> dict[str, Any]:
        if self.sync is None:
            return dict(self.stored or {})
        table = self.sync.table
        return {"table": dump(table), "seen": self.seen, "kernel": _kernel_data(self.sync)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> NftNode:
        return cls(stored=dict(data) if data.get("table") and data.get("seen") else None)


def node_state(world: NodeWorld) -> NftNode:
    held = world.extra.get(KEY)
    if not isinstance(held, NftNode):
        held = NftNode.from_data(held if isinstance(held, dict) else {})
        world.extra[KEY] = held
    return held


def live_table(lab: Lab, world: NodeWorld) -> Table | None:
    """The node's `ip kube-proxy` table (brought back or synced first after a reload)."""
    held = node_state(world)
    if held.sync is None and held.stored is not None:
        # Only brought back, not synced: a reload is not a kube-proxy sync (stale chains
        # are deleted at the next one, just as if the node had never been stored).
        _restore(held, lab.clock)
    if held.sync is None:
        sync_one(lab, world, lab.clock)
    return held.sync.table if held.sync is not None else None


def _restore(held: NftNode, now: float) -> None:
    """A reloaded node: kube-proxy's memory of its last sync, rebuilt from the input it
    synced and the table as it was stored (a learner's edits included)."""
    stored, held.stored = held.stored or {}, None
    try:
        table = parse_commands(str(stored["table"])).table(FAMILY, TABLE)
        state = ProxyState.from_dict(stored["seen"])
    except (NftError, StateError, KeyError):
        return
    _kernel_from(table, stored.get("kernel"))
    held.sync = render_nftables(state, now=now)
    held.sync.table, held.state, held.seen = table, state, stored["seen"]
    held.sync.stale = _stale_from(stored.get("kernel"), table)


def _kernel_data(sync: NftSync) -> dict[str, Any]:
    """What `dump` leaves out, in the dump's own order of sets, chains and rules, and when
    kube-proxy found each of its stale chains (it deletes them a while later)."""
    table = sync.table
    return {
        "stale": dict(sync.stale),
        "next_handle": table.next_handle,
        "sets": [
            [s.handle, [[list(key), at] for key, at in s.expires.items()]]
            for s in table.sets.values()
        ],
        "chains": [
            [c.handle, [[r.handle, r.packets, r.bytes] for r in c.rules]]
            for c in table.chains.values()
        ],
    }


def _kernel_from(table: Table, data: Any) -> None:
    """Put back handles, counters and expiries on a table parsed from its dump (a lab stored
    before they were kept, or data that does not fit the table, keeps the reload's own)."""
    sets, chains = list(table.sets.values()), list(table.chains.values())
    try:
        kept_sets = [
            (int(handle), {tuple(str(k) for k in key): float(at) for key, at in expires})
            for handle, expires in data["sets"]
        ]
        kept_chains = [
            (int(handle), [(int(h), int(p), int(b)) for h, p, b in rules])
            for handle, rules in data["chains"]
        ]
        next_handle = int(data["next_handle"])
    except (KeyError, TypeError, ValueError):
        return
    fits = len(kept_sets) == len(sets) and [len(r) for _, r in kept_chains] == [
        len(c.rules) for c in chains
    ]
    if not fits:
        return
    for nft_set, (handle, expires) in zip(sets, kept_sets, strict=True):
        nft_set.handle, nft_set.expires = handle, expires
    for chain, (handle, rules) in zip(chains, kept_chains, strict=True):
        chain.handle = handle
        for rule, (rule_handle, packets, size) in zip(chain.rules, rules, strict=True):
            rule.handle, rule.packets, rule.bytes = rule_handle, packets, size
    table.next_handle = next_handle


def _update(held: NftNode, data: dict[str, Any]) -> ProxyState:
    """kube-proxy's informers: apply what changed since the last sync to the kept state, so
    its journal names the changed Services; other options or another node start afresh."""
    fresh = ProxyState.from_dict(data)
    state = held.state
    if state is None or (state.node, state.options) != (fresh.node, fresh.options):
        held.sync = None  # a new proxier: a full sync
        return fresh
    for key in [k for k in state.services if k not in fresh.services]:
        state.delete_service(key)
    for key in [k for k in state.slices if k not in fresh.slices]:
        state.delete_endpoint_slice(key)
    for key, svc in fresh.services.items():
        if state.services.get(key) != svc:
            state.set_service(svc)
    for key, eps in fresh.slices.items():
        if state.slices.get(key) != eps:
            state.set_endpoint_slice(eps)
    return state


# -- sync --------------------------------------------------------------------------------


def sync(lab: Lab, now: float) -> dict[str, Any] | None:
    reports = [sync_one(lab, world, now) for world in lab.cluster_nodes()]
    combined = _combine(reports)
    if combined is not None:
        combined["summary"] = {lang: _summary(reports, lang) for lang in ("en", "zh")}
    return combined


def sync_one(lab: Lab, world: NodeWorld, now: float) -> dict[str, Any]:
    held = node_state(world)
    if held.sync is None and held.stored is not None:
        _restore(held, now)
    data = lab.cluster.to_proxy_dict(world.name)
    try:
        state = _update(held, data)
    except StateError as err:
        return node_report(world, [], f"kube-proxy: {err}")
    before = _snapshot(held.sync.table) if held.sync is not None else {}
    result = render_nftables(state, previous=held.sync, now=now)
    held.sync, held.state, held.seen = result, state, json.loads(json.dumps(data))
    return node_report(world, _changes(before, _snapshot(result.table)), "")


def _snapshot(table: Table) -> dict[str, tuple[str, ...]]:
    """Chain or set name -> its rule texts or element keys, to report what a sync changed."""
    out: dict[str, tuple[str, ...]] = {}
    for name, chain in table.chains.items():
        out[f"chain {name}"] = tuple(r.text for r in chain.rules)
    for name, nset in table.sets.items():
        kind = "map" if nset.is_map else "set"
        out[f"{kind} {name}"] = tuple(" . ".join(k) for k in sorted(nset.elements))
    return out


def _changes(before: dict, after: dict) -> list[dict[str, Any]]:
    out = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old != new:
            kind = "created" if old is None else "deleted" if new is None else "rewritten"
            out.append(
                {"table": TABLE, "chain": name, "action": kind, "service": ""}
                | {"before": list(old or ()), "after": list(new or ())}
            )
    return out


def _summary(reports: list[dict[str, Any]], lang: str) -> str:
    lines = []
    for r in reports:
        chains = sum(1 for c in r["changes"] if c["chain"].startswith("chain "))
        sets = len(r["changes"]) - chains
        if not (chains or sets or r["error"]):
            continue
        if lang == "zh":
            lines.append(
                f"{r['node']} 上的 kube-proxy(nftables 模式)同步:"
                f"{chains} 条链、{sets} 个集合/映射有变化。"
            )
        else:
            lines.append(
                f"kube-proxy on {r['node']} (nftables mode) synced: "
                f"{chains} chains, {sets} sets/maps changed."
            )
        if r["error"]:
            lines.append(r["error"])
    return "\n".join(lines)


# -- console -------------------------------------------------------------------------------


def nft(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    """`nft [-a] list ...` and `nft add|insert|delete|flush ...` on the console's node."""
    args = argv[1:]
    handles = bool(args) and args[0] in ("-a", "--handle")
    args = args[1:] if handles else args
    table = live_table(lab, lab.shell_world())
    if table is None:
        return Reply(1, "", f"Error: No such file or directory; table {FAMILY} {TABLE}\n")
    if not args:
        return Reply(1, "", "Error: syntax error, unexpected end of file\n")
    try:
        if args[0] == "list":
            return Reply(0, _list(table, args[1:], handles), "")
        _edit(lab, table, args)
    except NftError as err:
        return Reply(1, "", f"{err}\n")
    table.base_cache = None  # a rule or chain changed: the engine re-reads the base chains
    lab.dirty = True
    return Reply(0, "", "")


def _edit(lab: Lab, table: Table, args: list[str]) -> None:
    """One add|insert|delete|flush command on the node's table (nft(8) RULES, SETS, ...)."""
    words = args[:4]
    if len(words) == 4 and words[1] != "table" and (words[2], words[3]) != (FAMILY, TABLE):
        raise NftError(f"Error: No such file or directory; table {words[2]} {words[3]}")
    if len(words) >= 4 and words[1] == "table":
        if (words[2], words[3]) != (FAMILY, TABLE):
            # the lab's nodes hold kube-proxy's table only
            raise NftError("Error: Could not process rule: Operation not supported")
        if words[0] == "delete":  # gone until kube-proxy's next sync, a full one
            table.chains.clear()
            table.sets.clear()
            node_state(lab.shell_world()).state = None
            return
    line = " ".join(args)
    handle = re.fullmatch(r"delete rule \S+ \S+ (\S+) handle (\d+)", line)
    if handle and not any(r.handle == int(handle[2]) for r in table.chain(handle[1]).rules):
        raise NftError("Error: Could not process rule: No such file or directory")
    apply_line(Ruleset({(FAMILY, TABLE): table}), line)


def _list(table: Table, args: list[str], handles: bool) -> str:
    """nft(8) LIST: ruleset, table, chain, set, map of the one table this node has."""
    if args == ["ruleset"]:
        return list_table(table, handles=handles)
    if len(args) < 3 or args[0] not in ("table", "chain", "set", "map"):
        raise NftError(f"Error: syntax error, unexpected {' '.join(args) or 'end of file'}")
    kind, family, name = args[0], args[1], args[2]
    if (family, name) != (FAMILY, TABLE):
        raise NftError(f"Error: No such file or directory; table {family} {name}")
    if kind == "table" and len(args) == 3:
        return list_table(table, handles=handles)
    if len(args) != 4:
        raise NftError(f"Error: syntax error, unexpected end of file; {kind} name missing")
    head = f"table {FAMILY} {TABLE} {{\n"
    if kind == "chain":
        return head + _chain_block(table.chain(args[3]), FAMILY, handles) + "\n}\n"
    found = table.set(args[3])
    if found.is_map != (kind == "map"):
        raise NftError(f"Error: No such file or directory; {kind} {args[3]}")
    return head + _set_block(found, handles) + "\n}\n"


# -- requests ------------------------------------------------------------------------------


def trace(
    lab: Lab, world: NodeWorld, node: Node, packet: Any, rng: random.Random, **kw: Any
) -> Trace:
    """The packet through the node's nftables (the live table, the learner's edits included)."""
    table = live_table(lab, world)
    ruleset = Ruleset({(FAMILY, TABLE): table}) if table is not None else Ruleset()
    return trace_packet(ruleset, packet, node, world.conntrack, rng, **kw)


def views(lab: Lab, node: str) -> list[tuple[str, str]]:
    """`nft list table ip kube-proxy` on the node, for the rules panel."""
    world = lab.nodes.get(node)
    table = live_table(lab, world) if world is not None else None
    return [(LISTING, list_table(table))] if table is not None else []


MODE = register(
    Mode(
        "nftables",
        {"en": "nftables mode", "zh": "nftables 模式"},
        sync,
        programs={"nft": nft},
        trace=trace,
        views=views,
    )
)


def _stale_from(data: Any, table: Table) -> dict[str, float]:
    """The stale chains kept with the table (none for a lab stored before they were kept)."""
    try:
        stale = {str(k): float(v) for k, v in dict(data["stale"]).items()}
    except (KeyError, TypeError, ValueError):
        return {}
    return {name: since for name, since in stale.items() if name in table.chains}

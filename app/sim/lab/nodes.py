"""One lab node's kernel state: its live ruleset, conntrack table, `-m recent` lists and
`-m statistic --mode nth` counters, plus what kube-proxy on it remembers between syncs.

Everything here can be written out as plain JSON data and read back into an equal node, so
a lab stored between web requests continues exactly where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.sim.conntrack import Conntrack
from app.sim.kubeproxy.iptables import SyncResult
from app.sim.netfilter.context import RecentEntry
from app.sim.netfilter.model import Ruleset
from app.sim.netfilter.parse import parse_restore
from app.sim.netfilter.render import render_save
from app.sim.node import Node

# The node keys of CONTRACTS.md's packet JSON for a node the cluster does not know (a pasted
# dump): the defaults of `trace`.
IMPORTED_CONTEXT = {
    "node_ip": "192.168.49.2/24",
    "pod_cidr": ["10.244.0.0/16"],
    "pod_iface": "cni0",
}
# nf_conntrack_max for a lab node. When the table is full the kernel evicts entries that
# never saw a reply (early_drop in nf_conntrack_core.c); the lab evicts the oldest.
CONNTRACK_MAX = 256


@dataclass
class NodeWorld:
    """A node of the lab. `context` holds the packet-JSON node keys (node_ip, pod_cidr,
    pod_iface); `edited` says the learner changed the rules since kube-proxy last synced, so
    kube-proxy's next sync must read the tables back; `imported` marks a pasted dump that no
    kube-proxy manages."""

    name: str
    context: dict[str, Any]
    ruleset: Ruleset = field(default_factory=Ruleset)
    conntrack: Conntrack = field(default_factory=Conntrack)
    recent: dict[str, dict[str, RecentEntry]] = field(default_factory=dict)
    rule_state: dict[int, Any] = field(default_factory=dict)
    sync: SyncResult | None = None
    edited: bool = False
    imported: bool = False
    # What a mode other than iptables keeps on the node (IPVS table, userspace proxy state):
    # JSON-ready data, or a live object with `to_data()` the mode rebuilds from that data.
    extra: dict[str, Any] = field(default_factory=dict)

    def kernel_node(self) -> Node:
        """The engine's Node for this node, sharing the lab's `-m recent` and nth state."""
        node = Node(
            node_ip=self.context["node_ip"],
            pod_cidr=list(self.context["pod_cidr"]),
            pod_iface=self.context["pod_iface"],
            # The bridge's own address (cni0 10.244.X.1): hairpin MASQUERADE picks it.
            pod_iface_ip=self.context.get("pod_iface_ip"),
        )
        node.recent, node.rule_state = self.recent, self.rule_state
        return node

    def rule_count(self) -> int:
        return sum(len(c.rules) for t in self.ruleset.tables.values() for c in t.chains.values())

    def trim_conntrack(self) -> None:
        """Keep the table within CONNTRACK_MAX entries (oldest evicted first)."""
        extra = len(self.conntrack.connections) - CONNTRACK_MAX
        for conn in self.conntrack.connections[: max(0, extra)]:
            self.conntrack._remove(conn)

    # -- storage -------------------------------------------------------------------------
    def to_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "context": dict(self.context),
            "rules": render_save(self.ruleset, counters=True),
            # by name: a reloaded ruleset lists its tables in another order than a live one
            "lazy": {n: sorted(t.lazy) for n, t in sorted(self.ruleset.tables.items())},
            "conntrack": self.conntrack.to_data(),
            "recent": _recent_data(self.recent),
            "rule_state": self._rule_state_data(),
            "sync": self.sync.snapshot() if self.sync is not None else None,
            "edited": self.edited,
            "imported": self.imported,
            "extra": {k: _plain(v) for k, v in self.extra.items()},
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> NodeWorld:
        world = cls(str(data["name"]), dict(data["context"]))
        world.ruleset = parse_restore(str(data["rules"]), counters=True)
        for name, lazy in data.get("lazy", {}).items():
            world.ruleset.table(name).lazy = set(lazy)
        world.conntrack = Conntrack.from_data(list(data["conntrack"]))
        world.recent = _recent_from(data.get("recent", {}))
        world._rule_state_from(data.get("rule_state", []))
        snap = data.get("sync")
        world.sync = SyncResult.from_snapshot(snap) if snap else None
        world.edited, world.imported = bool(data["edited"]), bool(data["imported"])
        world.extra = json.loads(json.dumps(data.get("extra") or {}))
        return world

    def _positions(self) -> dict[tuple[str, str, int], int]:
        """(table, chain, index) -> rule uid: rule uids are per process, positions are not."""
        return {
            (t.name, c.name, i): rule.uid
            for t in self.ruleset.tables.values()
            for c in t.chains.values()
            for i, rule in enumerate(c.rules)
        }

    def _rule_state_data(self) -> list[list[Any]]:
        where = {uid: pos for pos, uid in self._positions().items()}
        return [
            [*where[uid], value]
            for uid, value in self.rule_state.items()
            if uid in where and isinstance(value, int | float | str | bool)
        ]

    def _rule_state_from(self, items: list[list[Any]]) -> None:
        positions = self._positions()
        for table, chain, index, value in items:
            uid = positions.get((table, chain, int(index)))
            if uid is not None:
                self.rule_state[uid] = value


def _plain(value: Any) -> Any:
    """A mode's node state as JSON-ready data (a copy: the stored lab must not alias it)."""
    return json.loads(json.dumps(value.to_data() if hasattr(value, "to_data") else value))


def _recent_data(recent: dict[str, dict[str, RecentEntry]]) -> dict[str, list[list[Any]]]:
    return {
        name: [[e.address, list(e.stamps), e.last_seen] for e in entries.values()]
        for name, entries in recent.items()
    }


def _recent_from(data: dict[str, list[list[Any]]]) -> dict[str, dict[str, RecentEntry]]:
    return {
        name: {
            a: RecentEntry(a, [float(s) for s in stamps], float(last)) for a, stamps, last in rows
        }
        for name, rows in data.items()
    }

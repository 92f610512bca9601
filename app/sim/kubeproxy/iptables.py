"""kube-proxy's iptables mode: one sync turns a `ProxyState` into iptables-restore input.

`render_restore(state, full=..., previous=...)` is one call of syncProxyRules. It returns a
`SyncResult` with the exact restore input (`restore`, what kube-proxy's `iptablesData` holds;
`canonical()` gives the upstream tests' sort of it), the node's tables after applying it, and
what changed (`changes`, `changed_chains`), so a UI can say "kube-proxy noticed the endpoint
change and rewrote KUBE-SVC-…".

Passing the previous result makes the sync behave like a long-running kube-proxy:
* partial syncs (`full=False`) rewrite the per-service nat chains only for Services whose
  Service or EndpointSlices changed; the top-level chains are always rewritten in full;
* service chains that exist on the node but were not written are flushed and deleted (`-X`);
  in large-cluster mode (> 1000 endpoints) at most once per sync period;
* if the restore fails (it is all-or-nothing), the node is unchanged and the next sync is full;
* rendered rules are cached per Service and version, so an unchanged Service costs a lookup.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from app.sim.kubeproxy import iptables_fixed as fixed
from app.sim.kubeproxy.iptables_assemble import CachedService, RestoreInput, assemble
from app.sim.kubeproxy.iptables_diff import ChainChange, diff_tables, owner_from_rules
from app.sim.kubeproxy.iptables_node import NodeTables, RestoreError, node_text
from app.sim.kubeproxy.iptables_service import RenderContext, render_port
from app.sim.kubeproxy.names import is_service_chain
from app.sim.kubeproxy.service import ServiceView
from app.sim.kubeproxy.sort import canonical
from app.sim.kubeproxy.state import ProxyState

__all__ = ["ChainChange", "SyncResult", "diff_tables", "render_restore"]

LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000  # largeClusterEndpointsThreshold in proxier.go
# proxyutil.FullSyncPeriod: a partial sync this long after the last full one is made full, so
# rules someone else changed by hand are repaired at least this often (recalled, see facts).
FULL_SYNC_PERIOD = 3600.0


@dataclass
class SyncResult:
    """One sync: its restore input, whether it applied, and the node afterwards."""

    restore: str
    full: bool
    applied: bool
    node: NodeTables
    large_cluster: bool
    last_cleanup: float
    need_full_sync: bool = False
    last_full: float = 0.0  # logical time of the last full sync
    error: str | None = None
    exit_status: int = 0
    written_chains: tuple[str, ...] = ()
    deleted_chains: tuple[str, ...] = ()
    node_before: NodeTables | None = field(default=None, repr=False)
    pre_restore: NodeTables | None = field(default=None, repr=False)
    ctx: RenderContext | None = field(default=None, repr=False)
    cache: dict[str, CachedService] = field(default_factory=dict, repr=False)
    state_mark: tuple[object, int] | None = field(default=None, repr=False)
    # service chains left on the node unused (no cleanup ran): the next scan's candidates
    leftover: frozenset[str] = field(default_factory=frozenset, repr=False)
    stored_versions: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def versions(self) -> dict[str, str]:
        """The version of each Service this sync saw (what the next one compares with)."""
        if self.cache:
            return {key: cached.version for key, cached in self.cache.items()}
        return self.stored_versions

    def snapshot(self) -> dict[str, Any]:
        """What the next sync needs, as plain JSON-able data (a lab stored between requests):
        the node's tables as restore text, the Service versions and the sync clocks."""
        return {
            "node": node_text(self.node),
            "versions": self.versions,
            "need_full_sync": self.need_full_sync or not self.applied,
            "large_cluster": self.large_cluster,
            "last_cleanup": self.last_cleanup,
            "last_full": self.last_full,
            "leftover": sorted(self.leftover),
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> SyncResult:
        """A previous sync rebuilt from `snapshot()`; the rules are rendered again on the next
        sync, and it reads the whole nat table back (the node is marked as edited)."""
        node = NodeTables().apply_restore(str(data["node"]))
        result = cls("", False, True, node, bool(data["large_cluster"]), data["last_cleanup"])
        result.need_full_sync = bool(data["need_full_sync"])
        result.last_full = float(data["last_full"])
        result.leftover = frozenset(data["leftover"])
        result.stored_versions = dict(data["versions"])
        return result

    def canonical(self) -> str:
        """The restore input in the upstream tests' canonical order (see sort.py)."""
        return canonical(self.restore)

    @property
    def changes(self) -> list[ChainChange]:
        """Chains of the filter and nat tables this sync created, rewrote or deleted (empty
        when the restore failed)."""
        if not self.applied or self.node_before is None:
            return []
        # a full sync also (re)ensures the jumps in the builtin chains, outside the restore
        tables = ("filter", "nat")
        changes = diff_tables(self.node_before, self.node, tables, every_chain=self.full)
        owners = {c: p.spn for s in self.cache.values() for p in s.ports for c in p.nat_chains}
        return [replace(c, service=owners.get(c.chain) or owner_from_rules(c)) for c in changes]

    @property
    def changed_chains(self) -> list[str]:
        """Names of the chains whose rules this sync changed (created, rewritten, deleted)."""
        return [c.chain for c in self.changes]

    def replay(self) -> NodeTables:
        """The node rebuilt by feeding `restore`, as text, to the restore model: equal to
        `node` (which the sync builds from the same input per chain, for speed)."""
        assert self.pre_restore is not None
        return self.pre_restore.apply_restore(self.restore)

    def chain(self, table: str, chain: str) -> list[str]:
        """A chain's rules on the node after this sync, as restore lines."""
        return self.node.rules(table, chain)


def render_restore(
    state: ProxyState,
    *,
    full: bool = True,
    previous: SyncResult | None = None,
    now: float = 0.0,
) -> SyncResult:
    """One syncProxyRules. `now` is the logical clock (seconds): it decides when the stale-chain
    scan runs in large clusters and when a partial sync is due to be a full one."""
    with _collector_paused():
        return _sync(state, full, previous, now)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A sync of a large cluster allocates some 200,000 small lists; CPython's cycle collector
    would rescan the whole heap many times meanwhile (a third of the time), although nothing
    here forms a reference cycle. It runs again, as before, once the sync is done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _sync(state: ProxyState, full: bool, previous: SyncResult | None, now: float) -> SyncResult:
    full = (
        full
        or previous is None
        or previous.need_full_sync
        or now - previous.last_full > FULL_SYNC_PERIOD
    )
    large = state.total_endpoints() > LARGE_CLUSTER_ENDPOINTS_THRESHOLD
    ctx = RenderContext(state.options, state.node.primary_ip, large)
    reuse = previous is not None and previous.ctx == ctx
    services, changed = _render_services(state, previous, ctx, reuse)
    if full:
        changed = set(services)
    # In large clusters reading the nat table back is costly: at most once per sync period.
    cleanup = not large or previous is None or now - previous.last_cleanup > ctx.options.sync_period
    original = previous.node if previous else NodeTables()
    before = _ensure_jumps(original) if full else original
    unused = _unused_chains(before, services, previous, changed, full)
    stale = sorted(unused) if cleanup else []
    restore = assemble(state, services, changed, stale)
    result = SyncResult(restore.text, full, True, before, large, now)
    if not cleanup and previous is not None:
        result.last_cleanup = previous.last_cleanup
    result.last_full = now if full else previous.last_full  # type: ignore[union-attr]
    result.written_chains, result.ctx = tuple(restore.written), ctx
    result.cache, result.state_mark = services, state.journal_mark
    result.leftover = frozenset() if cleanup else frozenset(unused)
    return _finish(result, restore, original, stale)


def _finish(
    result: SyncResult, restore: RestoreInput, original: NodeTables, stale: list[str]
) -> SyncResult:
    """Apply the restore to the node; a refusal leaves the node as it was and asks for a
    full sync next time (proxier.needFullSync)."""
    before = result.node
    try:
        result.node = _apply(before, restore)
    except RestoreError as err:
        result.applied, result.need_full_sync = False, True
        result.error, result.exit_status = str(err), err.status
        return result
    result.deleted_chains = tuple(stale)
    result.node_before, result.pre_restore = original, before
    return result


def _render_services(
    state: ProxyState, previous: SyncResult | None, ctx: RenderContext, reuse: bool
) -> tuple[dict[str, CachedService], set[str]]:
    """Per Service (by namespace/name), its rendered ports, and the Services whose Service or
    EndpointSlices changed since the previous sync, kube-proxy's UpdatedServices. An
    unchanged Service reuses the previous rendering when `reuse` (same options and
    large-cluster mode); the state's change journal says which ones to look at."""
    old = previous.cache if previous is not None else {}
    views = state.views
    since = state.changed_since(previous.state_mark) if previous and reuse else None
    if since is not None and all(k in old and k in views for k in since):
        out = dict(old)  # the same Services, in the same order
        changed = {k for k in since if old[k].version != views[k].version}
        for key in changed:
            out[key] = _render(views[key], ctx)
        return out, changed
    out, changed = {}, set()
    versions = previous.versions if previous is not None else {}
    for key in state.keys_in_order():
        view, hit = views[key], old.get(key)
        if versions.get(key) != view.version:
            changed.add(key)
        out[key] = hit if reuse and hit is not None and key not in changed else _render(view, ctx)
    return out, changed


def _render(view: ServiceView, ctx: RenderContext) -> CachedService:
    return CachedService.of(view.version, tuple(render_port(pe, ctx) for pe in view.ports))


def _unused_chains(
    node: NodeTables,
    services: dict[str, CachedService],
    previous: SyncResult | None,
    changed: set[str],
    full: bool,
) -> set[str]:
    """Service chains on the node that this sync does not write or keep: what kube-proxy
    finds by reading the nat table back (`iptables-save -t nat`). A full sync reads all of it;
    a partial one after a successful sync looks only at what can have become unused (the
    chains of changed or deleted Services, and what an earlier sync left behind)."""
    existing = node.tables["nat"].chains.keys() if "nat" in node.tables else set()
    if full or previous is None or not previous.applied or node.edited:
        active = frozenset().union(*(c.active for c in services.values()))
        return {c for c in existing - active if is_service_chain(c)}
    old = previous.cache
    unused = set(previous.leftover)
    for key in changed | (old.keys() - services.keys()):
        if (hit := old.get(key)) is not None:
            unused.update(hit.active)
    for key in changed:  # what a changed Service uses now (a leftover may be back in use)
        unused.difference_update(services[key].active)
    return {c for c in unused if c in existing}


def _apply(node: NodeTables, restore: RestoreInput) -> NodeTables:
    """`iptables-restore --noflush` of the sync's input. The per-chain form is applied (the
    same operations without re-reading 400,000 lines for a large cluster); when the kernel
    would refuse it, the text is replayed for iptables-restore's exact message."""
    try:
        return node.apply_chains(restore.writes, {"nat": restore.deletes})
    except RestoreError:
        return node.apply_restore(restore.text)


def _ensure_jumps(node: NodeTables) -> NodeTables:
    """Full syncs ensure the jumps from the builtin chains (`-C`, else `-I CHAIN 1`), and the
    chains they jump to, before the restore (syncProxyRules, iptablesJumpChains)."""
    new = NodeTables(dict(node.tables))
    for name in ("mangle", "nat", "filter"):
        # the iptables monitor's canary: if it vanishes, someone flushed the tables and
        # kube-proxy resyncs in full (pkg/util/iptables Monitor)
        table = new.tables[name] = new.table(name).copy()
        table.chains.setdefault(fixed.KUBE_PROXY_CANARY, [])
    for jump in fixed.JUMP_RULES:
        table = new.tables[jump.table] = new.table(jump.table).copy()
        if jump.target not in table.chains:
            table.set_rules(jump.target, [])
        rule = f"-A {jump.chain} {jump.args()}"
        if rule not in table.chains[jump.chain]:
            table.set_rules(jump.chain, [rule, *table.chains[jump.chain]])
    return new

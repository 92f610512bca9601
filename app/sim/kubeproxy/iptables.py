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

from dataclasses import dataclass, field, replace

from app.sim.kubeproxy import iptables_fixed as fixed
from app.sim.kubeproxy.iptables_node import NodeTables, RestoreError
from app.sim.kubeproxy.iptables_service import PortRender, RenderContext, render_port
from app.sim.kubeproxy.names import SERVICE_CHAIN_PREFIXES, is_service_chain
from app.sim.kubeproxy.sort import canonical, comment_of
from app.sim.kubeproxy.state import ProxyState, ServiceView

LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000  # largeClusterEndpointsThreshold in proxier.go


@dataclass(frozen=True)
class ChainChange:
    """How one chain differs after a sync: `created`, `rewritten` or `deleted`; `service` is
    the service port (`ns/name:port`) owning a per-service chain, if known."""

    table: str
    chain: str
    kind: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    service: str | None = None


@dataclass(frozen=True)
class _Cached:
    """One Service's rendering: its version, its ports' rules, the nat chains it owns."""

    version: str
    ports: tuple[PortRender, ...]
    active: frozenset[str]


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
    error: str | None = None
    exit_status: int = 0
    written_chains: tuple[str, ...] = ()
    deleted_chains: tuple[str, ...] = ()
    node_before: NodeTables | None = field(default=None, repr=False)
    ctx: RenderContext | None = field(default=None, repr=False)
    cache: dict[str, _Cached] = field(default_factory=dict, repr=False)
    active: set[str] | frozenset[str] = field(default_factory=frozenset, repr=False)

    def canonical(self) -> str:
        """The restore input in the upstream tests' canonical order (see sort.py)."""
        return canonical(self.restore)

    @property
    def changes(self) -> list[ChainChange]:
        """Chains of the filter and nat tables this sync created, rewrote or deleted (empty
        when the restore failed)."""
        if not self.applied or self.node_before is None:
            return []
        changes = diff_tables(self.node_before, self.node, ("filter", "nat"))
        owners = {c: p.spn for s in self.cache.values() for p in s.ports for c in p.nat_chains}
        return [replace(c, service=owners.get(c.chain) or _owner(c)) for c in changes]

    @property
    def changed_chains(self) -> list[str]:
        """Names of the chains whose rules this sync changed (created, rewritten, deleted)."""
        return [c.chain for c in self.changes]

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
    """One syncProxyRules. `now` is the logical clock (seconds) for the stale-chain scan."""
    full = full or previous is None or previous.need_full_sync
    large = state.total_endpoints() > LARGE_CLUSTER_ENDPOINTS_THRESHOLD
    ctx = RenderContext(state.options, state.node.primary_ip, large)
    reuse = previous is not None and previous.ctx == ctx
    old = previous.cache if previous is not None else {}
    services, changed = _render_services(state.views, old, ctx, reuse)
    if full:
        changed = set(services)
    cleanup = (
        not large or previous is None or now - previous.last_cleanup > state.options.sync_period
    )
    original = previous.node if previous else NodeTables()
    before = _ensure_jumps(original) if full else original
    active = _active_chains(services, previous if reuse else None, changed)
    stale = _stale_chains(before, active) if cleanup else []
    restore, written = _assemble(state, services, changed, stale)
    result = SyncResult(
        restore=restore,
        full=full,
        applied=True,
        node=before,
        large_cluster=large,
        last_cleanup=now if cleanup else previous.last_cleanup,  # type: ignore[union-attr]
        written_chains=tuple(written),
        ctx=ctx,
        cache=services,
        active=active,
    )
    try:
        result.node = before.apply_restore(restore)
    except RestoreError as err:
        result.applied, result.need_full_sync = False, True
        result.error, result.exit_status = str(err), err.status
        return result
    result.deleted_chains = tuple(stale)
    result.node_before = original
    return result


def _render_services(
    views: dict[str, ServiceView], old: dict[str, _Cached], ctx: RenderContext, reuse: bool
) -> tuple[dict[str, _Cached], set[str]]:
    """Per Service (by namespace/name), its rendered ports, and the Services whose Service or
    EndpointSlices changed since the previous sync (`old`), kube-proxy's UpdatedServices.
    An unchanged Service reuses the previous rendering when `reuse` (same options and
    large-cluster mode)."""
    out: dict[str, _Cached] = {}
    changed: set[str] = set()
    for key in sorted(views):
        view = views[key]
        hit = old.get(key)
        if hit is None or hit.version != view.version:
            changed.add(key)
        elif reuse:
            out[key] = hit
            continue
        ports = tuple(render_port(pe, ctx) for pe in view.ports)
        out[key] = _Cached(view.version, ports, frozenset(c for p in ports for c in p.nat_chains))
    return out, changed


def _active_chains(
    services: dict[str, _Cached], previous: SyncResult | None, changed: set[str]
) -> set[str] | frozenset[str]:
    """Every per-service nat chain this sync keeps; updated from the previous sync's set when
    possible (one set copy instead of a union over every Service)."""
    if previous is None or len(changed) * 4 > len(services):
        return frozenset().union(*(c.active for c in services.values()))
    active = set(previous.active)
    for key in changed | (previous.cache.keys() - services.keys()):
        if (hit := previous.cache.get(key)) is not None:
            active.difference_update(hit.active)
    for key in changed:
        active.update(services[key].active)
    return active  # never changed after this sync: the next one copies it


def _stale_chains(node: NodeTables, active: set[str] | frozenset[str]) -> list[str]:
    """Service chains on the node (read back like `iptables-save -t nat`) not written now."""
    existing = node.tables["nat"].chains.keys() if "nat" in node.tables else set()
    return sorted(c for c in existing - active if is_service_chain(c))


def _assemble(
    state: ProxyState, services: dict[str, _Cached], changed: set[str], stale: list[str]
) -> tuple[str, list[str]]:
    """The restore input in kube-proxy's emission order (Services by namespace/name)."""
    opts = state.options
    filter_rules = fixed.render_kubelet_firewall(opts)
    nat_chains = list(fixed.NAT_CHAINS)
    nat_rules = fixed.render_postrouting(opts)
    written: list[str] = []
    for key, svc in services.items():
        for port in svc.ports:
            filter_rules.extend(port.filter_rules)
            nat_rules.extend(port.nat_dispatch)
            if key in changed:
                written.extend(port.nat_chains)
                nat_rules.extend(port.nat_rules)
    nat_chains.extend(written)
    nat_chains.extend(stale)
    nat_rules.extend(f"-X {c}" for c in stale)
    nat_rules.extend(fixed.render_nodeports_tail(opts, state.node))
    filter_rules.extend(fixed.render_forward(opts))
    lines = ["*filter"]
    lines.extend(f":{c} - [0:0]" for c in fixed.filter_chain_names(opts))
    lines.extend(filter_rules)
    lines.extend(("COMMIT", "*nat"))
    lines.extend(f":{c} - [0:0]" for c in nat_chains)
    lines.extend(nat_rules)
    lines.append("COMMIT")
    return "\n".join(lines) + "\n", written


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


def diff_tables(
    before: NodeTables, after: NodeTables, tables: tuple[str, ...]
) -> list[ChainChange]:
    """Chains whose rules differ between two node states, per table, in chain order."""
    changes = []
    for table in tables:
        old = before.tables[table].chains if table in before.tables else {}
        new = after.tables[table].chains if table in after.tables else {}
        # After a restore only the chains it named can differ; otherwise compare them all.
        names = after.touched.get(table) or set(old) | set(new)
        for chain in sorted(names, key=_chain_order):
            prev, rules = old.get(chain), new.get(chain)
            if prev is None and rules is not None:
                changes.append(ChainChange(table, chain, "created", (), tuple(rules)))
            elif rules is None and prev is not None:
                changes.append(ChainChange(table, chain, "deleted", tuple(prev), ()))
            elif prev is not rules and prev != rules:
                changes.append(ChainChange(table, chain, "rewritten", tuple(prev), tuple(rules)))  # type: ignore[arg-type]
    return changes


def _owner(change: ChainChange) -> str | None:
    """The service port of a deleted per-service chain, read from its old rules' comment
    (`ns/name:port`, the first word; absent in large-cluster mode)."""
    if not is_service_chain(change.chain):
        return None
    for rule in change.before:
        comment = comment_of(rule)
        if comment:
            return comment.split(" ", 1)[0]
    return None


def _chain_order(name: str) -> tuple[bool, str]:
    """Builtin and top-level chains first, then the per-service chains, each by name."""
    return (name.startswith(SERVICE_CHAIN_PREFIXES), name)

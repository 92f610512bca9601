"""kube-proxy's nftables mode: one sync turns a `ProxyState` into an nftables transaction.

`render_nftables(state, previous=..., now=...)` is one call of syncProxyRules
(pkg/proxy/nftables/proxier.go). It returns an `NftSync`: the node's `ip kube-proxy` table
afterwards (`table`; `dump()` is the knftables fake's Dump, `listing()` what
`nft list table ip kube-proxy` prints), and the transaction that got it there.

Sync behaviour (kube-proxy-facts §3):
* a full sync (the first, or after a failure) re-creates the base layout and rewrites every
  service chain; a partial sync rewrites only the chains of Services that changed, each as
  `add chain` + `flush chain` + its rules;
* set and map elements are kept incrementally: only added or removed elements are written;
* a service chain no longer used is flushed at once and deleted only more than one second
  later, in a separate transaction run before the next sync's (old kernels notice late that
  a chain became unreferenced); unused affinity sets are deleted at once.
`operations` counts the main transaction's commands (the upstream tests'
`expectedTransactionOperations`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.sim.kubeproxy import nftables_fixed as fixed
from app.sim.kubeproxy.nftables_service import (
    AFFINITY_PREFIX,
    NftContext,
    PortRules,
    is_service_chain,
    render_port,
)
from app.sim.kubeproxy.state import ProxyState
from app.sim.nft.model import Element, Ruleset, Table
from app.sim.nft.parse import apply_line
from app.sim.nft.render import dump, list_table

__all__ = ["NftSync", "canonical_dump", "render_nftables"]

STALE_CHAIN_DELAY = 1.0  # seconds a flushed chain waits before it is deleted


@dataclass
class NftSync:
    """One sync's result (see the module docstring)."""

    table: Table
    full: bool
    transaction: list[str]
    cleanup: list[str]
    stale: dict[str, float]
    now: float
    mark: tuple[object, int] | None = field(default=None, repr=False)
    rules: dict[str, PortRules] = field(default_factory=dict, repr=False)
    versions: dict[str, str] = field(default_factory=dict, repr=False)
    ctx: NftContext | None = field(default=None, repr=False)

    @property
    def operations(self) -> int:
        return len(self.transaction)

    def dump(self) -> str:
        return dump(self.table)

    def canonical(self) -> str:
        return canonical_dump(self.dump())

    def listing(self) -> str:
        return list_table(self.table)


class _Tx:
    """A transaction: each command is applied to the table and recorded."""

    def __init__(self, table: Table) -> None:
        self.table, self.lines = table, []
        self.where = f"{table.family} {table.name}"

        self._ruleset = Ruleset({(table.family, table.name): table})

    def run(self, command: str) -> None:
        apply_line(self._ruleset, command)
        self.lines.append(command)


def render_nftables(
    state: ProxyState,
    *,
    previous: NftSync | None = None,
    now: float = 0.0,
    full: bool | None = None,
    service_cidrs: Iterable[str] = (),
    preexisting: Table | None = None,
) -> NftSync:
    """One sync (see the module docstring). `preexisting` is a table already on the node
    before the first sync (kube-proxy restarted)."""
    # A sync allocates hundreds of thousands of small objects that all stay alive: the
    # cyclic collector would rescan them over and over for nothing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _sync(state, previous, now, full, tuple(service_cidrs), preexisting)
    finally:
        if enabled:
            gc.enable()


def _sync(
    state: ProxyState,
    previous: NftSync | None,
    now: float,
    full: bool | None,
    service_cidrs: tuple[str, ...],
    preexisting: Table | None,
) -> NftSync:
    ctx = NftContext(state.options, state.node)
    family = "ip6" if state.options.ipv6 else "ip"
    if previous is not None:
        table, stale = previous.table.clone(), dict(previous.stale)
    else:
        table, stale = preexisting.clone() if preexisting else Table(family, "kube-proxy"), {}
    full = previous is None if full is None else full
    cleanup = _delete_stale(table, stale, now)
    tx = _Tx(table)
    if full:
        fixed.setup(tx, ctx, service_cidrs)
    versions = {key: view.version for key, view in state.views.items()}
    rules = _render(state, ctx, previous, versions)
    changed = None if full or previous is None else state.changed_since(previous.mark)
    _write(tx, rules, changed, stale, now)
    result = NftSync(table, full, tx.lines, cleanup, stale, now, state.journal_mark, rules)
    result.versions, result.ctx = versions, ctx
    return result


def _render(
    state: ProxyState, ctx: NftContext, previous: NftSync | None, versions: dict[str, str]
) -> dict[str, PortRules]:
    """Each service port's objects; a Service whose inputs did not change since the previous
    sync reuses what that sync rendered (its version says so)."""
    # rendered with other options or another node: nothing can be reused
    old = previous.versions if previous is not None and previous.ctx == ctx else {}
    rules: dict[str, PortRules] = {}
    for key, view in state.views.items():
        for pe in view.ports:
            name = f"{key}:{pe.port.port_name}"
            reuse = old.get(key) == versions[key] and previous is not None
            cached = previous.rules.get(name) if reuse and previous is not None else None
            rules[name] = cached if cached is not None else render_port(pe, ctx)
    return rules


def _delete_stale(table: Table, stale: dict[str, float], now: float) -> list[str]:
    """The separate transaction that deletes chains flushed more than a second ago."""
    tx = _Tx(table)
    for name, since in sorted(stale.items()):
        if now - since > STALE_CHAIN_DELAY:
            if name in table.chains:
                tx.run(f"delete chain {tx.where} {name}")
            del stale[name]
    return tx.lines


def _write(
    tx: _Tx, rules: dict[str, PortRules], changed: set[str] | None, stale: dict, now: float
) -> None:
    table, where = tx.table, tx.where
    sets = {name: spec for r in rules.values() for name, spec in r.sets.items()}
    for name, spec in sets.items():
        if name not in table.sets:
            tx.run(f"add set {where} {name} {spec}")
    rewrite = [
        r for key, r in rules.items() if changed is None or key.rpartition(":")[0] in changed
    ]
    # a chain flushed as stale, or missing, is written again whatever changed
    rewrite += [
        r for r in rules.values() if any(c in stale or c not in table.chains for c in r.chains)
    ]
    _write_chains(tx, list({id(r): r for r in rewrite}.values()), stale)
    _sync_elements(tx, rules)
    active = {chain for r in rules.values() for chain in r.chains}
    _retire(tx, active, set(sets), stale, now)


def _write_chains(tx: _Tx, rewrite: list[PortRules], stale: dict[str, float]) -> None:
    """Every chain first (rules may goto a chain written later), then their rules."""
    for r in rewrite:
        for chain in r.chains:
            tx.run(f"add chain {tx.where} {chain}")
            tx.run(f"flush chain {tx.where} {chain}")
    for r in rewrite:
        for chain, texts in r.chains.items():
            stale.pop(chain, None)
            for text in texts:
                tx.run(f"add rule {tx.where} {chain} {text}")


def _retire(tx: _Tx, active: set[str], sets: set[str], stale: dict, now: float) -> None:
    """Flush service chains no longer used (deleted after STALE_CHAIN_DELAY) and delete
    affinity sets no longer used."""
    for name in list(tx.table.chains):
        if is_service_chain(name) and name not in active and name not in stale:
            tx.run(f"flush chain {tx.where} {name}")
            stale[name] = now
    for name in list(tx.table.sets):
        if name.startswith(AFFINITY_PREFIX) and name not in sets:
            tx.run(f"delete set {tx.where} {name}")


def _sync_elements(tx: _Tx, rules: dict[str, PortRules]) -> None:
    """Add missing and changed elements, delete the ones no Service wants any more."""
    table, where = tx.table, tx.where
    wanted: dict[str, dict[tuple[str, ...], tuple[Element, str]]] = {
        name: {} for name in fixed.ELEMENT_SETS if name in table.sets
    }
    for r in rules.values():
        for name, element, body in r.parsed_elements():
            wanted[name][element.key] = (element, body)
    for name, want in wanted.items():
        have = table.sets[name].elements
        for key in [k for k in have if k not in want]:
            tx.run(f"delete element {where} {name} {{ {' . '.join(key)} }}")
        for key, (element, body) in want.items():
            if have.get(key) != element:
                tx.run(f"add element {where} {name} {body}")


def canonical_dump(text: str) -> str:
    """knftables' sortNFTablesTransaction (corpus README §4.3): drop blanks and comments,
    stably sort by object kind, then by name; a chain's rules keep their order, other ties
    sort by the whole line."""
    kinds = ("table", "chain", "rule", "set", "map", "element")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]

    def key(line: str) -> tuple[int, str, str]:
        words = line.split(" ")
        kind = kinds.index(words[1]) if len(words) > 1 and words[1] in kinds else len(kinds)
        name = words[4] if len(words) > 4 else ""
        return (kind, name, "" if words[1] == "rule" else line)

    return "\n".join(sorted(lines, key=key)) + "\n"

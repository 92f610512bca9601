"""What a sync changed on the node: per chain, created, rewritten or deleted, and which
service port owns it, so the UI can say "kube-proxy rewrote KUBE-SVC-… for ns/web:http"."""

from __future__ import annotations

from dataclasses import dataclass

from app.sim.kubeproxy.iptables_node import NodeTables
from app.sim.kubeproxy.names import SERVICE_CHAIN_PREFIXES, is_service_chain
from app.sim.kubeproxy.sort import comment_of


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


def diff_tables(
    before: NodeTables, after: NodeTables, tables: tuple[str, ...], every_chain: bool = False
) -> list[ChainChange]:
    """Chains whose rules differ between two node states, per table, in chain order."""
    changes = []
    for table in tables:
        old = before.tables[table].chains if table in before.tables else {}
        new = after.tables[table].chains if table in after.tables else {}
        # After a restore only the chains it named can differ; otherwise compare them all.
        touched = None if every_chain else after.touched.get(table)
        names = touched or set(old) | set(new)
        for chain in sorted(names, key=chain_order):
            prev, rules = old.get(chain), new.get(chain)
            if prev is None and rules is not None:
                changes.append(ChainChange(table, chain, "created", (), tuple(rules)))
            elif rules is None and prev is not None:
                changes.append(ChainChange(table, chain, "deleted", tuple(prev), ()))
            elif prev is not rules and prev != rules:
                changes.append(ChainChange(table, chain, "rewritten", tuple(prev), tuple(rules)))  # type: ignore[arg-type]
    return changes


def owner_from_rules(change: ChainChange) -> str | None:
    """The service port of a deleted per-service chain, read from its old rules' comment
    (`ns/name:port`, the first word; absent in large-cluster mode)."""
    if not is_service_chain(change.chain):
        return None
    for rule in change.before:
        comment = comment_of(rule)
        if comment:
            return comment.split(" ", 1)[0]
    return None


def chain_order(name: str) -> tuple[bool, str]:
    """Builtin and top-level chains first, then the per-service chains, each by name."""
    return (name.startswith(SERVICE_CHAIN_PREFIXES), name)

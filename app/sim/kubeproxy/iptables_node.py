"""The node's iptables as kube-proxy sees it between syncs, and `iptables-restore --noflush`.

kube-proxy reads the nat table back (`iptables-save -t nat`) to find stale service chains, and
its restore fails when it deletes a chain that some rule still jumps to. To reproduce both, the
node keeps, per table, each user chain's rules as the restore lines that wrote them, plus a
count of the jumps into every chain.

`apply_restore` is all-or-nothing like iptables-nft-restore (one netlink transaction): on any
error the node is left as it was and `RestoreError` carries iptables' own message and exit
status (checked against iptables 1.8.9 (nf_tables)).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

BUILTIN = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
}
_VERDICTS = {"ACCEPT", "DROP", "RETURN", "QUEUE"}


class RestoreError(Exception):
    """iptables-restore refused the input; nothing was changed."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def jump_target(rule: str) -> str | None:
    """The chain a rule line jumps or goes to (`-j X` / `-g X`), if X may be a user chain."""
    _, sep, rest = rule.rpartition(" -j ")
    if not sep:
        _, sep, rest = rule.rpartition(" -g ")
        if not sep:
            return None
    target = rest.split(" ", 1)[0]
    return None if target in _VERDICTS else target


@dataclass
class TableState:
    """One table: user chains -> rule lines (builtin chains included), and jump counts."""

    chains: dict[str, list[str]] = field(default_factory=dict)
    # Jumps into each chain. Built on the first chain deletion, then kept up to date: a
    # restore that deletes nothing (the first sync of a large cluster) never pays for it.
    _refs: Counter[str] | None = None

    def copy(self) -> TableState:
        # Rule lists are replaced, never mutated in place, so sharing them is safe.
        refs = None if self._refs is None else Counter(self._refs)
        return TableState(dict(self.chains), refs)

    def references(self, chain: str) -> int:
        """How many rules jump or go to `chain`."""
        if self._refs is None:
            self._refs = Counter(t for rules in self.chains.values() for t in _targets(rules))
        return self._refs[chain]

    def set_rules(self, chain: str, rules: list[str]) -> None:
        old = self.chains.get(chain)
        if old is not None and old == rules:
            return  # rewritten with the same rules (KUBE-SERVICES on most syncs)
        if self._refs is not None:
            if old:
                self._refs.subtract(_targets(old))
            self._refs.update(_targets(rules))
        self.chains[chain] = rules


def _targets(rules: list[str]) -> list[str]:
    return [t for t in map(jump_target, rules) if t]


@dataclass
class NodeTables:
    """The tables of one node (IPv4 or IPv6 family), by name."""

    tables: dict[str, TableState] = field(default_factory=dict)
    # chains the last apply_restore wrote or deleted, per table (what a diff needs to look at)
    touched: dict[str, set[str]] = field(default_factory=dict, repr=False)

    def table(self, name: str) -> TableState:
        if name not in self.tables:
            self.tables[name] = TableState({c: [] for c in BUILTIN.get(name, ())})
        return self.tables[name]

    def rules(self, table: str, chain: str) -> list[str]:
        """Rule lines of a chain (empty if the chain or table does not exist)."""
        state = self.tables.get(table)
        return list(state.chains.get(chain, ())) if state else []

    def chain_names(self, table: str) -> list[str]:
        state = self.tables.get(table)
        return list(state.chains) if state else []

    def add_rule(self, table: str, rule: str) -> None:
        """`iptables -A`: someone outside kube-proxy appends `rule` (`-A CHAIN ...`)."""
        state = self.table(table)
        chain = rule.split()[1]
        if chain not in state.chains:
            raise RestoreError("iptables: No chain/target/match by that name.", 1)
        state.set_rules(chain, [*state.chains[chain], rule])

    def apply_restore(self, text: str) -> NodeTables:
        """The node after `iptables-restore --noflush` of `text` (self is left unchanged)."""
        new = NodeTables(dict(self.tables))
        pending: dict[str, list[str]] = {}
        current: TableState | None = None
        touched: set[str] = set()
        for lineno, line in enumerate(text.splitlines(), 1):
            if line[:3] == "-A " and current is not None:
                # the common case first, kept short: restores of large clusters are long
                rules = pending.get(line[3 : line.find(" ", 3)])
                if rules is not None:
                    rules.append(line)
                    continue
            if not line or line.startswith("#"):
                continue
            if line.startswith("*"):
                name = line[1:].strip()
                current = new.tables[name] = new.table(name).copy()
                pending = {}
                touched = new.touched[name] = set()
            elif current is None:
                raise RestoreError(f"iptables-restore: line {lineno} failed", 1)
            elif line == "COMMIT":
                touched.update(pending)
                _commit(current, pending)
                current = None
            else:
                if line.startswith("-X "):
                    touched.add(line[3:].strip())
                    touched.update(pending)
                _apply_line(current, pending, line, lineno)
        return new


def _apply_line(state: TableState, pending: dict[str, list[str]], line: str, lineno: int) -> None:
    """One line inside a table block; chain contents are collected in `pending`."""
    if line.startswith(":"):
        # In --noflush mode a chain line creates the chain or flushes it.
        pending[line[1:].split()[0]] = []
        return
    op, _, rest = line.partition(" ")
    chain = rest.split(" ", 1)[0]
    if op == "-A":
        if chain not in pending:
            if chain not in state.chains:
                raise RestoreError(
                    f"iptables-restore: line {lineno} failed: No chain/target/match by that name.",
                    1,
                )
            pending[chain] = list(state.chains[chain])
        pending[chain].append(line)
    elif op == "-X":
        _commit(state, pending)
        pending.clear()
        if chain not in state.chains:
            raise RestoreError(f"iptables-restore: line {lineno} failed", 1)
        if state.references(chain) > 0:
            raise RestoreError(
                f"line {lineno}: CHAIN_DEL failed (Device or resource busy): chain {chain}", 4
            )
        state.set_rules(chain, [])
        del state.chains[chain]
    else:
        raise RestoreError(f"iptables-restore: line {lineno} failed", 1)


def _commit(state: TableState, pending: dict[str, list[str]]) -> None:
    for chain, rules in pending.items():
        state.set_rules(chain, rules)

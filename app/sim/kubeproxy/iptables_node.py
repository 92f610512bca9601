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
    parts = rule.split()
    for i in range(len(parts) - 1):
        if parts[i] in ("-j", "-g", "--jump", "--goto"):
            target = parts[i + 1]
            return None if target in _VERDICTS or not target.isupper() else target
    return None


@dataclass
class TableState:
    """One table: user chains -> rule lines (builtin chains included), and jump counts."""

    chains: dict[str, list[str]] = field(default_factory=dict)
    refs: Counter[str] = field(default_factory=Counter)

    def copy(self) -> TableState:
        # Rule lists are replaced, never mutated in place, so sharing them is safe.
        return TableState(dict(self.chains), Counter(self.refs))

    def set_rules(self, chain: str, rules: list[str]) -> None:
        for rule in self.chains.get(chain, ()):
            if target := jump_target(rule):
                self.refs[target] -= 1
        for rule in rules:
            if target := jump_target(rule):
                self.refs[target] += 1
        self.chains[chain] = rules


@dataclass
class NodeTables:
    """The tables of one node (IPv4 or IPv6 family), by name."""

    tables: dict[str, TableState] = field(default_factory=dict)

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
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line or line.startswith("#"):
                continue
            if line.startswith("*"):
                current = new.table(line[1:].strip()).copy()
                new.tables[line[1:].strip()] = current
                pending = {}
            elif current is None:
                raise RestoreError(f"iptables-restore: line {lineno} failed", 1)
            elif line == "COMMIT":
                _commit(current, pending)
                current = None
            else:
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
        if state.refs[chain] > 0:
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

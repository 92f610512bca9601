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
    # changed by someone other than kube-proxy's sync (`iptables -A`, a hand-made restore):
    # the next sync cannot assume it knows which chains are there
    edited: bool = field(default=False, repr=False)

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
        self.edited = True

    def apply_chains(
        self, writes: dict[str, dict[str, list[str]]], deletes: dict[str, list[str]]
    ) -> NodeTables:
        """The node after a restore given per chain: per table, the chains with a chain line
        and their rules (`writes`), then the `-X` chains (`deletes`). Same semantics as
        `apply_restore`; errors carry no line number."""
        run = _Restore(NodeTables(dict(self.tables)))
        for table, chains in writes.items():
            run.line(f"*{table}", 0)
            run.pending.update(chains)
            for chain in deletes.get(table, ()):
                run.delete(chain, 0)
            run.line("COMMIT", 0)
        return run.node

    def apply_restore(self, text: str) -> NodeTables:
        """The node after `iptables-restore --noflush` of `text` (self is left unchanged)."""
        run = _Restore(NodeTables(dict(self.tables)))
        lineno = 0
        for lineno, line in enumerate(text.splitlines(), 1):
            rules = run.pending.get(line[3 : line.find(" ", 3)]) if line[:3] == "-A " else None
            if rules is not None:
                rules.append(line)  # the common case, kept short: large restores are long
            elif line and not line.startswith("#"):
                run.line(line, lineno)
        if run.table is not None:
            raise RestoreError(f"iptables-restore: COMMIT expected at line {lineno + 1}", 1)
        run.node.edited = True
        return run.node


def node_text(node: NodeTables) -> str:
    """The node's tables as one iptables-restore input (builtin chains policy ACCEPT), which
    `NodeTables().apply_restore` reads back into an equal node."""
    lines: list[str] = []
    for name, table in node.tables.items():
        lines.append(f"*{name}")
        builtin = BUILTIN.get(name, ())
        lines += [f":{c} ACCEPT [0:0]" for c in builtin]
        lines += [f":{c} - [0:0]" for c in table.chains if c not in builtin]
        lines += [rule for rules in table.chains.values() for rule in rules]
        lines.append("COMMIT")
    return "".join(line + "\n" for line in lines)


class _Restore:
    """One iptables-restore run: the table being written and its pending chain contents."""

    def __init__(self, node: NodeTables) -> None:
        self.node = node
        self.table: TableState | None = None
        self.pending: dict[str, list[str]] = {}
        self.touched: set[str] = set()

    def line(self, line: str, lineno: int) -> None:
        if line.startswith("*"):
            name = line[1:].strip()
            self.table = self.node.tables[name] = self.node.table(name).copy()
            self.pending, self.touched = {}, set()
            self.node.touched[name] = self.touched
        elif self.table is None:
            raise RestoreError(f"iptables-restore: line {lineno} failed", 1)
        elif line == "COMMIT":
            self.commit()
            self.table = None
        elif line.startswith(":"):
            # In --noflush mode a chain line creates the chain or flushes it.
            self.pending[line[1:].split()[0]] = []
        elif line.startswith("-A "):
            self.append(line, lineno)
        elif line.startswith("-X "):
            self.delete(line[3:].strip(), lineno)
        else:
            word = line.split()[0]
            raise RestoreError(
                f"Bad argument `{word}'\nError occurred at line: {lineno}\n"
                "Try `iptables-restore -h' or 'iptables-restore --help' for more information.",
                2,
            )

    def commit(self) -> None:
        assert self.table is not None
        self.touched.update(self.pending)
        for chain, rules in self.pending.items():
            self.table.set_rules(chain, rules)
        self.pending = {}

    def append(self, line: str, lineno: int) -> None:
        assert self.table is not None
        chain = line.split(" ", 2)[1]
        if chain not in self.table.chains:
            raise RestoreError(
                f"iptables-restore: line {lineno} failed: No chain/target/match by that name.", 1
            )
        self.pending[chain] = [*self.table.chains[chain], line]

    def delete(self, chain: str, lineno: int) -> None:
        """`-X`: the chain must exist and nothing may jump to it any more."""
        self.commit()
        assert self.table is not None
        if chain not in self.table.chains:
            raise RestoreError(
                f"iptables-restore: line {lineno} failed: No chain/target/match by that name.", 1
            )
        if self.table.references(chain) > 0:
            raise RestoreError(
                f"line {lineno}: CHAIN_DEL failed (Device or resource busy): chain {chain}", 4
            )
        self.touched.add(chain)
        self.table.set_rules(chain, [])
        del self.table.chains[chain]

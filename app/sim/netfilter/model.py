"""The netfilter rule model (the "AST"): Ruleset -> Table -> Chain -> Rule -> Match/Target.

Parsing (`parse.py`) builds it, rendering (`render.py`) prints it the way iptables 1.8.9 does,
and the engine (`engine.py`) walks it. A `Rule` keeps the text it was written as (`raw`), so
the UI can show the learner's own spelling beside iptables' canonical one.

Each match or target object carries both its syntax and its meaning: it can print itself
(`save_args`) and decide about a packet (`matches` / `apply`). The concrete classes live in
`matches.py` and `targets.py`, registered under their iptables spelling.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from app.sim.netfilter.context import MatchContext, TargetResult

# The builtin chains of each table, in iptables-save's order (iptables(8), TABLES).
BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}
TABLE_NAMES = tuple(BUILTIN_CHAINS)

_uids = itertools.count(1)


def next_uid() -> int:
    """A process-unique id for a rule (per-rule kernel state such as nth counters)."""
    return next(_uids)


@dataclass(frozen=True)
class RuleInfo:
    """What an extension may check once the whole rule is read (libxtables' final_check):
    the `-p` protocol number (0 = any) and whether `-p` was negated."""

    proto: int = 0
    proto_inverted: bool = False


class Extension:
    """The option syntax shared by matches and targets (an xtables extension).

    `options` maps every accepted spelling (`--dport`, `--destination-port`) to the canonical
    option name and how many arguments follow it (0, 1, or 2 for `--tcp-flags MASK COMP`).
    The parser calls `prepare` and `set_option` for each one, then `finish` once the rule is
    complete.
    """

    name: str = ""
    options: ClassVar[dict[str, tuple[str, int]]] = {}

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        """Take one option (canonical name); raise IptablesError on a bad value."""
        raise NotImplementedError(option)

    def prepare(self, info: RuleInfo) -> None:
        """Called before each option with what the rule says so far (libxt_multiport
        refuses its options unless `-p` came first)."""

    def finish(self, info: RuleInfo) -> None:
        """Check required options and combinations; raise IptablesError as iptables does."""

    def kernel_accepts(self, info: RuleInfo, table: str, hooks: frozenset[str]) -> bool:
        """Would the kernel's checkentry accept this extension when the rule is added to a
        chain of `table`? `hooks` holds the builtin chain's name, or is empty for a user
        chain: nf_tables only knows the hook of a base chain at that point (nft_compat.c).
        False makes the command fail with `RULE_APPEND failed (Invalid argument)`."""
        return True

    def list_text(self, numeric: bool = True) -> str:
        """The text `iptables -L` prints for this extension (without a leading space);
        `numeric` is `-n` (ports as numbers rather than service names)."""
        return ""


class Match(Extension, ABC):
    """One match: a builtin `-s/-d/-p/-i/-o` part or one `-m NAME` module.

    `negated`-style flags live inside each subclass, as options do.
    """

    builtin: ClassVar[bool] = False

    @abstractmethod
    def matches(self, ctx: MatchContext) -> bool:
        """Does the packet in `ctx` match? May read and update per-rule or per-list state."""

    @abstractmethod
    def save_args(self) -> list[str]:
        """The arguments as iptables-save prints them, e.g. ["-m", "tcp", "--dport", "80"]."""


class Target(Extension, ABC):
    """A rule's `-j`/`-g` part: a builtin verdict, an extension target, or a chain jump.

    `tables` and `hooks` say where the kernel accepts the target (None = anywhere); the
    command layer refuses a rule elsewhere as the kernel does (RULE_APPEND failed).
    """

    tables: ClassVar[tuple[str, ...] | None] = None
    hooks: ClassVar[tuple[str, ...] | None] = None

    def kernel_accepts(self, info: RuleInfo, table: str, hooks: frozenset[str]) -> bool:
        """Table and hook restrictions of the kernel target (xt_check_target)."""
        if self.tables is not None and table not in self.tables:
            return False
        return self.hooks_ok(hooks)

    def hooks_ok(self, hooks: frozenset[str]) -> bool:
        """The target's static hook mask, which nf_tables also checks through every jump
        that reaches the rule (nft_target_validate)."""
        return self.hooks is None or hooks <= set(self.hooks)

    @property
    def list_name(self) -> str:
        """The target column of `iptables -L` (NOTRACK shows as CT)."""
        return self.name

    @abstractmethod
    def apply(self, ctx: MatchContext) -> TargetResult:
        """Decide (and perform side effects such as MARK on `ctx`)."""

    @abstractmethod
    def save_args(self) -> list[str]:
        """The arguments as iptables-save prints them, e.g. ["-j", "DNAT", ...]."""


@dataclass
class Rule:
    """One rule of a chain. `matches` are evaluated left to right, in save order."""

    matches: list[Match]
    target: Target | None
    raw: str = ""
    packets: int = 0
    bytes: int = 0
    uid: int = field(default_factory=next_uid)


@dataclass
class Chain:
    """A chain. Builtin chains have a `policy` (ACCEPT or DROP); user chains have None."""

    name: str
    policy: str | None = None
    rules: list[Rule] = field(default_factory=list)
    packets: int = 0
    bytes: int = 0

    @property
    def builtin(self) -> bool:
        return self.policy is not None


@dataclass
class Table:
    """A table and its chains, builtin chains first in iptables' order, then user chains.

    `lazy` names the builtin chains iptables-nft has not yet created in the kernel: it
    creates a base chain on first use (-A, -I, -P, -F, a restore `:CHAIN` line) and only
    fakes the others in listings, so a few commands answer differently for them.
    """

    name: str
    chains: dict[str, Chain] = field(default_factory=dict)
    lazy: set[str] = field(default_factory=set)

    @classmethod
    def empty(cls, name: str) -> Table:
        """A table with only its builtin chains, policy ACCEPT, as the kernel creates it."""
        table = cls(name)
        for chain in BUILTIN_CHAINS[name]:
            table.chains[chain] = Chain(chain, policy="ACCEPT")
        table.lazy = set(BUILTIN_CHAINS[name])
        return table


@dataclass
class Ruleset:
    """All tables of one node (IPv4). Absent tables were never loaded."""

    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, name: str) -> Table:
        """The table, created empty on first use (as the kernel loads a table module)."""
        if name not in self.tables:
            self.tables[name] = Table.empty(name)
        return self.tables[name]

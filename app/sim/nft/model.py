"""The nftables object model for the subset kube-proxy's nftables mode uses.

A `Table` (family + name) holds named sets/maps (`NftSet`) and chains (`NftChain`); a base
chain has a type, a hook, a priority and a policy (nft(8), CHAINS). A `Rule` keeps the text it
was written with (knftables' own spelling, e.g. `mark set mark or 0x4000`) and its parsed
statements (`app/sim/nft/syntax.py`), which the listing and the evaluator both read. Rules get
kernel-style handles: one counter per table, never reused (nf_tables_api.c, nf_tables_alloc_handle).

Set and map elements are keyed by a tuple of canonical strings (`172.30.0.41`, `tcp`, `80`),
so a packet's key is looked up in O(1) like the kernel's hash sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# Standard priority names (nft(8), "CHAINS" table) in the order nft tries them when printing.
STD_PRIORITIES = (
    ("raw", -300),
    ("mangle", -150),
    ("dstnat", -100),
    ("filter", 0),
    ("security", 50),
    ("srcnat", 100),
)
HOOKS = ("prerouting", "input", "forward", "output", "postrouting")


class NftError(ValueError):
    """A command or ruleset nft would refuse; the message is fit for the user."""


@dataclass(frozen=True)
class Stmt:
    """One statement of a rule. `op` says what it does; the other fields depend on it:

    * `match`: `key` (selectors joined by `.`), `neg`, `value` (literal tuple), `ref` (a
      named set) or `anon` (an anonymous set), `mask` for `meta mark & M == V`;
    * `vmap`: `key`, `ref` or `mapping` (anonymous `{ value : verdict }`);
    * `verdict`: `verdict` (accept, drop, reject, return, continue, jump X, goto X);
    * `mark`: `mark_op` (`or`/`xor`/`and`/`set`) and `value`;
    * `dnat`: `value` = (address, port or ""); `masquerade`: `flags`;
    * `update`: `ref` and `key`; `counter`: nothing (counts live on the rule).
    """

    op: str
    key: tuple[str, ...] = ()
    neg: bool = False
    value: tuple[str, ...] = ()
    ref: str = ""
    anon: tuple[tuple[str, ...], ...] = ()
    mapping: tuple[tuple[str, str], ...] = ()
    mask: str = ""
    verdict: str = ""
    mark_op: str = ""
    flags: tuple[str, ...] = ()


@dataclass
class Rule:
    """A rule: its text as written, its statements, comment, handle and counters."""

    text: str
    stmts: tuple[Stmt, ...]
    comment: str | None = None
    handle: int = 0
    packets: int = 0
    bytes: int = 0

    @property
    def counts(self) -> bool:
        return any(s.op == "counter" for s in self.stmts)


@dataclass
class NftChain:
    """A chain; `hook` set means a base chain (with `type`, `priority`, `policy`)."""

    name: str
    type: str | None = None
    hook: str | None = None
    priority: int = 0
    policy: str = "accept"
    comment: str | None = None
    rules: list[Rule] = field(default_factory=list)
    handle: int = 0

    @property
    def is_base(self) -> bool:
        return self.hook is not None


@dataclass
class Element:
    """A set element; `verdict` for a verdict map (`goto X`, `drop`, ...)."""

    key: tuple[str, ...]
    verdict: str | None = None
    comment: str | None = None


@dataclass
class NftSet:
    """A named set (`is_map` False) or verdict map. `key_types` e.g. (`ipv4_addr`,
    `inet_proto`, `inet_service`); `flags` as written (`dynamic`, `timeout`, `interval`)."""

    name: str
    key_types: tuple[str, ...]
    is_map: bool = False
    data_type: str | None = None
    flags: tuple[str, ...] = ()
    timeout: int | None = None  # seconds
    size: int | None = None
    comment: str | None = None
    elements: dict[tuple[str, ...], Element] = field(default_factory=dict)
    handle: int = 0
    # Elements added by `update @set` with their expiry (logical clock), per key.
    expires: dict[tuple[str, ...], float] = field(default_factory=dict)

    @property
    def has_intervals(self) -> bool:
        return "interval" in self.flags


@dataclass
class Table:
    """A table of one family; sets and chains keep their creation order (the listing's)."""

    family: str
    name: str
    comment: str | None = None
    sets: dict[str, NftSet] = field(default_factory=dict)
    chains: dict[str, NftChain] = field(default_factory=dict)
    next_handle: int = 1
    # (stamp, base chains) kept by the engine; see engine._bases
    base_cache: tuple[tuple[int, int], list[NftChain]] | None = field(
        default=None, repr=False, compare=False
    )

    def clone(self) -> Table:
        """A copy whose chains' rule lists and sets' elements can change independently; the
        rules and elements themselves are shared (a sync replaces them, never edits them)."""
        chains = {n: replace(c, rules=list(c.rules)) for n, c in self.chains.items()}
        sets = {
            n: replace(s, elements=dict(s.elements), expires=dict(s.expires))
            for n, s in self.sets.items()
        }
        return replace(self, chains=chains, sets=sets, base_cache=None)

    def take_handle(self) -> int:
        handle = self.next_handle
        self.next_handle += 1
        return handle

    def chain(self, name: str) -> NftChain:
        try:
            return self.chains[name]
        except KeyError:
            raise NftError(f"Error: No such file or directory; chain {name}") from None

    def set(self, name: str) -> NftSet:
        try:
            return self.sets[name]
        except KeyError:
            raise NftError(f"Error: No such file or directory; set {name}") from None


@dataclass
class Ruleset:
    """All tables, in creation order, keyed by (family, name)."""

    tables: dict[tuple[str, str], Table] = field(default_factory=dict)

    def table(self, family: str, name: str) -> Table:
        try:
            return self.tables[(family, name)]
        except KeyError:
            raise NftError(f"Error: No such file or directory; table {family} {name}") from None

"""A per-chain index that finds the rules which can match a packet without testing them all.

The kernel walks a chain rule by rule; kube-proxy's KUBE-SERVICES holds one rule per Service
port, so a trace through 10,000 Services would test ~10,000 rules in Python. The index keys
each rule on (destination /32, protocol, destination port) when its leading matches pin them
down, and answers "which positions are candidates for this packet" from a few dict lookups;
rules without such a key are always candidates.

Skipping a rule is only sound if testing it could have had no effect. Matches run left to
right and stop at the first failure, so a key is taken only from the *side-effect-free*
prefix of a rule's matches: once a stateful match appears (`statistic` nth counters,
`recent`, `limit`, ...) the rest of the rule yields no key. The engine still reports the
linear rule count (how many rules the kernel evaluates), which does not depend on the index.

The index is built lazily the first time a chain is walked and rebuilt whenever the chain's
rule list differs from the snapshot it was built from.
"""

from __future__ import annotations

import heapq
import weakref

from app.sim.netfilter.model import Chain, Rule
from app.sim.packet import Packet

# Chains shorter than this are walked directly: the dict lookups would cost more.
INDEX_MIN_RULES = 8
# Modules whose match has no side effect (only reads the packet, conntrack or sets).
PURE_MODULES = frozenset(
    {
        "tcp",
        "udp",
        "comment",
        "addrtype",
        "mark",
        "conntrack",
        "state",
        "multiport",
        "set",
        "mac",
        "physdev",
        "connmark",
        "owner",
        "icmp",
        "iprange",
        "length",
        "tos",
        "ttl",
        "pkttype",
        "dscp",
    }
)
_DST_OPTIONS = {"-d", "--destination", "--dst"}
_DPORT_OPTIONS = {"--dport", "--destination-port"}

Key = tuple[str | None, str | None, int | None]


def rule_key(rule: Rule) -> Key:
    """(dst, proto, dport) pinned by the rule's side-effect-free leading matches; None
    where a part is not pinned (a range, a negation, a wider prefix, or not tested)."""
    dst: str | None = None
    proto: str | None = None
    dport: int | None = None
    for match in rule.matches:
        args = match.save_args()
        module = args[1] if len(args) > 1 and args[0] == "-m" else None
        if module is not None and module not in PURE_MODULES:
            break
        for option, value in _positive_options(args):
            if option in _DST_OPTIONS and (value.endswith("/32") or "/" not in value):
                dst = value.split("/", 1)[0]
            elif option in ("-p", "--protocol") and value in ("tcp", "udp"):
                proto = value
            elif option in _DPORT_OPTIONS and module in (None, "tcp", "udp") and value.isdigit():
                dport = int(value)
    return dst, proto, dport


def _positive_options(args: list[str]) -> list[tuple[str, str]]:
    """(option, value) pairs not negated with `!` (iptables-save puts `!` before the option)."""
    pairs = []
    negated = False
    i = 0
    while i < len(args):
        token = args[i]
        if token == "!":
            negated = True
        elif token.startswith("-") and i + 1 < len(args):
            if not negated:
                pairs.append((token, args[i + 1]))
            negated = False
            i += 1
        i += 1
    return pairs


class ChainIndex:
    """Buckets of rule positions by key, plus the key shapes that occur in the chain."""

    def __init__(self, rules: list[Rule]) -> None:
        self.snapshot = list(rules)
        self.buckets: dict[Key, list[int]] = {}
        for position, rule in enumerate(rules):
            self.buckets.setdefault(rule_key(rule), []).append(position)
        self.shapes = {tuple(part is not None for part in key) for key in self.buckets}
        self._memo: dict[Key, list[int]] = {}

    def candidates(self, packet: Packet) -> list[int]:
        """Positions (0-based, ascending) of the rules that may match `packet`."""
        wanted = (packet.dst, packet.proto, packet.dport)
        found = self._memo.get(wanted)
        if found is None:
            lists = []
            for shape in self.shapes:
                key = tuple(v if on else None for v, on in zip(wanted, shape, strict=True))
                bucket = self.buckets.get(key)  # type: ignore[arg-type]
                if bucket:
                    lists.append(bucket)
            found = lists[0] if len(lists) == 1 else list(heapq.merge(*lists))
            if len(self._memo) > 256:  # bounded: a trace asks for a handful of keys
                self._memo.clear()
            self._memo[wanted] = found
        return found


_INDEXES: dict[int, tuple[weakref.ref[Chain], ChainIndex]] = {}


def chain_index(chain: Chain) -> ChainIndex | None:
    """The chain's index (built or rebuilt if the rules changed), or None for short chains.

    `snapshot == chain.rules` compares the Rule objects by identity first, so an unchanged
    chain of 10,000 rules is checked in well under a millisecond; any insert, delete or
    replace of a rule makes the lists differ and the index is rebuilt.
    """
    if len(chain.rules) < INDEX_MIN_RULES:
        return None
    key = id(chain)
    entry = _INDEXES.get(key)
    if entry is not None and entry[0]() is chain and entry[1].snapshot == chain.rules:
        return entry[1]
    index = ChainIndex(chain.rules)
    _INDEXES[key] = (weakref.ref(chain, lambda _ref, k=key: _INDEXES.pop(k, None)), index)
    return index

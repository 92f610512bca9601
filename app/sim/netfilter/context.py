"""What a match or a target may see and change while the engine evaluates one rule.

This is the seam between the rule modules (`matches.py`, `targets.py`: syntax *and* meaning of
each iptables extension) and the traversal engine (`engine.py`: hooks, routing, conntrack).
The engine builds one `MatchContext` per packet per hook and hands it to every rule it walks;
matches read it, targets return a `TargetResult` and may change the mutable fields
(`packet` for MARK, `ctmark`, `notrack`, `log`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from app.sim.packet import Packet


class Verdict(str, Enum):
    """What a rule's target tells the engine to do next (the trace's `verdict` spelling)."""

    ACCEPT = "ACCEPT"
    DROP = "DROP"
    REJECT = "REJECT"
    RETURN = "RETURN"
    CONTINUE = "CONTINUE"  # non-terminating target (MARK, LOG, ...) or no target at all
    JUMP = "JUMP"
    GOTO = "GOTO"
    DNAT = "DNAT"
    SNAT = "SNAT"
    MASQUERADE = "MASQUERADE"
    REDIRECT = "REDIRECT"


@dataclass(frozen=True)
class NatRange:
    """A NAT target's translation, as `--to-destination`/`--to-source`/`--to-ports` give it.

    Addresses `None` mean "keep" (REDIRECT/MASQUERADE choose the address themselves);
    ports `None` mean "keep the original port unless it clashes".
    """

    min_ip: str | None = None
    max_ip: str | None = None
    min_port: int | None = None
    max_port: int | None = None
    random: bool = False
    random_fully: bool = False
    persistent: bool = False


@dataclass(frozen=True)
class TargetResult:
    """A target's decision. `chain` is set for JUMP/GOTO, `nat` for the NAT verdicts,
    `reject_with` for REJECT (e.g. `icmp-port-unreachable`, `tcp-reset`)."""

    verdict: Verdict
    chain: str | None = None
    nat: NatRange | None = None
    reject_with: str | None = None


class AddrType(str, Enum):
    """Address types of `-m addrtype` (iptables-extensions(8), addrtype)."""

    UNSPEC = "UNSPEC"
    UNICAST = "UNICAST"
    LOCAL = "LOCAL"
    BROADCAST = "BROADCAST"
    ANYCAST = "ANYCAST"
    MULTICAST = "MULTICAST"
    BLACKHOLE = "BLACKHOLE"
    UNREACHABLE = "UNREACHABLE"
    PROHIBIT = "PROHIBIT"
    THROW = "THROW"
    NAT = "NAT"
    XRESOLVE = "XRESOLVE"


@dataclass
class RecentEntry:
    """One address in a `-m recent` list: its timestamps, newest last (xt_recent.c)."""

    address: str
    stamps: list[float] = field(default_factory=list)
    last_seen: float = 0.0


@dataclass
class MatchContext:
    """Everything one rule evaluation can read, plus the few things a target may change.

    * `packet` is the packet as it stands at this point (after earlier NAT and MARK).
    * `ctstate` is one of NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED;
      `ctstatus` holds conntrack status words such as DNAT, SNAT, CONFIRMED, ASSURED.
    * `addrtype(ip, iface)` answers `-m addrtype` from the node's addresses; `iface`
      limits the lookup to one interface (`--limit-iface-in/out`).
    * `chance(p)` is the only source of randomness: the engine either draws from its seeded
      `random.Random` or, when exploring all branches, forces the outcome.
    * `clock` is the logical time in seconds (conntrack timeouts, `-m recent --seconds`).
    * `recent` maps a list name to its entries; `ipsets` maps a set name to its members
      (each member a tuple such as `("10.0.0.1", "tcp", 80)` or `("10.0.0.0/8",)`).
    * `rule_state` is per-rule private state kept across packets, keyed by `Rule.uid`
      (the `-m statistic --mode nth` counter).
    """

    packet: Packet
    hook: str
    table: str
    in_iface: str | None
    out_iface: str | None
    addrtype: Callable[[str, str | None], AddrType]
    chance: Callable[[float], bool]
    ctstate: str = "NEW"
    ctstatus: frozenset[str] = frozenset()
    ctmark: int = 0
    clock: float = 0.0
    recent: dict[str, dict[str, RecentEntry]] = field(default_factory=dict)
    ipsets: dict[str, set[tuple[Any, ...]]] = field(default_factory=dict)
    rule_state: dict[int, Any] = field(default_factory=dict)
    notrack: bool = False
    log: list[str] = field(default_factory=list)
    rule_uid: int = 0  # the uid of the rule being evaluated (set by the engine)


def ip_in(ip: str, network: str) -> bool:
    """True when `ip` lies in `network` (a CIDR or a bare address)."""
    return ipaddress.ip_address(ip) in ipaddress.ip_network(network, strict=False)

"""Stateful matches: conntrack, state, statistic, recent, set, nfacct.

Semantics follow the kernel (xt_conntrack.c, xt_statistic.c, xt_recent.c, xt_set.c) as
summarised in kernel-facts §5.5-5.6: randomness only through `ctx.chance`, time only through
`ctx.clock`, per-rule counters in `ctx.rule_state[ctx.rule_uid]`.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import ClassVar

from app.sim.netfilter.context import MatchContext, RecentEntry, ip_in
from app.sim.netfilter.errors import ext_param, param
from app.sim.netfilter.match_basic import OptionOnce
from app.sim.netfilter.model import Match, RuleInfo
from app.sim.netfilter.values import parse_ipv4, save_string

# Print order of conntrack states and status bits (libxt_conntrack.c).
CT_STATES = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT")
CT_STATUS = ("NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED")


def _parse_words(text: str, allowed: tuple[str, ...], what: str) -> frozenset[str]:
    words = set()
    for word in text.split(","):
        if word not in allowed:
            raise param(f'Bad {what} "{word}"')
        words.add(word)
    return frozenset(words)


def _ordered(words: frozenset[str], order: tuple[str, ...]) -> str:
    return ",".join(w for w in order if w in words)


def _state_hit(ctx: MatchContext, states: frozenset[str]) -> bool:
    """The packet's conntrack state is in `states`; SNAT/DNAT are the NAT status bits."""
    if ctx.ctstate in states:
        return True
    return any(s in states and s in ctx.ctstatus for s in ("SNAT", "DNAT"))


@dataclass
class ConntrackMatch(Match, OptionOnce):
    """`-m conntrack [!] --ctstate LIST [!] --ctstatus LIST`."""

    states: frozenset[str] | None = None
    states_inverted: bool = False
    status: frozenset[str] | None = None
    status_inverted: bool = False
    seen: set[str] = field(default_factory=set, repr=False, compare=False)
    name: ClassVar[str] = "conntrack"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {
        "--ctstate": ("ctstate", 1),
        "--ctstatus": ("ctstatus", 1),
    }

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        self._once(self.seen, option)
        if option == "ctstate":
            self.states = _parse_words(args[0], CT_STATES, "ctstate")
            self.states_inverted = inverted
        else:
            self.status = _parse_words(args[0], CT_STATUS, "ctstatus")
            self.status_inverted = inverted

    def finish(self, info: RuleInfo) -> None:
        if not self.seen:
            raise param("conntrack: At least one option is required")

    def matches(self, ctx: MatchContext) -> bool:
        if self.states is not None and _state_hit(ctx, self.states) == self.states_inverted:
            return False
        if self.status is not None:
            hit = any(word in ctx.ctstatus for word in self.status)
            if hit == self.status_inverted:
                return False
        return True

    def save_args(self) -> list[str]:
        args = ["-m", "conntrack"]
        if self.states is not None:
            args += ["!"] * self.states_inverted + ["--ctstate", _ordered(self.states, CT_STATES)]
        if self.status is not None:
            args += ["!"] * self.status_inverted
            args += ["--ctstatus", _ordered(self.status, CT_STATUS)]
        return args

    def list_text(self, numeric: bool = True) -> str:
        parts = []
        if self.states is not None:
            bang = "! " if self.states_inverted else ""
            parts.append(f"{bang}ctstate {_ordered(self.states, CT_STATES)}")
        if self.status is not None:
            bang = "! " if self.status_inverted else ""
            parts.append(f"{bang}ctstatus {_ordered(self.status, CT_STATUS)}")
        return " ".join(parts)


@dataclass
class StateMatch(Match):
    """`-m state [!] --state LIST`: the older spelling of conntrack --ctstate."""

    states: frozenset[str] | None = None
    inverted: bool = False
    name: ClassVar[str] = "state"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {"--state": ("state", 1)}

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if self.states is not None:
            raise ext_param('state: option "--state" can only be used once.')
        self.states = _parse_words(args[0], CT_STATES[:5], "state")
        self.inverted = inverted

    def finish(self, info: RuleInfo) -> None:
        if self.states is None:
            raise ext_param('state: option "--state" must be specified')

    def matches(self, ctx: MatchContext) -> bool:
        return (ctx.ctstate in (self.states or ())) != self.inverted

    def save_args(self) -> list[str]:
        return ["-m", "state", *["!"] * self.inverted, "--state", self._text()]

    def _text(self) -> str:
        return _ordered(self.states or frozenset(), CT_STATES)

    def list_text(self, numeric: bool = True) -> str:
        return ("! " if self.inverted else "") + "state " + self._text()


@dataclass
class StatisticMatch(Match, OptionOnce):
    """`-m statistic --mode random --probability p | --mode nth --every n [--packet p]`."""

    mode: str | None = None
    probability: int = 0  # P = lround(p * 2^31); match when rand31 < P
    every: int = 0  # stored as n - 1, as the kernel keeps it
    packet: int = 0
    inverted: bool = False
    seen: set[str] = field(default_factory=set, repr=False, compare=False)
    name: ClassVar[str] = "statistic"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {
        "--mode": ("mode", 1),
        "--probability": ("probability", 1),
        "--every": ("every", 1),
        "--packet": ("packet", 1),
    }

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        self._once(self.seen, option)
        if inverted and option in ("mode", "packet"):
            raise ext_param(f'statistic: option "--{option}" cannot be inverted.')
        self.inverted = self.inverted or inverted
        if option == "mode":
            if args[0] not in ("random", "nth"):
                raise param(f'Bad mode "{args[0]}"')
            self.mode = args[0]
        elif option == "probability":
            self.probability = _parse_probability(args[0])
        elif option == "every":
            self.every = _ranged(args[0], "statistic", "every", 1) - 1
        else:
            self.packet = _ranged(args[0], "statistic", "packet", 0)

    def finish(self, info: RuleInfo) -> None:
        if self.mode is None:
            raise ext_param('statistic: option "--mode" must be specified')
        for first, second in (("probability", "every"), ("probability", "packet")):
            if first in self.seen and second in self.seen:
                raise ext_param(
                    f'statistic: option "--{first}" cannot be used together with "--{second}".'
                )
        if "every" in self.seen and "packet" not in self.seen:
            raise ext_param('statistic: option "--every" also requires "--packet".')
        if self.mode == "random" and "probability" not in self.seen:
            raise param("--probability must be specified when using random mode")
        if self.packet > self.every:  # checked first: an unset --every counts as 1
            raise param("the --packet p must be 0 <= p <= n-1")
        if self.mode == "nth" and "every" not in self.seen:
            raise param("--every and --packet must be specified when using nth mode")

    def matches(self, ctx: MatchContext) -> bool:
        if self.mode == "random":
            hit = ctx.chance(self.probability / 2**31)
        else:
            # xt_statistic.c: count = (count == every) ? 0 : count + 1; match at 0.
            count = ctx.rule_state.get(ctx.rule_uid, self.every - self.packet)
            count = 0 if count == self.every else count + 1
            ctx.rule_state[ctx.rule_uid] = count
            hit = count == 0
        return hit != self.inverted

    def save_args(self) -> list[str]:
        bang = ["!"] * self.inverted
        if self.mode == "random":
            return ["-m", "statistic", "--mode", "random", *bang, "--probability", self._p()]
        return ["-m", "statistic", "--mode", "nth", *bang, "--every", str(self.every + 1),
                "--packet", str(self.packet)]  # fmt: skip

    def _p(self) -> str:
        return f"{self.probability / 2**31:.11f}"

    def list_text(self, numeric: bool = True) -> str:
        bang = " !" if self.inverted else ""
        if self.mode == "random":
            return f"statistic mode random{bang} probability {self._p()}"
        text = f"statistic mode nth{bang} every {self.every + 1}"
        return text + (f" packet {self.packet}" if self.packet else "")


def _ranged(text: str, module: str, option: str, low: int) -> int:
    """An XTTYPE_UINT32 option with a lower bound, worded as libxtables words it."""
    value = int(text) if text.isdigit() else -1
    if not low <= value <= 0xFFFFFFFF:
        raise ext_param(
            f'{module}: bad value for option "--{option}", or out of range ({low}-4294967295).'
        )
    return value


def _parse_probability(text: str) -> int:
    """iptables reads a double in [0, 1] and stores lround(p * 2^31) (libxt_statistic.c)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise ext_param('statistic: bad value for option "--probability", or out of range (0-1).')
    return math.floor(value * 2**31 + 0.5)  # lround: half away from zero


# xt_recent.c module parameters: timestamps kept per address, addresses per list.
RECENT_PKT_LIST_TOT = 20
RECENT_LIST_TOT = 100
_RECENT_ACTIONS = ("set", "rcheck", "update", "remove")
_ALL_ONES = ipaddress.IPv4Address("255.255.255.255")


@dataclass
class RecentMatch(Match, OptionOnce):
    """`-m recent` (xt_recent.c): per-name lists of recently seen addresses."""

    action: str | None = None
    inverted: bool = False
    list_name: str = "DEFAULT"
    seconds: int = 0
    hitcount: int = 0
    reap: bool = False
    rdest: bool = False
    mask: ipaddress.IPv4Address = _ALL_ONES
    seen: set[str] = field(default_factory=set, repr=False, compare=False)
    name: ClassVar[str] = "recent"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {
        **{f"--{a}": (a, 0) for a in _RECENT_ACTIONS},
        "--name": ("name", 1),
        "--seconds": ("seconds", 1),
        "--hitcount": ("hitcount", 1),
        "--reap": ("reap", 0),
        "--rsource": ("rsource", 0),
        "--rdest": ("rdest", 0),
        "--mask": ("mask", 1),
    }

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        self._once(self.seen, option)
        if option in _RECENT_ACTIONS:
            if self.action is not None:
                first, second = sorted((self.action, option), key=_RECENT_ACTIONS.index)
                raise ext_param(
                    f'recent: option "--{first}" cannot be used together with "--{second}".'
                )
            self.action, self.inverted = option, inverted
        elif inverted:
            raise ext_param(f'recent: option "--{option}" cannot be inverted.')
        elif option == "name":
            self.list_name = args[0]
        elif option in ("seconds", "hitcount"):
            setattr(self, option, _ranged(args[0], "recent", option, 1))
        elif option == "reap":
            self.reap = True
        elif option in ("rsource", "rdest"):
            self.rdest = option == "rdest"
        else:
            self.mask = parse_ipv4(args[0])

    def finish(self, info: RuleInfo) -> None:
        if self.action is None:
            raise param(
                "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'"
            )
        if self.reap and not self.seconds:
            raise ext_param('recent: option "--reap" also requires "--seconds".')

    def kernel_accepts(self, info: RuleInfo, table: str, hooks: frozenset[str]) -> bool:
        # xt_recent.c refuses a hitcount above ip_pkt_list_tot.
        return self.hitcount <= RECENT_PKT_LIST_TOT

    def matches(self, ctx: MatchContext) -> bool:
        ip = ctx.packet.dst if self.rdest else ctx.packet.src
        key = str(ipaddress.IPv4Address(int(ipaddress.IPv4Address(ip)) & int(self.mask)))
        table = ctx.recent.setdefault(self.list_name, {})
        entry = table.get(key)
        if entry is None:
            if self.action != "set":
                return self.inverted
            if len(table) >= RECENT_LIST_TOT:
                del table[next(iter(table))]  # evict the least recently updated
            table[key] = RecentEntry(key, [ctx.clock], ctx.clock)
            return not self.inverted
        return self._existing(ctx, table, entry)

    def _existing(
        self, ctx: MatchContext, table: dict[str, RecentEntry], entry: RecentEntry
    ) -> bool:
        hit = self.inverted
        if self.action in ("set", "remove"):
            hit = not hit
            if self.action == "remove":
                del table[entry.address]
                return hit
        else:
            horizon = ctx.clock - self.seconds
            fresh = [s for s in entry.stamps if not self.seconds or s >= horizon]
            if fresh and len(fresh) >= max(self.hitcount, 1):
                hit = not hit
            if self.reap:
                _reap(table, horizon, entry)
        if self.action == "set" or (self.action == "update" and hit):
            entry.stamps = [*entry.stamps, ctx.clock][-RECENT_PKT_LIST_TOT:]
            entry.last_seen = ctx.clock
            table[entry.address] = table.pop(entry.address)  # move to the LRU tail
        return hit

    def save_args(self) -> list[str]:
        args = ["-m", "recent", *["!"] * self.inverted, f"--{self.action}"]
        args += ["--seconds", str(self.seconds)] if self.seconds else []
        args += ["--reap"] if self.reap else []
        args += ["--hitcount", str(self.hitcount)] if self.hitcount else []
        args += ["--name", self.list_name, "--mask", str(self.mask)]
        return [*args, "--rdest" if self.rdest else "--rsource"]

    def list_text(self, numeric: bool = True) -> str:
        word = {"set": "SET", "rcheck": "CHECK", "update": "UPDATE", "remove": "REMOVE"}
        text = ("! " if self.inverted else "") + "recent: " + word[self.action or "set"]
        text += f" seconds: {self.seconds}" if self.seconds else ""
        text += " reap" if self.reap else ""
        text += f" hit_count: {self.hitcount}" if self.hitcount else ""
        side = "dest" if self.rdest else "source"
        return text + f" name: {self.list_name} side: {side} mask: {self.mask}"


def _reap(table: dict[str, RecentEntry], horizon: float, working: RecentEntry) -> None:
    """recent_entry_reap(): drop the least recently updated entry if it is stale."""
    oldest = next(iter(table.values()))
    if oldest is not working and oldest.stamps[-1] < horizon:
        del table[oldest.address]


@dataclass
class SetMatch(Match):
    """`-m set [!] --match-set NAME FLAGS` (xt_set.c): look the packet up in an ipset."""

    set_name: str = ""
    flags: tuple[str, ...] = ()
    inverted: bool = False
    name: ClassVar[str] = "set"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {"--match-set": ("match-set", 2)}

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if self.set_name:
            raise param("--match-set can be specified only once")
        words = tuple(args[1].split(","))
        if not all(word in ("src", "dst") for word in words) or len(words) > 6:
            raise param("You must specify (the comma separated list of) 'src' or 'dst'.")
        self.set_name, self.flags, self.inverted = args[0], words, inverted

    def finish(self, info: RuleInfo) -> None:
        if not self.set_name:
            raise param("You must specify `--match-set' with proper arguments")

    def matches(self, ctx: MatchContext) -> bool:
        members = ctx.ipsets.get(self.set_name, set())
        return any(self._member_hit(ctx, m) for m in members) != self.inverted

    def _member_hit(self, ctx: MatchContext, member: tuple[object, ...]) -> bool:
        pkt = ctx.packet

        def ip(i: int) -> str:
            return pkt.src if self.flags[min(i, len(self.flags) - 1)] == "src" else pkt.dst

        if not member or not ip_in(ip(0), str(member[0])):
            return False
        if len(member) >= 3:
            port = pkt.sport if self.flags[min(1, len(self.flags) - 1)] == "src" else pkt.dport
            if member[1] != pkt.proto or member[2] != port:
                return False
        return len(member) < 4 or ip_in(ip(2), str(member[3]))

    def save_args(self) -> list[str]:
        bang = ["!"] * self.inverted
        return ["-m", "set", *bang, "--match-set", self.set_name, ",".join(self.flags)]

    def list_text(self, numeric: bool = True) -> str:
        bang = "! " if self.inverted else ""
        return f"{bang}match-set {self.set_name} {','.join(self.flags)}"


@dataclass
class NfacctMatch(Match):
    """`-m nfacct --nfacct-name NAME`: counts into an accounting object, always matches."""

    object_name: str | None = None
    name: ClassVar[str] = "nfacct"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {"--nfacct-name": ("nfacct-name", 1)}

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if self.object_name is not None:
            raise ext_param('nfacct: option "--nfacct-name" can only be used once.')
        self.object_name = args[0]

    def finish(self, info: RuleInfo) -> None:
        if self.object_name is None:
            raise ext_param('nfacct: option "--nfacct-name" must be specified')

    def matches(self, ctx: MatchContext) -> bool:
        return True

    def save_args(self) -> list[str]:
        # libxt_nfacct.c prints "--nfacct-name " and then xtables_save_string(), which adds
        # its own leading space: iptables shows two spaces before the name.
        return ["-m", "nfacct", "--nfacct-name", " " + save_string(self.object_name or "")]

    def list_text(self, numeric: bool = True) -> str:
        return "nfacct-name  " + save_string(self.object_name or "")

"""The builtin rule parts (`-s -d -i -o -p`) and the simple `-m` modules: comment, mark,
addrtype. Each class reads its options, prints itself as iptables 1.8.9 does and decides
about a packet (iptables(8), iptables-extensions(8)).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from typing import ClassVar

from app.sim.netfilter.context import AddrType, MatchContext
from app.sim.netfilter.errors import ext_param, param
from app.sim.netfilter.model import Match, RuleInfo
from app.sim.netfilter.values import (
    PROTO_NUMBERS,
    format_network,
    parse_mark,
    proto_name,
    save_string,
    wildcard_iface,
)

# A packet's addresses are parsed once: a bulk request tests the same few thousands of times.
_address = functools.lru_cache(maxsize=4096)(ipaddress.IPv4Address)


def _bang(inverted: bool) -> list[str]:
    return ["!"] if inverted else []


class OptionOnce:
    """libxtables' rule that an option may be given once per module (xtables_option_parse)."""

    def _once(self, seen: set[str], option: str) -> None:
        if option in seen:
            raise ext_param(f'{self.name}: option "--{option}" can only be used once.')  # type: ignore[attr-defined]
        seen.add(option)


@dataclass
class AddressMatch(Match):
    """`-s` or `-d`: the packet's source or destination lies in `network`."""

    flag: str
    network: ipaddress.IPv4Network
    inverted: bool = False
    builtin: ClassVar[bool] = True

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.flag

    def kernel_accepts(self, info: RuleInfo, table: str, hooks: frozenset[str]) -> bool:
        # "! -s 0.0.0.0/0" becomes an nf_tables compare under an all-zero mask, which the
        # kernel refuses (EINVAL); iptables passes it on unchanged.
        return not (self.inverted and self.network.prefixlen == 0)

    def matches(self, ctx: MatchContext) -> bool:
        ip = ctx.packet.src if self.flag == "-s" else ctx.packet.dst
        return (_address(ip) in self.network) != self.inverted

    def save_args(self) -> list[str]:
        return [*_bang(self.inverted), self.flag, format_network(self.network)]


@dataclass
class InterfaceMatch(Match):
    """`-i` or `-o`: the packet's input or output interface; a trailing `+` is a wildcard."""

    flag: str
    iface: str
    inverted: bool = False
    builtin: ClassVar[bool] = True

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.flag

    def matches(self, ctx: MatchContext) -> bool:
        actual = ctx.in_iface if self.flag == "-i" else ctx.out_iface
        return wildcard_iface(self.iface, actual) != self.inverted

    def save_args(self) -> list[str]:
        return [*_bang(self.inverted), self.flag, self.iface]


@dataclass
class ProtocolMatch(Match):
    """`-p`: the layer-4 protocol by number (6 tcp, 17 udp); 0 means any."""

    proto: int
    inverted: bool = False
    name: ClassVar[str] = "-p"  # type: ignore[misc]
    builtin: ClassVar[bool] = True

    def matches(self, ctx: MatchContext) -> bool:
        actual = PROTO_NUMBERS.get(ctx.packet.proto, -1)
        return (self.proto == 0 or actual == self.proto) != self.inverted

    def save_args(self) -> list[str]:
        return [*_bang(self.inverted), "-p", proto_name(self.proto)]


# The save order of the builtin parts (nft_ipv4_save_rule: -s -d -i -o -p).
BUILTIN_ORDER = {"-s": 0, "-d": 1, "-i": 2, "-o": 3, "-p": 4}


@dataclass
class CommentMatch(Match):
    """`-m comment --comment TEXT`: always matches; the text is for humans."""

    comment: str | None = None
    name: ClassVar[str] = "comment"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {"--comment": ("comment", 1)}

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if self.comment is not None:
            raise ext_param('comment: option "--comment" can only be used once.')
        if inverted:
            raise ext_param('comment: option "--comment" cannot be inverted.')
        if len(args[0]) > 255:
            raise ext_param('comment: option "--comment" must be less than 256 characters.')
        self.comment = args[0]

    def finish(self, info: RuleInfo) -> None:
        if self.comment is None:
            raise ext_param('comment: option "--comment" must be specified')

    def matches(self, ctx: MatchContext) -> bool:
        return True

    def save_args(self) -> list[str]:
        return ["-m", "comment", "--comment", save_string(self.comment or "")]

    def list_text(self, numeric: bool = True) -> str:
        return f"/* {self.comment} */"


@dataclass
class MarkMatch(Match):
    """`-m mark --mark value[/mask]`: (nfmark & mask) == value (xt_mark.c)."""

    value: int | None = None
    mask: int = 0xFFFFFFFF
    inverted: bool = False
    name: ClassVar[str] = "mark"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {"--mark": ("mark", 1)}

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if self.value is not None:
            raise ext_param('mark: option "--mark" can only be used once.')
        self.value, self.mask = parse_mark(args[0], "mark", "--mark")
        self.inverted = inverted

    def finish(self, info: RuleInfo) -> None:
        if self.value is None:
            raise ext_param('mark: option "--mark" must be specified')

    def matches(self, ctx: MatchContext) -> bool:
        return ((ctx.packet.mark & self.mask) == self.value) != self.inverted

    def _text(self) -> str:
        if self.mask == 0xFFFFFFFF:
            return f"{self.value:#x}"
        return f"{self.value:#x}/{self.mask:#x}"

    def save_args(self) -> list[str]:
        return ["-m", "mark", *_bang(self.inverted), "--mark", self._text()]

    def list_text(self, numeric: bool = True) -> str:
        return "mark match " + ("! " if self.inverted else "") + self._text()


def _parse_types(text: str) -> frozenset[AddrType]:
    types = set()
    for word in text.split(","):
        try:
            types.add(AddrType(word.upper()))
        except ValueError:
            raise param(f'addrtype: bad type "{word}"') from None
    return frozenset(types)


def _type_text(types: frozenset[AddrType]) -> str:
    return ",".join(t.value for t in AddrType if t in types)


@dataclass
class AddrtypeMatch(Match, OptionOnce):
    """`-m addrtype --src-type/--dst-type TYPES [--limit-iface-in|out]` (xt_addrtype.c):
    the kernel looks the address up in the routing tables and compares its type."""

    src_types: frozenset[AddrType] = frozenset()
    dst_types: frozenset[AddrType] = frozenset()
    src_inverted: bool = False
    dst_inverted: bool = False
    limit_in: bool = False
    limit_out: bool = False
    seen: set[str] = field(default_factory=set, repr=False, compare=False)
    name: ClassVar[str] = "addrtype"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {
        "--src-type": ("src-type", 1),
        "--dst-type": ("dst-type", 1),
        "--limit-iface-in": ("limit-iface-in", 0),
        "--limit-iface-out": ("limit-iface-out", 0),
    }

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        self._once(self.seen, option)
        if option == "src-type":
            self.src_types, self.src_inverted = _parse_types(args[0]), inverted
        elif option == "dst-type":
            self.dst_types, self.dst_inverted = _parse_types(args[0]), inverted
        elif option == "limit-iface-in":
            self.limit_in = True
        else:
            self.limit_out = True

    def finish(self, info: RuleInfo) -> None:
        if self.limit_in and self.limit_out:
            raise ext_param(
                'addrtype: option "--limit-iface-in" cannot be used together with '
                '"--limit-iface-out".'
            )
        if not self.src_types and not self.dst_types:
            raise param("addrtype: you must specify --src-type or --dst-type")

    def kernel_accepts(self, info: RuleInfo, table: str, hooks: frozenset[str]) -> bool:
        # xt_addrtype.c addrtype_mt_checkentry_v1: no input interface on the way out, and
        # no output interface before routing.
        if self.limit_in and hooks & {"OUTPUT", "POSTROUTING"}:
            return False
        return not (self.limit_out and hooks & {"PREROUTING", "INPUT"})

    def matches(self, ctx: MatchContext) -> bool:
        iface = ctx.in_iface if self.limit_in else ctx.out_iface if self.limit_out else None
        if self.src_types:
            found = ctx.addrtype(ctx.packet.src, iface) in self.src_types
            if found == self.src_inverted:
                return False
        if self.dst_types:
            found = ctx.addrtype(ctx.packet.dst, iface) in self.dst_types
            if found == self.dst_inverted:
                return False
        return True

    def save_args(self) -> list[str]:
        args = ["-m", "addrtype"]
        if self.src_types:
            args += [*_bang(self.src_inverted), "--src-type", _type_text(self.src_types)]
        if self.dst_types:
            args += [*_bang(self.dst_inverted), "--dst-type", _type_text(self.dst_types)]
        if self.limit_in:
            args.append("--limit-iface-in")
        if self.limit_out:
            args.append("--limit-iface-out")
        return args

    def list_text(self, numeric: bool = True) -> str:
        parts = ["ADDRTYPE match"]
        if self.src_types:
            parts.append(
                "src-type " + ("!" if self.src_inverted else "") + _type_text(self.src_types)
            )
        if self.dst_types:
            parts.append(
                "dst-type " + ("!" if self.dst_inverted else "") + _type_text(self.dst_types)
            )
        if self.limit_in:
            parts.append("limit-in")
        if self.limit_out:
            parts.append("limit-out")
        return " ".join(parts)

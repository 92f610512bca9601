"""Layer-4 matches: `-m tcp`, `-m udp` and `-m multiport` (iptables-extensions(8); kernel
xt_tcpudp.c, xt_multiport.c). Port ranges are inclusive; `!` inverts one option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from app.sim.netfilter.context import MatchContext
from app.sim.netfilter.errors import IptablesError, ext_param, param
from app.sim.netfilter.model import Match, RuleInfo
from app.sim.netfilter.values import PROTO_NAMES, SERVICE_NAMES, parse_port, parse_port_range

# libxt_tcp.c tcp_flag_names, in print order; ALL and NONE are parse-only shorthands.
TCP_FLAGS: dict[str, int] = {
    "FIN": 0x01,
    "SYN": 0x02,
    "RST": 0x04,
    "PSH": 0x08,
    "ACK": 0x10,
    "URG": 0x20,
}
_FLAG_WORDS = {**TCP_FLAGS, "ALL": 0x3F, "NONE": 0}
SYN_MASK = 0x17  # --syn is --tcp-flags FIN,SYN,RST,ACK SYN


def _parse_flags(text: str) -> int:
    bits = 0
    for word in text.split(","):
        if word.upper() not in _FLAG_WORDS:
            raise param(f"Unknown TCP flag `{word}'")
        bits |= _FLAG_WORDS[word.upper()]
    return bits


def flags_text(bits: int) -> str:
    """Flag names joined by commas, NONE for none (print_tcpf)."""
    names = [name for name, bit in TCP_FLAGS.items() if bits & bit]
    return ",".join(names) if names else "NONE"


def _range_save(ports: tuple[int, int]) -> str:
    return str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}:{ports[1]}"


def _port_name(port: int, proto: str | None) -> str:
    """A port as `iptables -L` shows it: a service name of `proto` (getservbyport), or the
    number with `-n` (proto None)."""
    return SERVICE_NAMES.get((port, proto or ""), str(port))


def _range_list(label: str, ports: tuple[int, int], inverted: bool, proto: str | None) -> str:
    """print_ports(): `dpt:80`, `dpts:!1000:2000`; nothing for the full range."""
    if ports == (0, 65535) and not inverted:
        return ""
    bang = "!" if inverted else ""
    first, last = _port_name(ports[0], proto), _port_name(ports[1], proto)
    if ports[0] == ports[1]:
        return f" {label}:{bang}{first}"
    return f" {label}s:{bang}{first}:{last}"


@dataclass
class PortMatch(Match):
    """`-m tcp` / `-m udp`: source and destination port ranges (and TCP flags)."""

    sport: tuple[int, int] | None = None
    dport: tuple[int, int] | None = None
    sport_inverted: bool = False
    dport_inverted: bool = False
    proto: ClassVar[int] = 6

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        current = self.sport if option == "source-port" else self.dport
        if current is not None:
            raise self._twice(option)
        if option == "source-port":
            self.sport, self.sport_inverted = parse_port_range(args[0]), inverted
        elif option == "destination-port":
            self.dport, self.dport_inverted = parse_port_range(args[0]), inverted

    def _twice(self, option: str) -> IptablesError:
        """libxt_tcp words a repeated option itself; libxt_udp leaves it to libxtables."""
        if self.name == "tcp":
            return param(f"Only one `--{option}' allowed")
        return ext_param(f'{self.name}: option "--{option}" can only be used once.')

    def finish(self, info: RuleInfo) -> None:
        if info.proto != self.proto or info.proto_inverted:
            label = self.name.upper()
            raise param(f"{label} match requires '-p {self.name}'")

    def _ports_match(self, ctx: MatchContext) -> bool:
        if ctx.packet.proto != self.name:
            return False
        for ports, inverted, value in (
            (self.sport, self.sport_inverted, ctx.packet.sport),
            (self.dport, self.dport_inverted, ctx.packet.dport),
        ):
            if ports is not None and (ports[0] <= value <= ports[1]) == inverted:
                return False
        return True

    def _ports_save(self) -> list[str]:
        args: list[str] = []
        for flag, ports, inverted in (
            ("--sport", self.sport, self.sport_inverted),
            ("--dport", self.dport, self.dport_inverted),
        ):
            # libxt_tcp/udp save nothing for the full range 0:65535 (uninverted)
            if ports is not None and (ports != (0, 65535) or inverted):
                args += ["!"] * inverted + [flag, _range_save(ports)]
        return args

    def _ports_list(self, numeric: bool) -> str:
        text, proto = self.name, None if numeric else self.name
        if self.sport is not None:
            text += _range_list("spt", self.sport, self.sport_inverted, proto)
        if self.dport is not None:
            text += _range_list("dpt", self.dport, self.dport_inverted, proto)
        return text


_PORT_OPTIONS = {
    "--sport": ("source-port", 1),
    "--source-port": ("source-port", 1),
    "--dport": ("destination-port", 1),
    "--destination-port": ("destination-port", 1),
}


@dataclass
class TcpMatch(PortMatch):
    """`-m tcp [--sport] [--dport] [--tcp-flags MASK COMP | --syn]`."""

    flags_mask: int | None = None
    flags_comp: int = 0
    flags_inverted: bool = False
    name: ClassVar[str] = "tcp"  # type: ignore[misc]
    proto: ClassVar[int] = 6
    options: ClassVar[dict[str, tuple[str, int]]] = {
        **_PORT_OPTIONS,
        "--tcp-flags": ("tcp-flags", 2),
        "--syn": ("syn", 0),
    }

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if option not in ("tcp-flags", "syn"):
            super().set_option(option, args, inverted)
            return
        if self.flags_mask is not None:
            raise param("Only one of `--syn' or `--tcp-flags'  allowed")
        if option == "syn":
            self.flags_mask, self.flags_comp = SYN_MASK, TCP_FLAGS["SYN"]
        else:
            self.flags_mask, self.flags_comp = _parse_flags(args[0]), _parse_flags(args[1])
        self.flags_inverted = inverted

    def matches(self, ctx: MatchContext) -> bool:
        if not self._ports_match(ctx):
            return False
        if self.flags_mask is None:
            return True
        have = sum(TCP_FLAGS.get(flag, 0) for flag in ctx.packet.tcp_flags)
        return ((have & self.flags_mask) == self.flags_comp) != self.flags_inverted

    def save_args(self) -> list[str]:
        args = ["-m", "tcp", *self._ports_save()]
        if self.flags_mask is not None:
            args += ["!"] * self.flags_inverted + ["--tcp-flags"]
            args += [flags_text(self.flags_mask), flags_text(self.flags_comp)]
        return args

    def list_text(self, numeric: bool = True) -> str:
        text = self._ports_list(numeric)
        if self.flags_mask is not None:
            bang = "!" if self.flags_inverted else ""
            text += f" flags:{bang}0x{self.flags_mask:02X}/0x{self.flags_comp:02X}"
        return text


@dataclass
class UdpMatch(PortMatch):
    """`-m udp [--sport] [--dport]`."""

    name: ClassVar[str] = "udp"  # type: ignore[misc]
    proto: ClassVar[int] = 17
    options: ClassVar[dict[str, tuple[str, int]]] = dict(_PORT_OPTIONS)

    def matches(self, ctx: MatchContext) -> bool:
        return self._ports_match(ctx)

    def save_args(self) -> list[str]:
        return ["-m", "udp", *self._ports_save()]

    def list_text(self, numeric: bool = True) -> str:
        return self._ports_list(numeric)


# libxt_multiport.c option names, in its table order.
_LONG = {"sports": "source-ports", "dports": "destination-ports", "ports": "ports"}


@dataclass
class MultiportMatch(Match):
    """`-m multiport --sports|--dports|--ports LIST`: up to 15 ports, a range counting two."""

    direction: str | None = None  # "sports", "dports" or "ports"
    ports: list[tuple[int, int]] = field(default_factory=list)
    inverted: bool = False
    proto: str | None = field(default=None, repr=False, compare=False)
    seen: list[str] = field(default_factory=list, repr=False, compare=False)
    name: ClassVar[str] = "multiport"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {
        "--sports": ("sports", 1),
        "--source-ports": ("sports", 1),
        "--dports": ("dports", 1),
        "--destination-ports": ("dports", 1),
        "--ports": ("ports", 1),
    }

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if option in self.seen:
            raise ext_param(f'multiport: option "--{_LONG[option]}" can only be used once.')
        self.seen.append(option)
        ports = []
        for item in args[0].split(","):
            low, colon, high = item.partition(":")
            first = parse_port(low, self.proto)
            ports.append((first, parse_port(high, self.proto) if colon else first))
        if sum(1 if a == b else 2 for a, b in ports) > 15:
            raise param("too many ports specified")
        if self.direction is None:  # a second option is refused by finish(), as libxtables does
            self.direction, self.inverted, self.ports = option, inverted, ports

    def prepare(self, info: RuleInfo) -> None:
        # libxt_multiport.c checks the protocol while parsing, so `-p` must come first.
        if info.proto not in (6, 17, 33, 132, 136) or info.proto_inverted:
            raise param("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'")
        self.proto = PROTO_NAMES.get(info.proto)

    def finish(self, info: RuleInfo) -> None:
        if self.direction is None:
            raise param("multiport expects an option")
        if len(self.seen) > 1:
            first, second = sorted(self.seen, key=list(_LONG).index)[:2]
            raise ext_param(
                f'multiport: option "--{_LONG[first]}" cannot be used together with '
                f'"--{_LONG[second]}".'
            )

    def matches(self, ctx: MatchContext) -> bool:
        values = {"sports": [ctx.packet.sport], "dports": [ctx.packet.dport]}.get(
            self.direction or "", [ctx.packet.sport, ctx.packet.dport]
        )
        found = any(a <= v <= b for v in values for a, b in self.ports)
        return found != self.inverted

    def _list(self, proto: str | None = None) -> str:
        return ",".join(
            _port_name(a, proto) if a == b else f"{_port_name(a, proto)}:{_port_name(b, proto)}"
            for a, b in self.ports
        )

    def save_args(self) -> list[str]:
        return ["-m", "multiport", *["!"] * self.inverted, f"--{self.direction}", self._list()]

    def list_text(self, numeric: bool = True) -> str:
        # libxt_multiport.c prints " %s" then "!" after a space: two spaces when inverted.
        bang = " !" if self.inverted else ""
        return f"multiport {self.direction} {bang}{self._list(None if numeric else self.proto)}"

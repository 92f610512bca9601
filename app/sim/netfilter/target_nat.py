"""The NAT targets: DNAT, SNAT, MASQUERADE, REDIRECT (iptables-extensions(8); kernel
xt_nat.c, xt_MASQUERADE.c, xt_REDIRECT.c).

A NAT target only chooses the translation; it returns a `NatRange` and the engine (with
conntrack) applies it, once per connection (kernel-facts §5.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from app.sim.netfilter.context import MatchContext, NatRange, TargetResult, Verdict
from app.sim.netfilter.errors import ext_param, param
from app.sim.netfilter.model import RuleInfo, Target
from app.sim.netfilter.values import parse_ipv4, parse_port

# libxt_*NAT.c accept a port range for these protocols (icmp too, despite the message);
# `! -p tcp` passes, since only the protocol number is looked at.
_PORT_PROTOS = (1, 6, 17, 33, 132)


def _port_range(text: str) -> tuple[int, int]:
    low, dash, high = text.partition("-")
    first = parse_port(low)
    last = parse_port(high) if dash else first
    if first > last:
        raise param(f"Port range `{high}' funky")
    return first, last


def parse_to(text: str) -> NatRange:
    """`ip[-ip][:port[-port]]` as --to-destination / --to-source take it."""
    addrs, colon, ports = text.partition(":")
    low_ip = high_ip = None
    if addrs:
        low, dash, high = addrs.partition("-")
        low_ip = str(parse_ipv4(low))
        high_ip = str(parse_ipv4(high)) if dash else low_ip
    low_port = high_port = None
    if colon:
        low_port, high_port = _port_range(ports)
    if low_ip is None and low_port is None:
        raise param(f'Bad IP address "{text}"')
    return NatRange(low_ip, high_ip, low_port, high_port)


def range_text(nat: NatRange) -> str:
    """The inverse of parse_to, as iptables prints it."""
    text = ""
    if nat.min_ip:
        text = nat.min_ip if nat.max_ip == nat.min_ip else f"{nat.min_ip}-{nat.max_ip}"
    if nat.min_port is not None:
        text += (
            f":{nat.min_port}"
            if nat.min_port == nat.max_port
            else f":{nat.min_port}-{nat.max_port}"
        )
    return text


def _ports_text(nat: NatRange) -> str:
    if nat.min_port == nat.max_port:
        return str(nat.min_port)
    return f"{nat.min_port}-{nat.max_port}"


@dataclass
class NatTarget(Target):
    """The shared shape: one range plus the --random/--random-fully/--persistent flags."""

    nat: NatRange | None = None
    random: bool = False
    random_fully: bool = False
    persistent: bool = False
    rule_info: RuleInfo = field(default_factory=RuleInfo, repr=False, compare=False)
    verdict: ClassVar[Verdict] = Verdict.DNAT
    tables: ClassVar[tuple[str, ...] | None] = ("nat",)
    to_option: ClassVar[str] = "to-destination"

    def prepare(self, info: RuleInfo) -> None:
        self.rule_info = info

    def _take_flag(self, option: str) -> bool:
        if option in ("random", "random-fully", "persistent"):
            setattr(self, option.replace("-", "_"), True)
            return True
        return False

    def _check_ports(self, nat: NatRange) -> None:
        if nat.min_port is not None and self.rule_info.proto not in _PORT_PROTOS:
            raise param("Need TCP, UDP, SCTP or DCCP with port specification")

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if self._take_flag(option):
            return
        if self.nat is not None:
            raise ext_param(f'{self.name}: option "--{option}" can only be used once.')
        nat = parse_to(args[0])
        self._check_ports(nat)
        self.nat = nat

    def _result(self) -> NatRange:
        base = self.nat or NatRange()
        return NatRange(base.min_ip, base.max_ip, base.min_port, base.max_port,
                        self.random, self.random_fully, self.persistent)  # fmt: skip

    def apply(self, ctx: MatchContext) -> TargetResult:
        return TargetResult(self.verdict, nat=self._result())

    def _flags(self, sep: str) -> list[str]:
        names = [("random", self.random), ("random-fully", self.random_fully)]
        names.append(("persistent", self.persistent))
        return [sep + name for name, on in names if on]

    def save_args(self) -> list[str]:
        args = ["-j", self.name]
        if self.nat is not None:
            args += [f"--{self.to_option}", range_text(self.nat)]
        return args + self._flags("--")

    def list_text(self, numeric: bool = True) -> str:
        parts = [f"to:{range_text(self.nat)}"] if self.nat is not None else []
        return " ".join(parts + self._flags(""))


@dataclass
class DnatTarget(NatTarget):
    """DNAT --to-destination ip[-ip][:port[-port]] [--random] [--persistent]."""

    name: ClassVar[str] = "DNAT"  # type: ignore[misc]
    hooks: ClassVar[tuple[str, ...] | None] = ("PREROUTING", "OUTPUT")
    options: ClassVar[dict[str, tuple[str, int]]] = {
        "--to-destination": ("to-destination", 1),
        "--random": ("random", 0),
        "--persistent": ("persistent", 0),
    }

    def finish(self, info: RuleInfo) -> None:
        if self.nat is None:
            raise ext_param('DNAT: option "--to-destination" must be specified')


@dataclass
class SnatTarget(NatTarget):
    """SNAT --to-source ip[-ip][:port[-port]] [--random] [--random-fully] [--persistent]."""

    name: ClassVar[str] = "SNAT"  # type: ignore[misc]
    verdict: ClassVar[Verdict] = Verdict.SNAT
    hooks: ClassVar[tuple[str, ...] | None] = ("INPUT", "POSTROUTING")
    to_option: ClassVar[str] = "to-source"
    options: ClassVar[dict[str, tuple[str, int]]] = {
        "--to-source": ("to-source", 1),
        "--random": ("random", 0),
        "--random-fully": ("random-fully", 0),
        "--persistent": ("persistent", 0),
    }

    def finish(self, info: RuleInfo) -> None:
        if self.nat is None:
            raise ext_param('SNAT: option "--to-source" must be specified')


@dataclass
class MasqueradeTarget(NatTarget):
    """MASQUERADE [--to-ports p[-p]] [--random] [--random-fully]: SNAT to the address of
    the outgoing interface (kernel-facts §5.8)."""

    name: ClassVar[str] = "MASQUERADE"  # type: ignore[misc]
    verdict: ClassVar[Verdict] = Verdict.MASQUERADE
    hooks: ClassVar[tuple[str, ...] | None] = ("POSTROUTING",)
    label: ClassVar[str] = "masq ports:"
    options: ClassVar[dict[str, tuple[str, int]]] = {
        "--to-ports": ("to-ports", 1),
        "--random": ("random", 0),
        "--random-fully": ("random-fully", 0),
    }

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if self._take_flag(option):
            return
        low, high = _port_range(args[0])
        nat = NatRange(min_port=low, max_port=high)
        self._check_ports(nat)
        self.nat = nat

    def save_args(self) -> list[str]:
        args = ["-j", self.name]
        if self.nat is not None:
            args += ["--to-ports", _ports_text(self.nat)]
        return args + self._flags("--")

    def list_text(self, numeric: bool = True) -> str:
        parts = [f"{self.label} {_ports_text(self.nat)}"] if self.nat is not None else []
        return " ".join(parts + self._flags(""))


@dataclass
class RedirectTarget(MasqueradeTarget):
    """REDIRECT [--to-ports p[-p]] [--random]: DNAT to the node itself."""

    name: ClassVar[str] = "REDIRECT"  # type: ignore[misc]
    verdict: ClassVar[Verdict] = Verdict.REDIRECT
    hooks: ClassVar[tuple[str, ...] | None] = ("PREROUTING", "OUTPUT")
    label: ClassVar[str] = "redir ports"
    options: ClassVar[dict[str, tuple[str, int]]] = {
        "--to-ports": ("to-ports", 1),
        "--random": ("random", 0),
    }

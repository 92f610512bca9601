"""The two iptables matches kube-proxy's IPVS mode writes that only IPVS setups use:

* `-m physdev [!] --physdev-is-in|--physdev-is-out|--physdev-is-bridged` (xt_physdev.c):
  did the packet enter (leave) through a bridge port. The simulated node knows one bridge,
  the pod network's (`cni0`; also `cbr0`, `docker0`, `br-*`): a packet that arrived on it
  came in through a bridge port.
* `-m ipvs --vaddr A[/M] --vproto P --vport N` (xt_ipvs.c): the packet belongs to an IPVS
  connection for that virtual service. The engine does not mark the packets IPVS sends
  (skb->ipvs_property), so in the simulator this match never matches; it is parsed, saved
  and listed as iptables 1.8.9 does.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import ClassVar

from app.sim.netfilter.context import MatchContext
from app.sim.netfilter.errors import ext_param
from app.sim.netfilter.model import Match, RuleInfo
from app.sim.netfilter.values import PROTO_NUMBERS

BRIDGES = ("cni0", "cbr0", "docker0")
PHYSDEV_FLAGS = ("physdev-is-in", "physdev-is-out", "physdev-is-bridged")


def _is_bridge(iface: str | None) -> bool:
    return bool(iface) and (iface in BRIDGES or str(iface).startswith("br-"))


@dataclass
class PhysdevMatch(Match):
    """`-m physdev`: the bridge-port tests (see the module docstring)."""

    flags: dict[str, bool] = field(default_factory=dict)  # flag -> inverted
    name: ClassVar[str] = "physdev"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {f"--{f}": (f, 0) for f in PHYSDEV_FLAGS}

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if option in self.flags:
            raise ext_param(f'physdev: option "--{option}" can only be used once.')
        self.flags[option] = inverted

    def finish(self, info: RuleInfo) -> None:
        if not self.flags:
            raise ext_param("PHYSDEV: no physdev option specified")

    def matches(self, ctx: MatchContext) -> bool:
        bridged_in = _is_bridge(ctx.in_iface)
        bridged_out = _is_bridge(ctx.out_iface)
        facts = {
            "physdev-is-in": bridged_in,
            "physdev-is-out": bridged_out,
            "physdev-is-bridged": bridged_in and bridged_out,
        }
        return all(facts[f] != inv for f, inv in self.flags.items())

    def _words(self) -> list[str]:
        out: list[str] = []
        for flag in PHYSDEV_FLAGS:  # libxt_physdev prints in this order
            if flag in self.flags:
                out += ["!"] * self.flags[flag] + [f"--{flag}"]
        return out

    def save_args(self) -> list[str]:
        return ["-m", "physdev", *self._words()]

    def list_text(self, numeric: bool = True) -> str:
        return "PHYSDEV match " + " ".join(self._words())


@dataclass
class IpvsMatch(Match):
    """`-m ipvs --vaddr --vproto --vport` (see the module docstring)."""

    vaddr: ipaddress.IPv4Network | None = None
    vproto: int | None = None
    vport: int | None = None
    inverted: dict[str, bool] = field(default_factory=dict)
    name: ClassVar[str] = "ipvs"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {
        "--vaddr": ("vaddr", 1),
        "--vproto": ("vproto", 1),
        "--vport": ("vport", 1),
    }

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if option in self.inverted:
            raise ext_param(f'ipvs: option "--{option}" can only be used once.')
        self.inverted[option] = inverted
        value = args[0]
        try:
            if option == "vaddr":
                self.vaddr = ipaddress.IPv4Network(value, strict=False)
            elif option == "vproto":
                self.vproto = int(value) if value.isdigit() else PROTO_NUMBERS[value.lower()]
            else:
                self.vport = int(value)
                if not 0 <= self.vport <= 65535:
                    raise ValueError(value)
        except (ValueError, KeyError):
            raise ext_param(f'ipvs: Bad value for "--{option}" option: "{value}"') from None

    def matches(self, ctx: MatchContext) -> bool:
        return False  # no packet carries ipvs_property in the simulator

    def _words(self, prefix: str) -> list[str]:
        out: list[str] = []
        parts = (
            ("vproto", None if self.vproto is None else str(self.vproto)),
            ("vaddr", None if self.vaddr is None else str(self.vaddr)),
            ("vport", None if self.vport is None else str(self.vport)),
        )
        for option, text in parts:  # libxt_ipvs dumps proto, vaddr, vport in this order
            if text is not None:
                out += ["!"] * self.inverted.get(option, False) + [f"{prefix}{option}", text]
        return out

    def save_args(self) -> list[str]:
        return ["-m", "ipvs", *self._words("--")]

    def list_text(self, numeric: bool = True) -> str:
        return "ipvs " + " ".join(self._words(""))

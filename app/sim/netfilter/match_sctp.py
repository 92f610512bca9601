"""`-m sctp --sport/--dport`: SCTP port ranges (iptables-extensions(8), sctp; kernel
xt_sctp.c, iptables libxt_sctp.c).

kube-proxy writes `-m sctp -p sctp ... --dport N` for a Service port of protocol SCTP. The
match differs from `-m tcp` in three ways this module keeps:

* the protocol is checked by the kernel, not by iptables: `-m sctp` without `-p sctp` is
  parsed, then refused as `RULE_APPEND failed (Invalid argument)` (xt_sctp registers
  `.proto = IPPROTO_SCTP`, which x_tables' check_match enforces);
* iptables-save prints a port range even when it is the full 0:65535 (sctp_save() has no
  such shortcut; `iptables -L` still prints nothing for it, print_ports() does);
* port names resolve with getservbyname(NAME, "sctp"), which knows none of the names this
  simulator carries, so only numbers are accepted and printed.

`--chunk-types` is not simulated: iptables' own "unknown option" refusal answers it.
The engine traces TCP and UDP packets only; for an SCTP packet the match compares ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from app.sim.netfilter.context import MatchContext
from app.sim.netfilter.errors import IptablesError, param
from app.sim.netfilter.match_proto import PortMatch
from app.sim.netfilter.model import RuleInfo
from app.sim.netfilter.values import parse_port_range

IPPROTO_SCTP = 132  # include/uapi/linux/in.h


@dataclass
class SctpMatch(PortMatch):
    """`-m sctp [[!] --sport P[:Q]] [[!] --dport P[:Q]]`."""

    name: ClassVar[str] = "sctp"  # type: ignore[misc]
    proto: ClassVar[int] = IPPROTO_SCTP
    options: ClassVar[dict[str, tuple[str, int]]] = {
        "--sport": ("source-port", 1),
        "--source-port": ("source-port", 1),
        "--dport": ("destination-port", 1),
        "--destination-port": ("destination-port", 1),
    }

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        # libxt_sctp.c parses with the "sctp" service table (parse_sctp_ports).
        if (self.sport if option == "source-port" else self.dport) is not None:
            raise self._twice(option)
        ports = parse_port_range(args[0], "sctp")
        if option == "source-port":
            self.sport, self.sport_inverted = ports, inverted
        else:
            self.dport, self.dport_inverted = ports, inverted

    def _twice(self, option: str) -> IptablesError:
        """libxt_sctp words a repeated port option as libxt_tcp does."""
        return param(f"Only one `--{option}' allowed")

    def finish(self, info: RuleInfo) -> None:
        """No userspace protocol check (see the module docstring: the kernel refuses)."""

    def kernel_accepts(self, info: RuleInfo, table: str, hooks: frozenset[str]) -> bool:
        # x_tables.c xt_check_match: the match's proto must equal the rule's, not inverted.
        return info.proto == IPPROTO_SCTP and not info.proto_inverted

    def matches(self, ctx: MatchContext) -> bool:
        return self._ports_match(ctx)

    def save_args(self) -> list[str]:
        args = ["-m", "sctp"]
        for flag, ports, inverted in (
            ("--sport", self.sport, self.sport_inverted),
            ("--dport", self.dport, self.dport_inverted),
        ):
            if ports is not None:
                text = str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}:{ports[1]}"
                args += ["!"] * inverted + [flag, text]
        return args

    def list_text(self, numeric: bool = True) -> str:
        return self._ports_list(numeric)

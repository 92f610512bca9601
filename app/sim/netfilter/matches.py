"""The MATCHES registry: every `-m NAME` module the simulator knows, keyed by iptables'
spelling, plus the builtin rule parts (`-s -d -i -o -p`).

Each registered class both parses its options (`options`, `set_option`, `finish`) and
evaluates (`matches`); the import-time check below keeps the two sides together.
"""

from __future__ import annotations

from app.sim.ipvs.xt_matches import IpvsMatch, PhysdevMatch
from app.sim.netfilter.match_basic import (
    BUILTIN_ORDER,
    AddressMatch,
    AddrtypeMatch,
    CommentMatch,
    InterfaceMatch,
    MarkMatch,
    ProtocolMatch,
)
from app.sim.netfilter.match_proto import MultiportMatch, TcpMatch, UdpMatch
from app.sim.netfilter.match_sctp import SctpMatch
from app.sim.netfilter.match_state import (
    ConntrackMatch,
    NfacctMatch,
    RecentMatch,
    SetMatch,
    StateMatch,
    StatisticMatch,
)
from app.sim.netfilter.model import Match

MATCHES: dict[str, type[Match]] = {
    cls.name: cls
    for cls in (
        TcpMatch,
        UdpMatch,
        SctpMatch,
        MultiportMatch,
        CommentMatch,
        MarkMatch,
        AddrtypeMatch,
        ConntrackMatch,
        StateMatch,
        StatisticMatch,
        RecentMatch,
        SetMatch,
        NfacctMatch,
        PhysdevMatch,  # written by kube-proxy's IPVS mode
        IpvsMatch,
    )
}

# The builtin parts, by the flag that introduces them.
BUILTIN_MATCHES: dict[str, type[Match]] = {
    "-s": AddressMatch,
    "-d": AddressMatch,
    "-i": InterfaceMatch,
    "-o": InterfaceMatch,
    "-p": ProtocolMatch,
}


def _check_registry() -> None:
    """Every registered parser must come with an evaluator and a printer."""
    for name, cls in MATCHES.items():
        assert cls.name == name, f"match {cls.__name__} registered as {name!r}"
        assert cls.options, f"match {name!r} has no options"
        assert not getattr(cls, "__abstractmethods__", None), f"match {name!r} cannot evaluate"
        assert cls.set_option is not Match.set_option, f"match {name!r} cannot parse"


_check_registry()

__all__ = [
    "BUILTIN_MATCHES",
    "BUILTIN_ORDER",
    "MATCHES",
    "AddressMatch",
    "InterfaceMatch",
    "ProtocolMatch",
]

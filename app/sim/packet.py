"""Packet value objects: the headers the engine reads and rewrites.

A `Packet` is frozen: every rewrite (DNAT, SNAT, MARK) produces a new one, so each trace step
can keep the packet exactly as it left that step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True)
class FiveTuple:
    """The connection key conntrack uses (IPv4, TCP/UDP)."""

    proto: str
    src: str
    sport: int
    dst: str
    dport: int

    def reversed(self) -> FiveTuple:
        """The tuple a reply to this one carries."""
        return FiveTuple(self.proto, self.dst, self.dport, self.src, self.sport)

    def __str__(self) -> str:
        return f"{self.proto} src={self.src} dst={self.dst} sport={self.sport} dport={self.dport}"


@dataclass(frozen=True)
class Packet:
    """One IPv4 TCP/UDP packet.

    `mark` is the skb mark (nfmark) that `-j MARK` sets and `-m mark` reads.
    `tcp_flags` holds the set TCP flags by iptables' names (SYN, ACK, FIN, RST, URG, PSH);
    the default is the first packet of a connection, a bare SYN.
    """

    src: str
    dst: str
    proto: str
    sport: int
    dport: int
    mark: int = 0
    tcp_flags: frozenset[str] = field(default_factory=lambda: frozenset({"SYN"}))
    length: int = 60

    @property
    def tuple(self) -> FiveTuple:
        return FiveTuple(self.proto, self.src, self.sport, self.dst, self.dport)

    def with_(self, **changes: object) -> Packet:
        """A copy with some headers changed (dataclasses.replace, spelled for readability)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def headers(self) -> dict[str, object]:
        """The headers as the trace JSON shows them (CONTRACTS.md: `packet`)."""
        return {
            "src": self.src,
            "dst": self.dst,
            "sport": self.sport,
            "dport": self.dport,
            "mark": hex(self.mark),
        }

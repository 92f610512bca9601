"""Connection tracking: the connection table, NAT bindings, reply un-NAT and `conntrack -L`.

Modelled on net/netfilter/nf_conntrack_core.c and nf_nat_core.c (kernel-facts §5.4):

* a packet's tuple is looked up in both directions; a miss creates an *unconfirmed*
  connection that is inserted only when the packet passes the confirm hook (end of INPUT or
  POSTROUTING), so a dropped first packet leaves nothing behind;
* each manip type (DST at PREROUTING/OUTPUT, SRC at INPUT/POSTROUTING) is bound once per
  connection: the nat table is consulted for the first packet only, and a *null binding*
  (identity) is recorded when no nat rule matched;
* later packets get the stored translation applied; replies are un-NATed by looking them up
  by the (translated) reply tuple;
* timeouts run on the logical clock the caller passes in (nf_conntrack_proto_tcp.c/udp.c).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.sim.packet import FiveTuple, Packet

PROTO_NUMBERS = {"tcp": 6, "udp": 17}
# nf_conntrack_proto_tcp.c tcp_timeouts[] and nf_conntrack_proto_udp.c udp_timeouts[].
TCP_TIMEOUTS = {
    "SYN_SENT": 120,
    "SYN_RECV": 60,
    "ESTABLISHED": 432000,
    "FIN_WAIT": 120,
    "CLOSE_WAIT": 60,
    "LAST_ACK": 30,
    "TIME_WAIT": 120,
    "CLOSE": 10,
}
UDP_UNREPLIED, UDP_REPLIED, UDP_STREAM_AFTER = 30, 120, 2
ORIGINAL, REPLY = "original", "reply"


@dataclass(eq=False)  # one entry is one connection: identity, not field equality
class Connection:
    """One conntrack entry. `reply` already carries the NAT translation, as in the kernel:
    a DNAT rewrites the reply's source, an SNAT the reply's destination."""

    orig: FiveTuple
    reply: FiveTuple
    created: float
    expires: float
    tcp_state: str = ""
    status: set[str] = field(default_factory=set)
    mark: int = 0
    dst_bound: bool = False
    src_bound: bool = False

    @property
    def dnat_to(self) -> tuple[str, int] | None:
        """The endpoint a DNAT chose (reply source differs from the original destination)."""
        if (self.reply.src, self.reply.sport) == (self.orig.dst, self.orig.dport):
            return None
        return self.reply.src, self.reply.sport

    @property
    def snat_to(self) -> tuple[str, int] | None:
        """The source an SNAT/MASQUERADE chose (reply destination differs from the original)."""
        if (self.reply.dst, self.reply.dport) == (self.orig.src, self.orig.sport):
            return None
        return self.reply.dst, self.reply.dport

    def to_json(self, ctstate: str, now: float) -> dict[str, object]:
        """The trace's `conntrack` object (CONTRACTS.md) plus `state`, `snat_port`, `listing`."""
        dnat, snat = self.dnat_to, self.snat_to
        return {
            "orig": f"{endpoint(self.orig.src, self.orig.sport)} -> "
            f"{endpoint(self.orig.dst, self.orig.dport)}",
            "reply": f"{endpoint(self.reply.src, self.reply.sport)} -> "
            f"{endpoint(self.reply.dst, self.reply.dport)}",
            "dnat_to": endpoint(*dnat) if dnat else None,
            "snat_to": snat[0] if snat else None,
            "snat_port": snat[1] if snat else None,
            "state": ctstate,
            "listing": format_entry(self, now),
        }

    def ctstatus(self) -> frozenset[str]:
        """Status words for `-m conntrack --ctstatus/--ctstate DNAT|SNAT`."""
        return frozenset(self.status)


@dataclass
class Lookup:
    """The conntrack verdict for one packet at PREROUTING/OUTPUT (nf_conntrack_in)."""

    conn: Connection | None
    direction: str
    ctstate: str


class Conntrack:
    """The connection table of one node (a network namespace)."""

    def __init__(self) -> None:
        self._by_tuple: dict[FiveTuple, tuple[Connection, str]] = {}
        self.connections: list[Connection] = []

    # -- lookup and creation ---------------------------------------------------------------
    def lookup(self, packet: Packet, now: float) -> Lookup:
        """Find or create the packet's connection and its ctstate (NEW, ESTABLISHED, INVALID)."""
        hit = self._by_tuple.get(packet.tuple)
        if hit and hit[0].expires <= now:
            self._remove(hit[0])
            hit = None
        if hit:
            conn, direction = hit
            seen = direction == REPLY or "SEEN_REPLY" in conn.status
            return Lookup(conn, direction, "ESTABLISHED" if seen else "NEW")
        if packet.proto == "tcp" and _tcp_new_state(packet.tcp_flags) is None:
            # tcp_new(): SYN/ACK, FIN or RST cannot open a connection -> INVALID, no entry.
            return Lookup(None, ORIGINAL, "INVALID")
        tup = packet.tuple
        conn = Connection(tup, tup.reversed(), created=now, expires=now)
        return Lookup(conn, ORIGINAL, "NEW")

    def bind(
        self,
        conn: Connection,
        manip: str,
        ip: str | None,
        port: int | None,
        *,
        port_offset: int | None = None,
    ) -> None:
        """Record the DST or SRC translation of a new connection (None: a null binding).

        The source port is kept unless the resulting reply tuple is already used by another
        connection; then the next free port of the same class is taken. The kernel starts
        that search at a hashed offset (nf_nat_l4proto_unique_tuple); we start next to the
        original port so the choice is deterministic. With `--random`/`--random-fully` the
        kernel starts at a random offset instead: `port_offset` is that 16-bit draw.
        """
        if manip == "DST":
            conn.dst_bound = True
            if ip is not None:
                self._bind_dst(conn, ip, port)
            return
        conn.src_bound = True
        if ip is not None:
            self._bind_src(conn, ip, port, port_offset)

    @staticmethod
    def _bind_dst(conn: Connection, ip: str, port: int | None) -> None:
        new_port = port if port is not None else conn.orig.dport
        conn.reply = FiveTuple(conn.reply.proto, ip, new_port, conn.reply.dst, conn.reply.dport)
        if (ip, new_port) != (conn.orig.dst, conn.orig.dport):
            conn.status.add("DNAT")

    def _bind_src(self, conn: Connection, ip: str, port: int | None, offset: int | None):
        new_port = port if port is not None else conn.orig.sport
        if port is None and offset is not None:
            low, high = _port_class(conn.orig.sport)
            new_port = low + offset % (high - low + 1)
        reply = FiveTuple(conn.reply.proto, conn.reply.src, conn.reply.sport, ip, new_port)
        if port is None:
            reply = self._free_reply(reply)
        conn.reply = reply
        if (reply.dst, reply.dport) != (conn.orig.src, conn.orig.sport):
            conn.status.add("SNAT")

    def _free_reply(self, reply: FiveTuple) -> FiveTuple:
        low, high = _port_class(reply.dport)
        port = reply.dport
        for _ in range(high - low + 1):
            candidate = FiveTuple(reply.proto, reply.src, reply.sport, reply.dst, port)
            if candidate not in self._by_tuple:
                return candidate
            port = low if port >= high else port + 1
        return reply

    def confirm(self, conn: Connection, now: float) -> None:
        """Insert a new connection at the confirm hook (__nf_conntrack_confirm)."""
        if "CONFIRMED" in conn.status:
            return
        conn.status.add("CONFIRMED")
        self._by_tuple[conn.orig] = (conn, ORIGINAL)
        self._by_tuple[conn.reply] = (conn, REPLY)
        self.connections.append(conn)

    def update(self, conn: Connection, direction: str, packet: Packet, now: float) -> None:
        """Advance the protocol state and refresh the timeout (the l4 `packet` handler),
        then note a first reply (IPS_SEEN_REPLY is set after the handler runs)."""
        if conn.orig.proto == "tcp":
            self._update_tcp(conn, direction, packet.tcp_flags, now)
        else:
            self._update_udp(conn, now)
        if direction == REPLY:
            conn.status.add("SEEN_REPLY")

    def _update_tcp(self, conn: Connection, direction: str, flags: frozenset[str], now: float):
        state = conn.tcp_state
        if not state:
            state = _tcp_new_state(flags) or "CLOSE"
        elif "RST" in flags:
            state = "CLOSE"
        elif direction == REPLY and {"SYN", "ACK"} <= flags and state == "SYN_SENT":
            state = "SYN_RECV"
        elif direction == ORIGINAL and "ACK" in flags and state == "SYN_RECV":
            state = "ESTABLISHED"
            conn.status.add("ASSURED")
        elif "FIN" in flags and state == "ESTABLISHED":
            state = "FIN_WAIT"
        conn.tcp_state = state
        conn.expires = now + TCP_TIMEOUTS[state]

    def _update_udp(self, conn: Connection, now: float) -> None:
        if "SEEN_REPLY" not in conn.status:
            conn.expires = now + UDP_UNREPLIED
            return
        # A flow still alive 2 s after it started is a stream: longer timeout, ASSURED.
        if now > conn.created + UDP_STREAM_AFTER:
            conn.expires = now + UDP_REPLIED
            conn.status.add("ASSURED")
        else:
            conn.expires = now + UDP_UNREPLIED

    # -- translation -----------------------------------------------------------------------
    @staticmethod
    def translate(conn: Connection, direction: str, packet: Packet, manip: str) -> Packet:
        """Apply a bound translation of the given manip type to a packet (nf_nat_packet)."""
        target = conn.reply.reversed() if direction == ORIGINAL else conn.orig.reversed()
        if manip == "DST":
            return packet.with_(dst=target.dst, dport=target.dport)
        return packet.with_(src=target.src, sport=target.sport)

    # -- storage -----------------------------------------------------------------------------
    def to_data(self) -> list[dict[str, object]]:
        """The table as plain data (JSON-ready), for a lab stored between requests."""
        return [
            {
                "orig": _fields(c.orig),
                "reply": _fields(c.reply),
                "created": c.created,
                "expires": c.expires,
                "tcp_state": c.tcp_state,
                "status": sorted(c.status),
                "mark": c.mark,
            }
            for c in self.connections
        ]

    @classmethod
    def from_data(cls, data: list[dict[str, Any]]) -> Conntrack:
        """The table `to_data` described (confirmed connections, both NAT manips bound)."""
        table = cls()
        for item in data:
            conn = Connection(
                FiveTuple(*item["orig"]),
                FiveTuple(*item["reply"]),
                created=float(item["created"]),
                expires=float(item["expires"]),
                tcp_state=str(item["tcp_state"]),
                status=set(item["status"]) - {"CONFIRMED"},
                mark=int(item["mark"]),
                dst_bound=True,
                src_bound=True,
            )
            table.confirm(conn, conn.created)
        return table

    # -- listing ---------------------------------------------------------------------------
    def expire(self, now: float) -> None:
        """Drop connections whose timeout passed (the kernel's gc worker)."""
        for conn in [c for c in self.connections if c.expires <= now]:
            self._remove(conn)

    def _remove(self, conn: Connection) -> None:
        self._by_tuple.pop(conn.orig, None)
        self._by_tuple.pop(conn.reply, None)
        if conn in self.connections:
            self.connections.remove(conn)

    def listing(self, now: float) -> str:
        """`conntrack -L` stdout (conntrack-tools 1.4.7), one line per live connection."""
        self.expire(now)
        return "".join(format_entry(c, now) + "\n" for c in self.connections)

    def summary(self) -> str:
        """What `conntrack -L` prints on stderr after the list."""
        count = len(self.connections)
        return f"conntrack v1.4.7 (conntrack-tools): {count} flow entries have been shown.\n"


def format_entry(conn: Connection, now: float) -> str:
    """One `conntrack -L` line, e.g. `tcp      6 119 SYN_SENT src=... [UNREPLIED] src=...`."""
    proto = conn.orig.proto
    parts = [f"{proto:<8} {PROTO_NUMBERS[proto]} {max(0, int(conn.expires - now))}"]
    if conn.tcp_state:
        parts.append(conn.tcp_state)
    parts.append(_tuple_text(conn.orig))
    if "SEEN_REPLY" not in conn.status:
        parts.append("[UNREPLIED]")
    parts.append(_tuple_text(conn.reply))
    if "ASSURED" in conn.status:
        parts.append("[ASSURED]")
    parts.append(f"mark={conn.mark} use=1")
    return " ".join(parts)


def endpoint(ip: str, port: int) -> str:
    """`ip:port`, the way the trace JSON spells a NAT endpoint."""
    return f"{ip}:{port}"


def _tuple_text(t: FiveTuple) -> str:
    return f"src={t.src} dst={t.dst} sport={t.sport} dport={t.dport}"


def _tcp_new_state(flags: frozenset[str]) -> str | None:
    """The state a first TCP packet opens (tcp_conntracks[][][sNO]); None means INVALID.
    A bare ACK is picked up mid-stream because nf_conntrack_tcp_loose defaults to 1."""
    if "RST" in flags or "FIN" in flags:
        return None
    if "SYN" in flags:
        return None if "ACK" in flags else "SYN_SENT"
    return "ESTABLISHED" if "ACK" in flags else None


def _port_class(port: int) -> tuple[int, int]:
    """The range a clashing source port is moved within (nf_nat_l4proto_unique_tuple)."""
    if port < 512:
        return 1, 511
    if port < 1024:
        return 600, 1023
    return 1024, 65535


def _fields(key: FiveTuple) -> list[object]:
    # Field by field: dataclasses.astuple deep-copies recursively and was a sixth of the cost
    # of storing a lab after every request.
    return [key.proto, key.src, key.sport, key.dst, key.dport]

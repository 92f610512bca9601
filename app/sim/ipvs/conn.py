"""The IPVS connection table (net/netfilter/ipvs/ip_vs_conn.c, ip_vs_proto_*.c).

An entry is keyed by (protocol, client addr, client port, virtual addr, virtual port) and
bound to one real server. Binding counts it in the dest's **inactconns**: real servers always
carry IP_VS_CONN_F_INACTIVE, so a new TCP connection is inactive until the IPVS TCP state
becomes ESTABLISHED, and a UDP one stays inactive for ever (`udp_state_transition` only
refreshes the timer). Leaving ESTABLISHED moves it back; expiry decrements whichever counter
holds it. Persistence templates (client port 0) count only in `persistconns` and cannot
expire while they control live connections (the expiry is retried 60 s later).

Timeouts run on the caller's logical clock (seconds); nothing here reads wall time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.sim.ipvs.model import Dest, VirtualService

# ip_vs_proto_tcp.c tcp_timeouts (seconds).
TCP_TIMEOUTS = {
    "NONE": 2,
    "ESTABLISHED": 15 * 60,
    "SYN_SENT": 2 * 60,
    "SYN_RECV": 60,
    "FIN_WAIT": 2 * 60,
    "TIME_WAIT": 2 * 60,
    "CLOSE": 10,
    "CLOSE_WAIT": 60,
    "LAST_ACK": 30,
    "LISTEN": 2 * 60,
    "SYNACK": 2 * 60,
}
UDP_TIMEOUT = 5 * 60  # ip_vs_proto_udp.c udp_timeouts[NORMAL]
SCTP_TIMEOUTS = {"INIT1": 3, "ESTABLISHED": 15 * 60, "CLOSED": 10}
TEMPLATE_RETRY = 60  # ip_vs_conn_expire: a template still in use is retried 60 s later

ConnKey = tuple[str, str, int, str, int]

# ip_vs_proto_tcp.c tcp_states, INPUT direction (client -> director): the next state for
# each event, indexed by the current state. The event is rst, else syn, else fin, else ack
# (tcp_state_idx).
_TCP_ORDER = ("NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "CLOSE",
              "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK")  # fmt: skip
_TCP_INPUT = {
    "syn": ("SYN_RECV", "ESTABLISHED", "ESTABLISHED", "SYN_RECV", "SYN_RECV", "SYN_RECV",
            "SYN_RECV", "SYN_RECV", "SYN_RECV", "SYN_RECV", "SYN_RECV"),
    "fin": ("CLOSE", "CLOSE_WAIT", "SYN_SENT", "TIME_WAIT", "TIME_WAIT", "TIME_WAIT", "CLOSE",
            "CLOSE_WAIT", "LAST_ACK", "LISTEN", "TIME_WAIT"),
    "ack": ("ESTABLISHED", "ESTABLISHED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT", "TIME_WAIT",
            "CLOSE", "CLOSE_WAIT", "CLOSE", "LISTEN", "ESTABLISHED"),
    "rst": ("CLOSE", "CLOSE", "CLOSE", "SYN_RECV", "CLOSE", "CLOSE", "CLOSE", "CLOSE",
            "LAST_ACK", "LISTEN", "SYN_RECV"),
}  # fmt: skip


def tcp_input_state(state: str, flags: frozenset[str]) -> str | None:
    """The IPVS TCP state after a client packet with `flags`; None when no event applies."""
    for event, flag in (("rst", "RST"), ("syn", "SYN"), ("fin", "FIN"), ("ack", "ACK")):
        if flag in flags:
            return _TCP_INPUT[event][_TCP_ORDER.index(state)]
    return None


@dataclass(eq=False)
class Conn:
    """One entry; `template` entries have client port 0 and state NONE."""

    proto: str
    caddr: str
    cport: int
    vaddr: str
    vport: int
    dest: Dest
    service: VirtualService
    state: str
    expires: float
    template: bool = False
    control: Conn | None = None
    n_control: int = 0
    timeout: int = 0  # a template's persistence timeout

    @property
    def key(self) -> ConnKey:
        return (self.proto, self.caddr, self.cport, self.vaddr, self.vport)

    @property
    def active(self) -> bool:
        return not self.template and self.state == "ESTABLISHED"


def state_timeout(proto: str, state: str) -> int:
    if proto == "UDP":
        return UDP_TIMEOUT
    if proto == "SCTP":
        return SCTP_TIMEOUTS.get(state, 10)
    return TCP_TIMEOUTS[state]


def first_state(proto: str) -> str:
    """The state a connection opened by a request is in: a SYN from the client puts the
    director's entry in SYN_RECV (tcp_states, input SYN); UDP entries are `UDP`."""
    return {"TCP": "SYN_RECV", "UDP": "UDP", "SCTP": "INIT1"}[proto]


@dataclass
class ConnTable:
    """Connections and persistence templates, each in its own map."""

    conns: dict[ConnKey, Conn] = field(default_factory=dict)
    templates: dict[ConnKey, Conn] = field(default_factory=dict)

    def lookup(self, key: ConnKey) -> Conn | None:
        return self.conns.get(key)

    def bind(self, conn: Conn) -> Conn:
        """Insert and bind to the dest (ip_vs_bind_dest): counted as inactive (or persistent)."""
        dest = conn.dest
        if conn.template:
            dest.persistconns += 1
            self.templates[conn.key] = conn
        else:
            dest.inactconns += 1
            self.conns[conn.key] = conn
            if conn.control is not None:
                conn.control.n_control += 1
        dest.update_overload_on_bind()
        return conn

    def set_state(self, conn: Conn, state: str, now: float) -> None:
        """A protocol state change: moves the counter across ESTABLISHED and re-arms."""
        was_active = conn.active
        conn.state = state
        if conn.active and not was_active:
            conn.dest.inactconns -= 1
            conn.dest.activeconns += 1
        elif was_active and not conn.active:
            conn.dest.activeconns -= 1
            conn.dest.inactconns += 1
        conn.expires = now + state_timeout(conn.proto, state)

    def expire(self, conn: Conn) -> None:
        """Remove the entry now and unbind it (ip_vs_unbind_dest)."""
        dest = conn.dest
        if conn.template:
            self.templates.pop(conn.key, None)
            dest.persistconns -= 1
        else:
            if self.conns.get(conn.key) is conn:
                del self.conns[conn.key]
            if conn.active:
                dest.activeconns -= 1
            else:
                dest.inactconns -= 1
            if conn.control is not None:
                conn.control.n_control -= 1
        dest.update_overload_on_unbind()

    def expire_due(self, now: float) -> list[Conn]:
        """Expire every entry whose timer ran out by `now`; templates after connections so
        a template freed in the same tick can go too."""
        gone = [c for c in self.conns.values() if c.expires <= now]
        for conn in gone:
            self.expire(conn)
        for tpl in [t for t in self.templates.values() if t.expires <= now]:
            if tpl.n_control > 0:
                tpl.expires += TEMPLATE_RETRY * (1 + (now - tpl.expires) // TEMPLATE_RETRY)
                continue
            self.expire(tpl)
            gone.append(tpl)
        return gone

    def all(self) -> list[Conn]:
        return [*self.conns.values(), *self.templates.values()]

    def flush(self) -> None:
        for conn in self.all():
            self.expire(conn)

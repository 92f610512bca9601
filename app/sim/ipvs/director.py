"""The IPVS director: its virtual services, connection table and sysctls, and what it does
with one request packet (ip_vs_core.c `ip_vs_in` + ip_vs_schedule).

Order of decisions for a packet to a virtual service:
1. an existing connection entry is followed -- except that a SYN reusing the entry of a
   quiesced (weight 0) dest with `expire_nodest_conn`, or of a TIME_WAIT/CLOSE entry with
   `conn_reuse_mode`, expires it and is scheduled afresh; with `conntrack=1` (kube-proxy) that
   SYN is dropped instead, and the client's retransmission is scheduled (the 1 s delay);
2. no entry: only a packet that may open a connection (TCP SYN unless `sloppy_tcp`; any UDP)
   is scheduled; a persistent service first looks for the client network's template;
3. nothing usable: ICMP port unreachable and drop (`ip_vs_leave`), for TCP too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from app.sim.ipvs.conn import Conn, ConnTable, first_state, tcp_input_state
from app.sim.ipvs.model import (
    F_PERSISTENT,
    Dest,
    IpvsError,
    Text,
    VirtualService,
    canonical,
    join,
    netmask_of,
)
from app.sim.ipvs.schedulers import SCHEDULERS
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, text

DEFAULT_SCHEDULER = "wlc"  # ipvsadm's DEF_SCHED


@dataclass
class Sysctls:
    """net.ipv4.vs.* knobs that change scheduling (kernel defaults; kube-proxy sets
    conntrack, expire_nodest_conn and expire_quiescent_template to 1)."""

    conntrack: bool = False
    expire_nodest_conn: bool = False
    expire_quiescent_template: bool = False
    conn_reuse_mode: int = 1
    sloppy_tcp: bool = False


@dataclass(frozen=True)
class Decision:
    """What IPVS did with a packet.

    `verdict`: `IPVS` (forwarded to `dest`), `ACCEPT` (not IPVS's business: the packet goes
    on up the local stack), `DROP`, or `REJECT` (ICMP port unreachable, no destination).
    `via`: `connection`, `persistence` or `scheduler`."""

    verdict: str
    reason: Text
    service: VirtualService | None = None
    dest: Dest | None = None
    conn: Conn | None = None
    via: str | None = None


@dataclass
class Ipvs:
    """One node's IPVS state: services in creation order, connections, sysctls."""

    services: dict[tuple[str, str, int, int], VirtualService] = field(default_factory=dict)
    conns: ConnTable = field(default_factory=ConnTable)
    sysctls: Sysctls = field(default_factory=Sysctls)

    # --- configuration (ipvsadm -A/-E/-D/-a/-e/-d/-C) ---------------------------------
    def add_service(
        self,
        protocol: str,
        addr: str,
        port: int,
        scheduler: str = DEFAULT_SCHEDULER,
        *,
        timeout: int = 0,
        netmask: str = "255.255.255.255",
        flags: int = 0,
    ) -> VirtualService:
        key = (protocol, canonical(addr), port, 0)
        if key in self.services:
            raise IpvsError("Service already exists")
        sched = _scheduler(scheduler)
        if timeout:
            flags |= F_PERSISTENT
        svc = VirtualService(protocol, key[1], port, sched, flags, timeout, netmask)
        self.services[key] = svc
        return svc

    def edit_service(
        self, svc: VirtualService, scheduler: str, timeout: int, netmask: str, flags: int
    ) -> None:
        """`ipvsadm -E`: a new scheduler is bound afresh over the current dests
        (ip_vs_edit_service), e.g. wrr then starts at cw = mw."""
        sched = _scheduler(scheduler)
        if sched is not svc.scheduler:
            svc.set_scheduler(sched)
        svc.flags = flags | (F_PERSISTENT if timeout else 0)
        svc.timeout = timeout
        svc.netmask = netmask

    def service(self, protocol: str, addr: str, port: int) -> VirtualService:
        svc = self.find_service(protocol, addr, port)
        if svc is None:
            raise IpvsError("No such service")
        return svc

    def find_service(self, protocol: str, addr: str, port: int) -> VirtualService | None:
        return self.services.get((protocol, canonical(addr), port, 0))

    def delete_service(self, svc: VirtualService) -> None:
        for conn in [c for c in self.conns.all() if c.service is svc]:
            self.conns.expire(conn)
        del self.services[svc.key]

    def add_dest(self, svc: VirtualService, addr: str, port: int, **opts: int | str) -> Dest:
        if svc.find(addr, port) is not None:
            raise IpvsError("Destination already exists")
        dest = Dest(canonical(addr), port, **opts)  # type: ignore[arg-type]
        svc.add_dest(dest)
        return dest

    def dest(self, svc: VirtualService, addr: str, port: int) -> Dest:
        dest = svc.find(addr, port)
        if dest is None:
            raise IpvsError("No such destination")
        return dest

    def clear(self) -> None:
        """`ipvsadm -C`: every service, and with them every connection."""
        self.conns.flush()
        self.services.clear()

    def zero(self) -> None:
        """`ipvsadm -Z`: zero all counters."""
        for svc in self.services.values():
            svc.stats.zero()
            for d in svc.dests:
                d.stats.zero()

    # --- the data path -----------------------------------------------------------------
    def process(
        self,
        protocol: str,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        *,
        syn: bool = True,
        now: float = 0.0,
        rng: random.Random | None = None,
        length: int = 60,
        tcp_flags: frozenset[str] | None = None,
    ) -> Decision:
        """One packet from a client to `dst:dport` arriving at LOCAL_IN (priority 99).
        With `tcp_flags` (e.g. {"ACK"}) a TCP packet also moves its entry's IPVS state
        (the INPUT column of tcp_states) and `syn` is read from them."""
        if tcp_flags is not None:
            syn = "SYN" in tcp_flags and "ACK" not in tcp_flags
        self.conns.expire_due(now)
        svc = self.find_service(protocol, dst, dport)
        if svc is None:
            return Decision("ACCEPT", _no_service(protocol, dst, dport))
        req = Request(src, sport, dst, dport, rng or random.Random(0), now)
        decision = self._existing(svc, req, protocol, syn)
        if decision is not None and decision.conn is not None and tcp_flags and protocol == "TCP":
            state = tcp_input_state(decision.conn.state, tcp_flags)
            if state is not None:
                self.conns.set_state(decision.conn, state, now)
        if decision is None:
            decision = self._new(svc, req, protocol, syn)
        if decision.conn is not None:
            _count(svc, decision.conn.dest, length)
        return decision

    def _existing(
        self, svc: VirtualService, req: Request, proto: str, syn: bool
    ) -> Decision | None:
        conn = self.conns.lookup((proto, req.src, req.sport, req.dst, req.dport))
        if conn is None:
            return None
        if syn and proto != "UDP" and self._must_reschedule(conn):
            self.conns.expire(conn)
            if self.sysctls.conntrack:
                return Decision("DROP", _reuse_drop(conn), svc, conn.dest, None, "connection")
            return None
        if not conn.dest.available:
            if self.sysctls.expire_nodest_conn:
                self.conns.expire(conn)
            return Decision("DROP", _dest_gone(conn), svc, conn.dest, None, "connection")
        if proto == "UDP":
            self.conns.set_state(conn, "UDP", req.now)  # refresh the timer
        return Decision(
            "IPVS",
            text(
                f"existing IPVS connection entry -> {conn.dest.key} (no scheduling)",
                f"已有 IPVS 连接表项 -> {conn.dest.key}（不再调度）",
            ),
            svc,
            conn.dest,
            conn,
            "connection",
        )

    def _must_reschedule(self, conn: Conn) -> bool:
        if self.sysctls.expire_nodest_conn and conn.dest.weight == 0:
            return True
        return bool(
            self.sysctls.conn_reuse_mode
            and conn.control is None
            and conn.state in ("TIME_WAIT", "CLOSE", "CLOSED")
        )

    def _new(self, svc: VirtualService, req: Request, proto: str, syn: bool) -> Decision:
        if proto == "TCP" and not syn and not self.sysctls.sloppy_tcp:
            return Decision("ACCEPT", _not_syn(), svc)
        template = None
        if svc.persistent:
            pick, template, via = self._persistent(svc, req, proto)
        else:
            pick, via = svc.scheduler.schedule(svc, req), "scheduler"
        if pick.dest is None:
            return Decision("REJECT", _no_destination(pick.reason), svc, None, None, via)
        conn = Conn(
            proto, req.src, req.sport, req.dst, req.dport, pick.dest, svc,
            first_state(proto), 0.0, control=template,
        )  # fmt: skip
        self.conns.bind(conn)
        self.conns.set_state(conn, conn.state, req.now)
        svc.stats.conns += 1
        pick.dest.stats.conns += 1
        return Decision("IPVS", pick.reason, svc, pick.dest, conn, via)

    def _persistent(
        self, svc: VirtualService, req: Request, proto: str
    ) -> tuple[Pick, Conn | None, str]:
        """ip_vs_sched_persist: reuse the client network's template while it is valid."""
        cnet = netmask_of(req.src, svc.netmask)
        vport = 0 if svc.port in (0, 21) else svc.port
        key = (proto, cnet, 0, req.dst, vport)
        tpl = self.conns.templates.get(key)
        if tpl is not None and self._template_ok(tpl):
            tpl.expires = req.now + tpl.timeout  # every new connection re-arms it
            reason = text(
                f"persistence: client {cnet} has a template for {tpl.dest.key} "
                f"(timeout {svc.timeout} s); the scheduler is not consulted",
                f"会话保持：客户端 {cnet} 已有指向 {tpl.dest.key} 的模板"
                f"（超时 {svc.timeout} 秒）；不再询问调度器",
            )
            return Pick(tpl.dest, reason), tpl, "persistence"
        if tpl is not None:
            tpl.n_control = 0  # invalidated: its connections no longer keep it alive
            self.conns.expire(tpl)
        pick = svc.scheduler.schedule(svc, req)
        if pick.dest is None:
            return pick, None, "scheduler"
        tpl = Conn(proto, cnet, 0, req.dst, vport, pick.dest, svc, "NONE",
                   req.now + svc.timeout, template=True, timeout=svc.timeout)  # fmt: skip
        self.conns.bind(tpl)
        return pick, tpl, "scheduler"

    def _template_ok(self, tpl: Conn) -> bool:
        """ip_vs_check_template."""
        dest = tpl.dest
        if not dest.available:
            return False
        return not (self.sysctls.expire_quiescent_template and dest.weight == 0)

    def tcp_event(self, conn: Conn, state: str, now: float) -> None:
        """Move a TCP connection to `state` (ESTABLISHED once the handshake completes,
        TIME_WAIT/CLOSE when it ends), updating the active/inactive counters."""
        self.conns.set_state(conn, state, now)


def _scheduler(name: str) -> Scheduler:
    sched = SCHEDULERS.get(name)
    if sched is None:
        raise IpvsError("Scheduler or persistence engine not found")
    return sched


def _count(svc: VirtualService, dest: Dest, length: int) -> None:
    for stats in (svc.stats, dest.stats):
        stats.inpkts += 1
        stats.inbytes += length


def _no_service(proto: str, dst: str, dport: int) -> Text:
    vs = f"{proto} {join(dst, dport)}"
    return text(
        f"no virtual server {vs}: IPVS lets the packet go on to the local stack",
        f"没有虚拟服务器 {vs}：IPVS 放行，数据包继续交给本机协议栈",
    )


def _not_syn() -> Text:
    return text(
        "no IPVS connection entry and the packet is not a SYN: not scheduled",
        "没有 IPVS 连接表项，且不是 SYN：不调度",
    )


def _no_destination(reason: Text) -> Text:
    return {
        "en": reason["en"] + "; IPVS answers ICMP port unreachable and drops the packet",
        "zh": reason["zh"] + "；IPVS 回复 ICMP port unreachable 并丢弃数据包",
    }


def _reuse_drop(conn: Conn) -> Text:
    return text(
        f"a SYN reuses the entry to {conn.dest.key}: the entry is expired and, because "
        "net.ipv4.vs.conntrack=1, this SYN is dropped; the client's retransmission is scheduled",
        f"SYN 复用了指向 {conn.dest.key} 的表项：表项被删除；由于 net.ipv4.vs.conntrack=1，"
        "这个 SYN 被丢弃，客户端重传的 SYN 才会重新调度",
    )


def _dest_gone(conn: Conn) -> Text:
    return text(
        f"the entry's real server {conn.dest.key} was deleted: the packet is dropped",
        f"表项的 real server {conn.dest.key} 已被删除：丢弃数据包",
    )

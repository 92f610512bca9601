"""`ipvsadm` output, byte for byte (ipvsadm.c print_title / print_service_entry /
list_conn, libipvs.c ipvs_cmp_services / ipvs_cmp_dests).

* `-Ln`: version line, two title lines, per service `"%s %s"` (name, scheduler) plus
  ` (flags)`, ` persistent T [mask M] [pe P]`, ` ops`; per real server
  `"  -> %-28s %-7s %-6d %-10u %-10u"` -- trailing blanks included.
* `--stats`/`--rate`: `%-33s` then each counter as `%9llu`, or `%8llu` + K/M/G/T.
* `--thresholds`, `--persistent-conn`: their own titles and real-server columns.
* `-Lnc`: `"%-3s %-6s %-11s %-18s %-18s %s"` with the expiry as `%02d:%02d` (m:s).
* Sorting (unless `--nosort`): services by fwmark, family, protocol number, address,
  port; dests by address, port. Addresses compare as `ntohl(a) - ntohl(b)` read as a signed
  int, so two addresses more than 2^31 apart sort "backwards", as ipvsadm does.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from app.sim.ipvs.conn import Conn
from app.sim.ipvs.director import Ipvs
from app.sim.ipvs.model import (
    F_ONEPACKET,
    F_SCHED1,
    F_SCHED2,
    F_SCHED3,
    PROTOCOLS,
    Dest,
    VirtualService,
    join,
)

VERSION = "1.2.1"  # IP_VS_VERSION_CODE 0x010201
CONN_TAB_SIZE = 4096  # CONFIG_IP_VS_TAB_BITS = 12
TIMEOUTS = (900, 120, 300)  # tcp, tcpfin, udp (`ipvsadm -L --timeout`)


@dataclass(frozen=True)
class ListFormat:
    """Which `-L` variant: stats, rate, thresholds, persistent_conn, nosort, exact."""

    stats: bool = False
    rate: bool = False
    thresholds: bool = False
    persistent_conn: bool = False
    nosort: bool = False
    exact: bool = False


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _addr_words(addr: str) -> list[int]:
    ip = ipaddress.ip_address(addr)
    if ip.version == 4:
        return [int(ip)]
    n = int(ip)
    return [(n >> s) & 0xFFFFFFFF for s in (96, 64, 32, 0)]


def _cmp_addr(a: str, b: str) -> int:
    for x, y in zip(_addr_words(a), _addr_words(b), strict=False):
        r = _signed32(x - y)
        if r:
            return r
    return 0


def _cmp_services(s1: VirtualService, s2: VirtualService) -> int:
    for r in (
        s1.fwmark - s2.fwmark,
        int(s1.ipv6) - int(s2.ipv6),  # AF_INET (2) < AF_INET6 (10)
        PROTOCOLS[s1.protocol] - PROTOCOLS[s2.protocol],
        _cmp_addr(s1.addr, s2.addr) if s1.ipv6 == s2.ipv6 else 0,
    ):
        if r:
            return r
    return s1.port - s2.port


def _cmp_dests(d1: Dest, d2: Dest) -> int:
    return _cmp_addr(d1.addr, d2.addr) or d1.port - d2.port


def sorted_services(ipvs: Ipvs, nosort: bool = False) -> list[VirtualService]:
    services = list(ipvs.services.values())
    return services if nosort else sorted(services, key=functools.cmp_to_key(_cmp_services))


def sorted_dests(svc: VirtualService, nosort: bool = False) -> list[Dest]:
    return list(svc.dests) if nosort else sorted(svc.dests, key=functools.cmp_to_key(_cmp_dests))


def largenum(i: int, exact: bool = False) -> str:
    """print_largenum."""
    if exact:
        width = len(str(i))
        return f"{i:>{9 if width <= 8 else width + 1}}"
    for limit, div, unit in ((10**9, 10**3, "K"), (10**11, 10**6, "M"), (10**14, 10**9, "G")):
        if i < 10**8:
            return f"{i:9d}"
        if i < limit:
            return f"{i // div:8d}{unit}"
    return f"{i // 10**12:8d}T"


def _title(fmt: ListFormat) -> list[str]:
    sub = "  -> RemoteAddress:Port"
    head = "Prot LocalAddress:Port"
    if fmt.stats:
        cols = ("Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
        return [f"{head:<33s} " + " ".join(f"{c:>8s}" for c in cols), sub]
    if fmt.rate:
        cols = ("CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
        return [f"{head:<33s} " + " ".join(f"{c:>8s}" for c in cols), sub]
    if fmt.thresholds:
        cols = ("Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
        return [f"{head:<33s} " + " ".join(f"{c:<10s}" for c in cols), sub]
    if fmt.persistent_conn:
        return [f"{head:<33s} {'Weight':<9s} {'PersistConn':<11s} {'ActiveConn':<10s} "
                f"{'InActConn':<10s}", sub]  # fmt: skip
    return [
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
    ]


def sched_flags(svc: VirtualService) -> str:
    """print_sched_flags: sh and mh name their two flags, other schedulers flag-1..3."""
    names = {"sh": ("sh-fallback", "sh-port"), "mh": ("mh-fallback", "mh-port")}
    first, second = names.get(svc.scheduler.name, ("flag-1", "flag-2"))
    out = []
    if svc.flags & F_SCHED1:
        out.append(first)
    if svc.flags & F_SCHED2:
        out.append(second)
    if svc.flags & F_SCHED3:
        out.append("flag-3")
    return ",".join(out)


def service_name(svc: VirtualService) -> str:
    name = svc.name
    return name if svc.ipv6 else name[:33]  # svc_name[33] = '\0' for IPv4


def _service_line(svc: VirtualService, fmt: ListFormat) -> str:
    name = service_name(svc)
    if fmt.stats or fmt.rate:
        s = svc.stats
        values = (s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes) if fmt.stats else (0,) * 5
        return f"{name:<33s}" + "".join(largenum(v, fmt.exact) for v in values)
    line = f"{name} {svc.scheduler.name}"
    if svc.flags & (F_SCHED1 | F_SCHED2 | F_SCHED3):
        line += f" ({sched_flags(svc)})"
    if svc.persistent:
        line += f" persistent {svc.timeout}"
        if not svc.ipv6 and svc.netmask != "255.255.255.255":
            line += f" mask {svc.netmask}"
        if svc.ipv6 and svc.netmask not in ("128", "255.255.255.255"):
            line += f" mask {svc.netmask}"
    if svc.flags & F_ONEPACKET:
        line += " ops"
    return line


def _dest_line(svc: VirtualService, d: Dest, fmt: ListFormat) -> str:
    dname = d.key if svc.ipv6 else d.key[:28]
    if fmt.stats:
        s = d.stats
        values = (s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes)
        return f"  -> {dname:<28s}" + "".join(largenum(v, fmt.exact) for v in values)
    if fmt.rate:
        # The simulator keeps no rate estimator: every rate is 0.
        return f"  -> {dname:<28s} {0:8d} {0:8d} {0:8d}" + largenum(0, fmt.exact) * 2
    if fmt.thresholds:
        return (f"  -> {dname:<28s} {d.u_threshold:<10d} {d.l_threshold:<10d} "
                f"{d.activeconns:<10d} {d.inactconns:<10d}")  # fmt: skip
    if fmt.persistent_conn:
        return (f"  -> {dname:<28s} {d.weight:<9d} {d.persistconns:<11d} "
                f"{d.activeconns:<10d} {d.inactconns:<10d}")  # fmt: skip
    return f"  -> {dname:<28s} {d.fwd:<7s} {d.weight:<6d} {d.activeconns:<10d} {d.inactconns:<10d}"


def list_services(
    ipvs: Ipvs, fmt: ListFormat = ListFormat(), only: VirtualService | None = None
) -> str:
    """`ipvsadm -Ln [...]` (all services), or `-Ln -t VIP:port` for `only` (no version
    line, as list_service prints just the title and the one service)."""
    lines = [] if only else [f"IP Virtual Server version {VERSION} (size={CONN_TAB_SIZE})"]
    lines += _title(fmt)
    for svc in [only] if only else sorted_services(ipvs, fmt.nosort):
        lines.append(_service_line(svc, fmt))
        lines += [_dest_line(svc, d, fmt) for d in sorted_dests(svc, fmt.nosort)]
    return "\n".join(lines) + "\n"


def _expire(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60:02d}:{s % 60:02d}"


def conn_line(conn: Conn, now: float) -> str:
    state = "UDP" if conn.proto == "UDP" and not conn.template else conn.state
    return (
        f"{conn.proto:<3s} {_expire(conn.expires - now):<6s} {state:<11s} "
        f"{join(conn.caddr, conn.cport):<18s} {join(conn.vaddr, conn.vport):<18s} "
        f"{join(conn.dest.addr, conn.dest.port)}"
    )


def list_connections(ipvs: Ipvs, now: float = 0.0) -> str:
    """`ipvsadm -Lnc`: connections, then persistence templates (client port 0)."""
    lines = [
        "IPVS connection entries",
        f"pro expire {'state':<11s} {'source':<18s} {'virtual':<18s} destination",
    ]
    lines += [conn_line(c, now) for c in ipvs.conns.all()]
    return "\n".join(lines) + "\n"


def list_timeout() -> str:
    return "Timeout (tcp tcpfin udp): {} {} {}\n".format(*TIMEOUTS)


def save(ipvs: Ipvs) -> str:
    """`ipvsadm -Sn`: the rules that rebuild the table (`-A ... -s`, `-a ... -r ... -w`)."""
    lines = []
    switches = {"Masq": "-m", "Tunnel": "-i", "Route": "-g", "Local": "-g"}
    for svc in sorted_services(ipvs):
        opt = {"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service"}[svc.protocol]
        name = f"{opt} {join(svc.addr, svc.port)}"
        line = f"-A {name} -s {svc.scheduler.name}"
        if svc.persistent:
            line += f" -p {svc.timeout}"
            if svc.netmask not in ("255.255.255.255", "128"):
                line += f" -M {svc.netmask}"
        lines.append(line + (" ops" if svc.flags & F_ONEPACKET else ""))
        lines += [
            f"-a {name} -r {d.key} {switches[d.fwd]} -w {d.weight}" for d in sorted_dests(svc)
        ]
    return "".join(x + "\n" for x in lines)

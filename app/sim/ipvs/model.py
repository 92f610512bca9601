"""IPVS virtual services and real servers, as the kernel keeps them (include/net/ip_vs.h).

* Real servers (`Dest`) live in `VirtualService.dests` in **kernel list order**: a new one is
  inserted at the front (`list_add_rcu` in `__ip_vs_update_dest`), so the list is newest
  first. Every scheduler walks it from the front; `ipvsadm -Ln` sorts only for display.
* `overhead()` is `ip_vs_dest_conn_overhead`: active x 256 + inactive.
* The OVERLOAD flag follows the thresholds (ip_vs_conn.c `ip_vs_bind_dest` /
  `ip_vs_unbind_dest`); persistence templates never count.
* Every add/edit/delete tells the scheduler (`add_dest`/`upd_dest`/`del_dest` hooks), which
  rebuilds whatever table it keeps.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.sim.ipvs.schedulers.base import Scheduler

Text = dict[str, str]  # {"zh": ..., "en": ...}

# Service flags (include/uapi/linux/ip_vs.h).
F_PERSISTENT = 0x0001
F_HASHED = 0x0002
F_ONEPACKET = 0x0004
F_SCHED1 = 0x0008  # sh-fallback / mh-fallback
F_SCHED2 = 0x0010  # sh-port / mh-port
F_SCHED3 = 0x0020

PROTOCOLS = {"TCP": 6, "UDP": 17, "SCTP": 132}
FORWARD_METHODS = ("Masq", "Local", "Tunnel", "Route")


class IpvsError(ValueError):
    """A refused IPVS operation; `text` is ipvsadm's own wording (libipvs ipvs_strerror)."""


def join(addr: str, port: int) -> str:
    """`addr:port`, IPv6 in brackets (ipvsadm's and kube-proxy's spelling)."""
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


@dataclass
class Stats:
    """Per service / per real server counters (`ipvsadm -Ln --stats`)."""

    conns: int = 0
    inpkts: int = 0
    outpkts: int = 0
    inbytes: int = 0
    outbytes: int = 0

    def zero(self) -> None:
        self.conns = self.inpkts = self.outpkts = self.inbytes = self.outbytes = 0


@dataclass(eq=False)
class Dest:
    """A real server. `last_weight` is the latest non-zero weight (mh keeps its slots)."""

    addr: str
    port: int
    weight: int = 1
    fwd: str = "Masq"
    u_threshold: int = 0
    l_threshold: int = 0
    activeconns: int = 0
    inactconns: int = 0
    persistconns: int = 0
    overloaded: bool = False
    available: bool = True  # IP_VS_DEST_F_AVAILABLE: cleared when the dest is deleted
    last_weight: int = 0
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self.last_weight = self.weight

    @property
    def key(self) -> str:
        return join(self.addr, self.port)

    def overhead(self) -> int:
        """`ip_vs_dest_conn_overhead`: (activeconns << 8) + inactconns."""
        return (self.activeconns << 8) + self.inactconns

    def usable(self) -> bool:
        """Weight > 0 and not overloaded: what every scheduler requires of a new pick."""
        return self.weight > 0 and not self.overloaded

    def update_overload_on_bind(self) -> None:
        """ip_vs_bind_dest: set OVERLOAD when the upper threshold is reached."""
        if self.u_threshold and self.activeconns + self.inactconns >= self.u_threshold:
            self.overloaded = True

    def update_overload_on_unbind(self) -> None:
        """ip_vs_unbind_dest: clear OVERLOAD below the lower threshold (default 3/4 of the
        upper one), or at once when there are no thresholds."""
        conns = self.activeconns + self.inactconns
        if self.l_threshold:
            if conns < self.l_threshold:
                self.overloaded = False
        elif self.u_threshold:
            if conns * 4 < self.u_threshold * 3:
                self.overloaded = False
        else:
            self.overloaded = False


@dataclass(eq=False)
class VirtualService:
    """A virtual service: `protocol addr:port` (or a firewall mark), its scheduler and
    persistence, and its real servers in kernel list order (newest first)."""

    protocol: str
    addr: str
    port: int
    scheduler: Scheduler
    flags: int = 0
    timeout: int = 0  # persistence timeout in seconds (`-p`); 0 = not persistent
    netmask: str = "255.255.255.255"
    fwmark: int = 0
    dests: list[Dest] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    sched_state: Any = None

    def __post_init__(self) -> None:
        self.sched_state = self.scheduler.init_service(self)

    @property
    def persistent(self) -> bool:
        return bool(self.flags & F_PERSISTENT)

    @property
    def ipv6(self) -> bool:
        return ":" in self.addr

    @property
    def name(self) -> str:
        """ipvsadm's service name: `TCP  10.0.0.1:80` (two blanks) or `FWM  <mark>`."""
        if self.fwmark:
            return f"FWM  {self.fwmark}" + (" IPv6" if self.ipv6 else "")
        return f"{self.protocol}  {join(self.addr, self.port)}"

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.protocol, self.addr, self.port, self.fwmark)

    def find(self, addr: str, port: int) -> Dest | None:
        canon = canonical(addr)
        return next((d for d in self.dests if d.addr == canon and d.port == port), None)

    def add_dest(self, dest: Dest) -> None:
        """Insert at the FRONT of the list (kernel order), then let the scheduler know."""
        self.dests.insert(0, dest)
        self.scheduler.add_dest(self, dest)

    def edit_dest(self, dest: Dest, **changes: int | str) -> None:
        old_upper = dest.u_threshold
        for name, value in changes.items():
            setattr(dest, name, value)
        if dest.weight:
            dest.last_weight = dest.weight
        # Editing with no upper threshold, or a larger one, clears OVERLOAD
        # (__ip_vs_update_dest in ip_vs_ctl.c).
        if not dest.u_threshold or dest.u_threshold > old_upper:
            dest.overloaded = False
        self.scheduler.upd_dest(self, dest)

    def del_dest(self, dest: Dest) -> None:
        """Unlink the dest; its connections keep pointing at it, marked not AVAILABLE."""
        self.scheduler.del_dest(self, dest)
        self.dests.remove(dest)
        dest.available = False
        self.scheduler.dest_removed(self, dest)

    def set_scheduler(self, scheduler: Scheduler) -> None:
        """`ipvsadm -E -s`: unbind the old scheduler, bind and initialise the new one."""
        self.scheduler = scheduler
        self.sched_state = scheduler.init_service(self)


def canonical(addr: str) -> str:
    """Canonical text of an address (IPv6 compressed), or ValueError."""
    return str(ipaddress.ip_address(addr))


def netmask_of(addr: str, netmask: str) -> str:
    """The client network a persistence template is keyed by (`caddr & netmask`)."""
    ip = ipaddress.ip_address(addr)
    if ip.version == 6:
        bits = int(netmask) if netmask.isdigit() else 128
        return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False).network_address)
    mask = int(ipaddress.IPv4Address(netmask))
    return str(ipaddress.IPv4Address(int(ip) & mask))

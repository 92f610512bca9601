"""The node a packet meets: its interfaces, addresses, routes, sysctls and `-m addrtype`.

This is the context `trace` builds from the CONTRACTS.md `--packet` keys. It answers the three
questions the netfilter engine asks the rest of the IPv4 stack:

* the routing decision (local delivery, out of which interface, or dropped as a martian),
* the address type of an address (`-m addrtype`, iptables-extensions(8)),
* the address MASQUERADE picks on the outgoing interface (kernel-facts §5.8).

The node also keeps the kernel state that outlives one packet besides conntrack: the
`-m recent` lists (xt_recent is per network namespace), the per-rule state of `-m statistic
--mode nth`, and the ipsets.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from app.sim.netfilter.context import AddrType, RecentEntry

DEFAULT_NODE_IP = "192.168.49.2/24"
DEFAULT_POD_CIDR = ("10.244.0.0/16",)
DEFAULT_POD_IFACE = "cni0"
DEFAULT_GATEWAY = "192.168.49.1"
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
MULTICAST = ipaddress.ip_network("224.0.0.0/4")
LIMITED_BROADCAST = ipaddress.ip_address("255.255.255.255")
# Addresses are parsed once: a bulk request routes the same few addresses thousands of times.
_address = functools.lru_cache(maxsize=4096)(ipaddress.ip_address)
# Sysctl defaults of a fresh network namespace (ip-sysctl.rst), except ip_forward, which a
# Kubernetes node always turns on.
DEFAULT_SYSCTLS = {"net.ipv4.ip_forward": 1, "net.ipv4.conf.all.route_localnet": 0}


class NodeError(ValueError):
    """The node description is not usable (bad address, prefix or interface name)."""


@dataclass(frozen=True)
class Route:
    """The routing decision for one destination.

    `kind` is `local` (deliver to a socket on this node), `out` (send out of `iface`, to
    `gateway` or on-link when `gateway` is None) or `drop` (martian or unroutable; `reason`).
    """

    kind: str
    iface: str | None = None
    gateway: str | None = None
    reason: str | None = None


@dataclass
class Node:
    """One node's IPv4 stack as the engine needs it (see the module docstring).

    `node_ip` is the address with prefix on `eth0`; `local_ips` are more addresses on `eth0`
    (a /32 unless a prefix is given); `lo` holds 127.0.0.1/8. `pod_cidr` is routed out of
    `pod_iface`. `pod_iface_ip` (e.g. "10.244.1.1/24", a /24 unless a prefix is given) is the
    address of the pod bridge, as a CNI bridge plugin gives `cni0`; None (the default, and
    the project's kernel topology unless told otherwise) leaves `pod_iface` without one.
    """

    node_ip: str = DEFAULT_NODE_IP
    local_ips: list[str] = field(default_factory=list)
    pod_cidr: list[str] = field(default_factory=lambda: list(DEFAULT_POD_CIDR))
    pod_iface: str = DEFAULT_POD_IFACE
    pod_iface_ip: str | None = None
    uplink: str = "eth0"
    gateway: str = DEFAULT_GATEWAY
    sysctls: dict[str, int] = field(default_factory=dict)
    recent: dict[str, dict[str, RecentEntry]] = field(default_factory=dict)
    ipsets: dict[str, set[tuple[Any, ...]]] = field(default_factory=dict)
    rule_state: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            primary = _interface(self.node_ip, 24)
            extra = [_interface(ip, 32) for ip in self.local_ips]
            bridge = [_interface(self.pod_iface_ip, 24)] if self.pod_iface_ip else []
            self._pods = [ipaddress.ip_network(c, strict=False) for c in self.pod_cidr]
            ipaddress.ip_address(self.gateway)
        except ValueError as err:
            raise NodeError(f"bad node address: {err}") from None
        if not self.pod_iface or self.pod_iface in (self.uplink, "lo"):
            raise NodeError(f"bad pod_iface: {self.pod_iface!r}")
        # Interface addresses, primary first (`ip -4 addr show` order).
        self.addresses: dict[str, list[ipaddress.IPv4Interface]] = {
            "lo": [ipaddress.ip_interface("127.0.0.1/8")],
            self.uplink: [primary, *extra],
            self.pod_iface: bridge,
        }

    # -- sysctls -------------------------------------------------------------------------
    def sysctl(self, key: str) -> int:
        """A sysctl's value; `conf.all.X` and `conf.<iface>.X` are both honoured by callers."""
        return int(self.sysctls.get(key, DEFAULT_SYSCTLS.get(key, 0)))

    def route_localnet(self, iface: str | None) -> bool:
        """IN_DEV_ROUTE_LOCALNET: the `all` switch or the interface's own (devinet.c ORs them)."""
        own = self.sysctl(f"net.ipv4.conf.{iface}.route_localnet") if iface else 0
        return bool(self.sysctl("net.ipv4.conf.all.route_localnet") or own)

    # -- addresses -----------------------------------------------------------------------
    def is_local(self, ip: str) -> bool:
        """True for the node's own addresses and all of 127.0.0.0/8 (the `local` table)."""
        addr = _address(ip)
        return addr in LOOPBACK or any(a.ip == addr for a in self._all_addresses())

    def addrtype(self, ip: str, iface: str | None = None) -> AddrType:
        """The route type of `ip` as `-m addrtype` sees it (xt_addrtype.c, inet_addr_type).

        With `iface` (`--limit-iface-in/out`) only that interface's addresses count as LOCAL,
        as inet_dev_addr_type() looks in the device's own routing table view.
        """
        addr = _address(ip)
        if addr in MULTICAST:
            return AddrType.MULTICAST
        if addr == LIMITED_BROADCAST or self._is_subnet_broadcast(addr, iface):
            return AddrType.BROADCAST
        if iface is None and self.is_local(ip):
            return AddrType.LOCAL
        if iface is not None and any(a.ip == addr for a in self.addresses.get(iface, [])):
            return AddrType.LOCAL
        if iface == "lo" and addr in LOOPBACK:
            return AddrType.LOCAL
        return AddrType.UNICAST

    def _is_subnet_broadcast(self, addr: ipaddress.IPv4Address, iface: str | None) -> bool:
        ifaces = [iface] if iface else list(self.addresses)
        return any(
            a.network.prefixlen < 31 and addr == a.network.broadcast_address
            for name in ifaces
            for a in self.addresses.get(name, [])
            if name != "lo"
        )

    def _all_addresses(self) -> list[ipaddress.IPv4Interface]:
        return [a for addrs in self.addresses.values() for a in addrs]

    # -- routing -------------------------------------------------------------------------
    def route(self, dst: str, in_iface: str | None = None) -> Route:
        """The routing decision for `dst`, for a packet that arrived on `in_iface`
        (None: generated by a local process).

        A packet from the wire to 127.0.0.0/8 is a martian unless route_localnet is set
        (ip_route_input_slow, `martian_destination`); a broadcast is received locally
        (`brd_input`), a multicast the node did not join is not forwarded (no multicast
        routing here); forwarding needs ip_forward.
        """
        addr = _address(dst)
        from_wire = in_iface not in (None, "lo")
        if addr in LOOPBACK and from_wire and not self.route_localnet(in_iface):
            return Route("drop", reason="martian destination (127.0.0.0/8 without route_localnet)")
        if self.is_local(dst):
            return Route("local", iface="lo")
        kind = self.addrtype(dst)
        if from_wire and kind is AddrType.BROADCAST:
            return Route("local", iface="lo")
        if from_wire and kind is AddrType.MULTICAST:
            return Route("drop", reason="multicast group not joined and no multicast routing")
        if from_wire and not self.sysctl("net.ipv4.ip_forward"):
            return Route("drop", reason="not forwarded: net.ipv4.ip_forward=0")
        # The pod networks, and the bridge's own subnet (the kernel adds that connected
        # route when the address is assigned: fib_add_ifaddr in net/ipv4/fib_frontend.c).
        bridge = [a.network for a in self.addresses[self.pod_iface]]
        if any(addr in net for net in [*self._pods, *bridge]):
            return Route("out", iface=self.pod_iface)
        if any(addr in a.network for a in self.addresses[self.uplink]):
            return Route("out", iface=self.uplink)
        return Route("out", iface=self.uplink, gateway=self.gateway)

    def masquerade_address(self, iface: str, next_hop: str) -> str | None:
        """The source MASQUERADE picks (kernel-facts §5.8: inet_select_addr(out, nh, UNIVERSE)).

        A primary address of `iface` whose subnet holds the next hop wins, else its first
        primary address; an interface without one falls back to the first global address of
        the other devices in order (lo's 127.0.0.1 has host scope and never qualifies).
        """
        nh = _address(next_hop)
        own = [a for a in self.addresses.get(iface, []) if a.ip not in LOOPBACK]
        for a in own:
            if nh in a.network:
                return str(a.ip)
        if own:
            return str(own[0].ip)
        for name, addrs in self.addresses.items():
            for a in addrs:
                if name != iface and a.ip not in LOOPBACK:
                    return str(a.ip)
        return None


def _interface(text: str, default_prefix: int) -> ipaddress.IPv4Interface:
    value = str(text)
    iface = ipaddress.ip_interface(value if "/" in value else f"{value}/{default_prefix}")
    if iface.version != 4:
        raise ValueError(f"{text} is not an IPv4 address")
    return iface  # type: ignore[return-value]

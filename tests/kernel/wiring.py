"""How the kernel-test topology is wired: the node a packet meets (CONTRACTS.md `trace`
input), the `ip` commands and sysctls of its three namespaces, and the harness's own
nf_tables table. harness.py runs them; nothing here touches the system.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from .assemble import DELIVERED_CHAIN, HARNESS_TABLE, LEAVING_CHAIN, SENTINEL_CHAIN

IP_TRANSPARENT = 19  # linux/in.h: bind and send from an address the host does not own
SENTINEL_PORT = 65432
END_ACTION = "meta nftrace set 1 drop"  # the sentinel is traced, then goes no further
POD_GATEWAY = "169.254.1.1"  # the pod's next hop, pinned to the node's pod-side MAC
MAC = {"node-eth0": "02:6b:70:00:00:01", "ext": "02:6b:70:00:00:02",
       "node-pod": "02:6b:70:00:00:03", "pod": "02:6b:70:00:00:04"}  # fmt: skip


@dataclass(frozen=True)
class NodeConfig:
    """The node a packet meets (CONTRACTS.md `trace` input); equal configs share a topology."""

    node_ip: str = "192.168.49.2/24"
    local_ips: tuple[str, ...] = ()
    pod_cidr: tuple[str, ...] = ("10.244.0.0/16",)
    pod_iface: str = "cni0"
    sysctls: tuple[tuple[str, object], ...] = ()
    pod_iface_ip: str | None = None  # the bridge's own address; None: no address

    @classmethod
    def of(cls, packet: dict[str, Any]) -> NodeConfig:
        return cls(
            node_ip=packet.get("node_ip", cls.node_ip),
            local_ips=tuple(packet.get("local_ips", ())),
            pod_cidr=tuple(packet.get("pod_cidr", cls.pod_cidr)),
            pod_iface=packet.get("pod_iface", cls.pod_iface),
            sysctls=tuple(sorted(packet.get("sysctls", {}).items())),
            pod_iface_ip=packet.get("pod_iface_ip"),
        )

    @property
    def bridge(self) -> ipaddress.IPv4Interface | None:
        """`pod_iface_ip` with its prefix (/24 when none is given, as the engine reads it)."""
        if self.pod_iface_ip is None:
            return None
        ip = self.pod_iface_ip
        return ipaddress.IPv4Interface(ip if "/" in ip else f"{ip}/24")

    @property
    def interface(self) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(
            self.node_ip if "/" in self.node_ip else f"{self.node_ip}/24"
        )

    @property
    def addresses(self) -> set[ipaddress.IPv4Address]:
        extra = {ipaddress.IPv4Interface(ip).ip for ip in self.local_ips}
        return {self.interface.ip, *extra}

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """The client side: 192.168.49.1 by default, else the subnet's first free host."""
        return next(h for h in self.interface.network.hosts() if h not in self.addresses)


def full_packet(packet: dict[str, Any]) -> dict[str, Any]:
    """The packet with CONTRACTS.md defaults filled in; a ValueError names a bad key."""
    for key in ("origin", "src", "dst", "proto", "sport", "dport"):
        if key not in packet:
            raise ValueError(f"packet lacks {key!r}")
    if packet["origin"] not in ("external", "local"):
        raise ValueError("origin must be 'external' or 'local'")
    if packet["proto"] not in ("tcp", "udp"):
        raise ValueError("proto must be 'tcp' or 'udp'")
    for key in ("src", "dst"):
        ipaddress.IPv4Address(packet[key])
    return {"in_iface": "eth0", **packet}


def node_commands(cfg: NodeConfig, ext: str, pod: str) -> list[str]:
    """`ip -batch` lines that wire the node namespace (run inside it)."""
    pod_if = cfg.pod_iface
    cmds = [
        "link set lo up",
        f"link add eth0 address {MAC['node-eth0']} type veth"
        f" peer name ceth0 address {MAC['ext']} netns {ext}",
        f"link add {pod_if} address {MAC['node-pod']} type veth"
        f" peer name eth0 address {MAC['pod']} netns {pod}",
        f"addr add {cfg.interface} dev eth0",
    ]
    cmds += [f"addr add {ipaddress.IPv4Interface(ip)} dev eth0" for ip in cfg.local_ips]
    if cfg.bridge is not None:
        cmds.append(f"addr add {cfg.bridge} dev {pod_if}")
    # NOARP on both node links: a packet sent out leaves at once (the peer drops it)
    # instead of waiting ~3 s for an ARP answer while holding its conntrack entry. Such
    # a lingering entry would still be found by NAT's source lookup (nf_nat_core.c,
    # find_appropriate_src) and change the port MASQUERADE picks for the next packet.
    cmds += ["link set eth0 arp off up", f"link set {pod_if} arp off up"]
    # The bridge address brings its connected route; a pod CIDR equal to it exists already.
    connected = cfg.bridge.network if cfg.bridge is not None else None
    cmds += [
        f"route add {cidr} dev {pod_if}"
        for cidr in cfg.pod_cidr
        if ipaddress.ip_network(cidr, strict=False) != connected
    ]
    cmds += [
        f"route add default via {cfg.gateway} dev eth0",
        f"neigh replace {cfg.gateway} lladdr {MAC['ext']} dev eth0 nud permanent",
    ]
    return cmds


def ext_commands(cfg: NodeConfig) -> list[str]:
    """The client side: owns the gateway address, sends everything to the node."""
    return [
        "link set lo up",
        f"addr add {cfg.gateway}/{cfg.interface.network.prefixlen} dev ceth0",
        "link set ceth0 up",
        f"route add default via {cfg.interface.ip} dev ceth0",
        f"neigh replace {cfg.interface.ip} lladdr {MAC['node-eth0']} dev ceth0 nud permanent",
    ]


def pod_commands() -> list[str]:
    """The pod side: no address of its own (senders use IP_TRANSPARENT), node as gateway."""
    return [
        "link set lo up",
        "link set eth0 up",
        f"neigh replace {POD_GATEWAY} lladdr {MAC['node-pod']} dev eth0 nud permanent",
        f"route add default via {POD_GATEWAY} dev eth0 onlink",
    ]


def sysctls(cfg: NodeConfig) -> tuple[dict[str, object], dict[str, object]]:
    """(node, ext and pod) sysctls: a forwarding node without reverse-path filtering, plus the
    packet's own `sysctls` (they win)."""
    # A new namespace copies IPv4 forwarding from the host's (net.core.devconf_inherit_init_net
    # = 0, the default): on a host where Docker turned forwarding on, the client namespace
    # would route a packet the node sent back to it straight back again, a loop that floods
    # the trace monitor (ENOBUFS). The client and the pod are hosts, so they never forward.
    quiet: dict[str, object] = {"net.ipv4.conf.all.rp_filter": 0,
                                "net.ipv4.conf.default.rp_filter": 0,
                                "net.ipv4.ip_forward": 0}  # fmt: skip
    node = {
        **quiet,
        "net.ipv4.ip_forward": 1,
        "net.ipv4.conf.eth0.rp_filter": 0,
        f"net.ipv4.conf.{cfg.pod_iface}.rp_filter": 0,
        # A client routed back out of eth0 would get ICMP redirects: noise, not needed.
        "net.ipv4.conf.all.send_redirects": 0,
        "net.ipv4.conf.eth0.send_redirects": 0,
    }
    return {**node, **dict(cfg.sysctls)}, quiet


def harness_table(cfg: NodeConfig, track_all: bool) -> str:
    """The harness's own nf_tables table (`nft list table ip kplab_obs`):

    * `sentinel` (prerouting, before raw): traces and drops the end-of-trace packet.
      With `track_all`, a `ct state` expression there makes the kernel track every
      connection in the namespace (nf_ct_netns_get), as on a node where anything else
      uses conntrack. Without it the kernel tracks only when the ruleset asks for it (a
      NAT target, `-m conntrack`, ...): a nat table with no NAT target is then skipped
      altogether, which is the kernel's own behaviour and what the engine must show.
    * `delivered` (input) / `leaving` (postrouting), priority 1000: after every iptables
      table, so their policy events show the packet's final headers and interface.
    """
    return f"""table ip {HARNESS_TABLE} {{
  chain {SENTINEL_CHAIN} {{ type filter hook prerouting priority -450; policy accept;
ip saddr {cfg.gateway} ip daddr {cfg.interface.ip} udp dport {SENTINEL_PORT} {END_ACTION}
{"ct state untracked counter" if track_all else ""}
  }}
  chain {DELIVERED_CHAIN} {{ type filter hook input priority 1000; policy accept; }}
  chain {LEAVING_CHAIN} {{ type filter hook postrouting priority 1000; policy accept; }}
}}
"""

"""kube-proxy's configuration and the node it runs on (the `node:` and `proxy:` parts of
cluster.yaml), read into frozen dataclasses with clear errors for bad input."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.sim.kubeproxy import fields
from app.sim.kubeproxy.fields import StateError
from app.sim.kubeproxy.ips import AddressError, IPAddress, family_of, parse_cidr, parse_ip

DEFAULT_MARK = "0x4000"  # what the upstream tests inject; see ProxyOptions.masquerade_mark
DEFAULT_SYNC_PERIOD = 30.0  # KubeProxyIPTablesConfiguration.SyncPeriod default (seconds)


@dataclass(frozen=True)
class NodeInfo:
    """The proxier's node: its name (endpoints with this nodeName are local), its primary IP
    and its interface addresses (`ip/len` strings, per interface, in order)."""

    name: str = "test-node"
    primary_ip: str = "192.168.0.2"
    interfaces: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def addresses(self, family: str | None = None) -> list[IPAddress]:
        """Interface addresses (of one family if given), deduplicated, in interface order."""
        seen: list[IPAddress] = []
        for _iface, addrs in self.interfaces:
            for text in addrs:
                ip = parse_ip(text.partition("/")[0])
                if (family is None or family_of(ip) == family) and ip not in seen:
                    seen.append(ip)
        return seen


@dataclass(frozen=True)
class ProxyOptions:
    """The iptables-mode knobs (kube-proxy flags and host capabilities).

    * `masquerade_mark`: the literal mark string; a real kube-proxy prints `1 << bit` with
      Go's `%#08x` (`0x00004000`), the upstream tests inject `0x4000`.
    * `local_detector_cidr`: pod CIDR of the ClusterCIDR detector; None = no-op detector.
    * `nodeport_addresses`: `--nodeport-addresses` CIDRs; empty = all local addresses.
    * `random_fully`: the installed iptables supports `--random-fully`.
    * `conntrack_tcp_liberal`: the host has `nf_conntrack_tcp_be_liberal` set.
    * `nfacct_counters`: the nfacct objects kube-proxy managed to create.
    """

    family: str = "IPv4"
    masquerade_all: bool = False
    masquerade_mark: str = DEFAULT_MARK
    local_detector_cidr: str | None = None
    localhost_nodeports: bool = True
    nodeport_addresses: tuple[str, ...] = ()
    random_fully: bool = False
    conntrack_tcp_liberal: bool = False
    nfacct_counters: frozenset[str] = frozenset()
    sync_period: float = DEFAULT_SYNC_PERIOD

    @property
    def ipv6(self) -> bool:
        return self.family == "IPv6"

    def nodeport_cidrs(self) -> list[str]:
        """`--nodeport-addresses` of this family (NewNodePortAddresses ignores the others)."""
        cidrs = [parse_cidr(c) for c in self.nodeport_addresses]
        return [str(c) for c in cidrs if family_of(c) == self.family]

    def nodeports_match_all(self) -> bool:
        """No usable CIDR, or a zero CIDR: NodePorts on every local address."""
        cidrs = self.nodeport_cidrs()
        return not cidrs or any(c in ("0.0.0.0/0", "::/0") for c in cidrs)


def options_from_dict(data: Mapping[str, Any]) -> tuple[NodeInfo, ProxyOptions]:
    """Read `node:`, `ipFamily:` and `proxy:` of cluster.yaml."""
    node = _node(fields.mapping(data.get("node"), "node"))
    proxy = fields.mapping(data.get("proxy"), "proxy")
    family = fields.text(data.get("ipFamily"), "ipFamily", "IPv4")
    if family not in ("IPv4", "IPv6"):
        raise StateError(f"ipFamily: expected IPv4 or IPv6, got {family!r}")
    counters = fields.mapping(proxy.get("nfacctCounters"), "proxy.nfacctCounters")
    options = ProxyOptions(
        family=family,
        masquerade_all=_flag(proxy, "masqueradeAll", False),
        masquerade_mark=_mark(proxy.get("masqueradeMark")),
        local_detector_cidr=_detector(proxy.get("localDetector")),
        localhost_nodeports=_flag(proxy, "localhostNodePorts", True),
        nodeport_addresses=tuple(
            str(fields.network(c, "proxy.nodePortAddresses"))
            for c in fields.strings(proxy.get("nodePortAddresses"), "proxy.nodePortAddresses")
        ),
        random_fully=_flag(proxy, "randomFully", False),
        conntrack_tcp_liberal=_flag(proxy, "conntrackTCPLiberal", False),
        nfacct_counters=frozenset(str(k) for k, v in counters.items() if v),
        sync_period=float(
            fields.integer(
                proxy.get("syncPeriodSeconds") or 30, "proxy.syncPeriodSeconds", 1, 10**6
            )
        ),
    )
    return node, options


def _node(data: Mapping[str, Any]) -> NodeInfo:
    interfaces = fields.mapping(data.get("interfaces"), "node.interfaces")
    node = NodeInfo(
        name=fields.text(data.get("name"), "node.name", "test-node"),
        primary_ip=str(fields.address(data.get("primaryIP") or "192.168.0.2", "node.primaryIP")),
        interfaces=tuple(
            (str(iface), tuple(fields.strings(addrs, f"node.interfaces.{iface}")))
            for iface, addrs in interfaces.items()
        ),
    )
    try:
        node.addresses()
    except AddressError as err:
        raise StateError(f"node.interfaces: {err}") from None
    return node


def _detector(value: Any) -> str | None:
    data = fields.mapping(value, "proxy.localDetector")
    mode = fields.text(data.get("mode"), "proxy.localDetector.mode", "None")
    if mode == "None":
        return None
    if mode != "ClusterCIDR":
        raise StateError(f"proxy.localDetector.mode: {mode!r} is not supported (ClusterCIDR, None)")
    return str(fields.network(data.get("cidr"), "proxy.localDetector.cidr"))


def _mark(value: Any) -> str:
    """The mark as written in the rules: hexadecimal, `0x4000` or Go's `0x00004000`."""
    mark = fields.text(value, "proxy.masqueradeMark", DEFAULT_MARK)
    if not re.fullmatch(r"0x[0-9a-fA-F]{1,8}", mark):
        raise StateError(f"proxy.masqueradeMark: expected a hex mark like 0x4000, got {mark!r}")
    return mark


def _flag(data: Mapping[str, Any], key: str, default: bool) -> bool:
    return fields.flag(data.get(key), f"proxy.{key}", default)

"""kube-proxy's configuration and the node it runs on (the `node:` and `proxy:` parts of
cluster.yaml), read into frozen dataclasses with clear errors for bad input."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.sim.kubeproxy.ips import AddressError, IPAddress, family_of, parse_cidr, parse_ip

DEFAULT_MARK = "0x4000"  # what the upstream tests inject; see ProxyOptions.masquerade_mark
DEFAULT_SYNC_PERIOD = 30.0  # KubeProxyIPTablesConfiguration.SyncPeriod default (seconds)


class StateError(ValueError):
    """The cluster description cannot be read; the message says which field and why."""


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
    node = _node(data.get("node") or {})
    proxy = data.get("proxy") or {}
    if not isinstance(proxy, Mapping):
        raise StateError("proxy: expected a mapping")
    family = data.get("ipFamily") or "IPv4"
    if family not in ("IPv4", "IPv6"):
        raise StateError(f"ipFamily: expected IPv4 or IPv6, got {family!r}")
    detector = proxy.get("localDetector") or {"mode": "None"}
    options = ProxyOptions(
        family=family,
        masquerade_all=_bool(proxy, "masqueradeAll", False),
        masquerade_mark=str(proxy.get("masqueradeMark") or DEFAULT_MARK),
        local_detector_cidr=_detector(detector),
        localhost_nodeports=_bool(proxy, "localhostNodePorts", True),
        nodeport_addresses=tuple(str(c) for c in proxy.get("nodePortAddresses") or ()),
        random_fully=_bool(proxy, "randomFully", False),
        conntrack_tcp_liberal=_bool(proxy, "conntrackTCPLiberal", False),
        nfacct_counters=frozenset(k for k, v in (proxy.get("nfacctCounters") or {}).items() if v),
        sync_period=float(proxy.get("syncPeriodSeconds") or DEFAULT_SYNC_PERIOD),
    )
    try:
        options.nodeport_cidrs()
    except AddressError as err:
        raise StateError(f"proxy.nodePortAddresses: {err}") from None
    return node, options


def _node(data: Any) -> NodeInfo:
    if not isinstance(data, Mapping):
        raise StateError("node: expected a mapping")
    interfaces = data.get("interfaces") or {}
    if not isinstance(interfaces, Mapping):
        raise StateError("node.interfaces: expected a mapping of interface -> addresses")
    node = NodeInfo(
        name=str(data.get("name") or "test-node"),
        primary_ip=str(data.get("primaryIP") or "192.168.0.2"),
        interfaces=tuple((str(k), tuple(str(a) for a in v or ())) for k, v in interfaces.items()),
    )
    try:
        parse_ip(node.primary_ip)
        node.addresses()
    except AddressError as err:
        raise StateError(f"node: {err}") from None
    return node


def _detector(data: Any) -> str | None:
    if not isinstance(data, Mapping):
        raise StateError("proxy.localDetector: expected a mapping")
    mode = data.get("mode") or "None"
    if mode == "None":
        return None
    if mode != "ClusterCIDR":
        raise StateError(f"proxy.localDetector.mode: {mode!r} is not supported (ClusterCIDR, None)")
    try:
        return str(parse_cidr(str(data.get("cidr"))))
    except AddressError as err:
        raise StateError(f"proxy.localDetector.cidr: {err}") from None


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise StateError(f"proxy.{key}: expected true or false, got {value!r}")
    return value

"""kube-proxy's IPVS mode (pkg/proxy/ipvs/proxier.go): one sync turns the proxier's input into
the node's IPVS table, its ipsets, its kube-ipvs0 addresses and the iptables rules IPVS mode
still needs.

Per service port (kube-proxy-facts.md section 4):
* ClusterIP: a virtual server, the address bound to the dummy interface `kube-ipvs0`, an
  entry in KUBE-CLUSTER-IP; real servers per internalTrafficPolicy;
* each external IP and LB ingress IP: a virtual server (bound to kube-ipvs0 unless the node
  already has the address), KUBE-EXTERNAL-IP[-LOCAL] / KUBE-LOAD-BALANCER[-LOCAL|-FW] entries
  and loadBalancerSourceRanges entries;
* a NodePort: one virtual server per node address, KUBE-NODE-PORT-<PROTO> entries (SCTP:
  one hash:ip,port entry per node address);
* real servers have weight 1; external destinations with externalTrafficPolicy=Local use the
  node's endpoints, or all endpoints when the node has none. A service without endpoints
  keeps its virtual servers with no real server (IPVS then answers ICMP port unreachable).

`render_ipvs` always rebuilds everything (kube-proxy's IPVS sync is a full reconcile);
`effective_mode` says what a node without the IPVS kernel modules runs instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.sim.command import CommandResult
from app.sim.ipvs.director import Ipvs
from app.sim.ipvs.ipvsadm import ListFormat, list_services
from app.sim.ipvs.ipvsadm_cmd import run_ipvsadm
from app.sim.ipvs.model import F_PERSISTENT, F_SCHED2, VirtualService, canonical
from app.sim.ipvs.schedulers import SCHEDULERS
from app.sim.kubeproxy import fields
from app.sim.kubeproxy.ips import family_of, parse_cidr, parse_ip
from app.sim.kubeproxy.ipset import Entry, IpSet, list_all, new_sets, run_ipset
from app.sim.kubeproxy.ipvs_reconcile import Wanted, remove_stale, update_service
from app.sim.kubeproxy.ipvs_rules import node_restore, render_rules
from app.sim.kubeproxy.options import StateError
from app.sim.kubeproxy.service import Endpoint, PortEndpoints, ServicePort
from app.sim.kubeproxy.state import ProxyState
from app.sim.kubeproxy.topology import categorize

DUMMY_IFACE = "kube-ipvs0"
DEFAULT_SCHEDULER = "rr"  # --ipvs-scheduler default


@dataclass(frozen=True)
class IpvsOptions:
    """The IPVS-only knobs of cluster.yaml: `proxy.scheduler`, `proxy.strictARP`,
    `proxy.excludeCIDRs`, `node.localAddresses` (the addresses the node reports; default:
    its interface addresses) and `node.ipvsAvailable` (the kernel has the IPVS modules)."""

    scheduler: str = DEFAULT_SCHEDULER
    local_addresses: tuple[str, ...] | None = None
    strict_arp: bool = False
    exclude_cidrs: tuple[str, ...] = ()
    ipvs_available: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IpvsOptions:
        node = fields.mapping(data.get("node"), "node")
        proxy = fields.mapping(data.get("proxy"), "proxy")
        scheduler = fields.text(proxy.get("scheduler"), "proxy.scheduler", DEFAULT_SCHEDULER)
        if scheduler not in SCHEDULERS:
            known = ", ".join(sorted(SCHEDULERS))
            raise StateError(f"proxy.scheduler: unknown IPVS scheduler {scheduler!r} ({known})")
        local = node.get("localAddresses")
        addresses = None
        if local is not None:
            addresses = tuple(
                str(fields.address(a, "node.localAddresses"))
                for a in fields.strings(local, "node.localAddresses")
            )
        return cls(
            scheduler=scheduler,
            local_addresses=addresses,
            strict_arp=fields.flag(proxy.get("strictARP"), "proxy.strictARP", False),
            exclude_cidrs=tuple(
                str(fields.network(c, "proxy.excludeCIDRs"))
                for c in fields.strings(proxy.get("excludeCIDRs"), "proxy.excludeCIDRs")
            ),
            ipvs_available=fields.flag(node.get("ipvsAvailable"), "node.ipvsAvailable", True),
        )


def effective_mode(requested: str, ipvs_available: bool) -> tuple[str, dict[str, str]]:
    """The mode a node really runs, and why, for the lab to show.

    kube-proxy checks for the IPVS kernel modules (ip_vs, ip_vs_rr, ...) before it builds the
    IPVS proxier. Releases before v1.26 then fell back to iptables mode (the behaviour the course
    chapter describes); since v1.26 (kubernetes/kubernetes#111806) kube-proxy exits with an error
    instead. The lab follows the historical fallback so the cluster keeps working, and says so."""
    if requested != "ipvs" or ipvs_available:
        return requested, {
            "en": f"kube-proxy runs in {requested} mode",
            "zh": f"kube-proxy 以 {requested} 模式运行",
        }
    return "iptables", {
        "en": "the IPVS kernel modules are not available on this node, so kube-proxy "
        "falls back to iptables mode, as releases before v1.26 did (since v1.26 kube-proxy "
        "exits with an error instead)",
        "zh": "该节点没有 IPVS 内核模块，kube-proxy 回退到 iptables 模式——这是 v1.26 之前的行为"
        "（自 v1.26 起 kube-proxy 会直接报错退出）",
    }


@dataclass
class IpvsSync:
    """One IPVS-mode sync: the IPVS table, ipsets, kube-ipvs0 addresses, iptables input."""

    ipvs: Ipvs
    ipsets: dict[str, IpSet]
    restore: str
    dummy_addresses: list[str]
    ipv6: bool = False
    node_addresses: list[str] = field(default_factory=list)

    def ipvsadm(self, fmt: ListFormat | None = None) -> str:
        """`ipvsadm -Ln` (or another `-L` variant)."""
        return list_services(self.ipvs, fmt or ListFormat())

    def references(self) -> dict[str, int]:
        """How many iptables rules use each set (`ipset list`'s References)."""
        text = node_restore(self.restore)
        return {s.name: text.count(f"--match-set {s.name} ") for s in self.ipsets.values()}

    def ipset_list(self) -> str:
        """`ipset list`."""
        return list_all(self.ipsets, self.references())

    def ipset_command(self, argv: list[str]) -> CommandResult:
        """`ipset ARGS` on this node (list, save; read-only)."""
        return run_ipset(self.ipsets, argv, self.references())

    def ipvsadm_command(self, argv: list[str], now: float = 0.0) -> CommandResult:
        """`ipvsadm ARGS` on this node's IPVS table."""
        return run_ipvsadm(self.ipvs, argv, now)

    def node_restore(self) -> str:
        """iptables-restore text of the node's whole view (builtin chains with the jumps)."""
        return node_restore(self.restore)

    def node_ipsets(self) -> dict[str, set[tuple[Any, ...]]]:
        """The sets as the packet engine's `-m set` reads them (Node.ipsets)."""
        return {s.name: {e.match_key(self.ipv6) for e in s.entries} for s in self.ipsets.values()}

    def text(self) -> str:
        """What `render --mode ipvs` prints: ipvsadm -Ln, ipset list, the iptables input."""
        return f"{self.ipvsadm()}\n{self.ipset_list()}\n{self.restore}"


class _Sync:
    """The state of one render: what is bound, written and programmed so far."""

    def __init__(self, state: ProxyState, options: IpvsOptions, previous: Ipvs | None) -> None:
        self.state, self.options = state, options
        self.ipv6 = state.options.ipv6
        self.ipvs = previous if previous is not None else Ipvs()
        self.wanted: Wanted = {}
        # kube-proxy's sysctls (conn_reuse_mode=0 only on kernels 4.1-5.8: not set here).
        self.ipvs.sysctls.conntrack = True
        self.ipvs.sysctls.expire_nodest_conn = True
        self.ipvs.sysctls.expire_quiescent_template = True
        self.sets = new_sets(self.ipv6)
        self.dummy: list[str] = []
        self.lb_no_node_access: list[tuple[str, str, int]] = []
        self.local = self._local_addresses()

    def _local_addresses(self) -> list[str]:
        if self.options.local_addresses is not None:
            found = [parse_ip(a) for a in self.options.local_addresses]
        else:
            found = self.state.node.addresses()
        return [str(a) for a in found if family_of(a) == self.state.options.family]

    def entry(self, name: str, entry: Entry) -> None:
        self.sets[name].add(entry)

    def bind(self, ip: str) -> None:
        """Add the address to kube-ipvs0 (and KUBE-IPVS-IPS) unless the node has it."""
        if ip not in self.local and ip not in self.dummy:
            self.dummy.append(ip)
            self.entry("KUBE-IPVS-IPS", Entry(ip=ip))

    def virtual_server(
        self, port: ServicePort, addr: str, vport: int, eps: tuple[Endpoint, ...]
    ) -> VirtualService:
        proto = port.protocol.upper()
        svc = self.ipvs.find_service(proto, addr, vport)
        flags = F_SCHED2 if self.options.scheduler == "mh" else 0  # FlagSourceHash
        timeout = port.affinity_seconds
        if svc is None:
            svc = self.ipvs.add_service(proto, addr, vport, self.options.scheduler,
                                        timeout=timeout, flags=flags)  # fmt: skip
        else:
            update_service(self.ipvs, svc, self.options.scheduler, flags, timeout)
        wanted = self.wanted.setdefault(svc.key, set())
        for ep in eps:
            wanted.add((canonical(ep.ip), ep.port))
            dest = svc.find(ep.ip, ep.port)
            if dest is None:  # the same endpoint twice: one real server
                self.ipvs.add_dest(svc, ep.ip, ep.port, weight=1, fwd="Masq")
            elif dest.weight != 1:
                svc.edit_dest(dest, weight=1)  # back from graceful termination
        return svc

    def node_ips(self) -> list[str]:
        """Node addresses for NodePort virtual servers (those on kube-ipvs0 excluded)."""
        candidates = sorted(
            (a for a in self.local if a not in self.dummy), key=lambda a: parse_ip(a)
        )
        opts = self.state.options
        if opts.nodeports_match_all():
            return candidates
        nets = [parse_cidr(c) for c in opts.nodeport_cidrs()]
        return [
            a for a in candidates
            if any(parse_ip(a) in n for n in nets) and not parse_ip(a).is_loopback
        ]  # fmt: skip


def render_ipvs(
    state: ProxyState, options: IpvsOptions | None = None, previous: Ipvs | None = None
) -> IpvsSync:
    """An IPVS-mode sync of `state`. With `previous` (the node's IPVS table after the last
    sync) the table is updated in place, as kube-proxy does, so connections and scheduler
    state survive (app/sim/kubeproxy/ipvs_reconcile.py); without it, a fresh table."""
    sync = _Sync(state, options or IpvsOptions(), previous)
    for key in state.keys_in_order():
        for pe in state.views[key].ports:
            _service_port(sync, pe)
    remove_stale(sync.ipvs, sync.wanted)
    restore = render_rules(sync.sets, state.options, sync.lb_no_node_access)
    return IpvsSync(sync.ipvs, sync.sets, restore, sync.dummy, sync.ipv6, sync.local)


def _service_port(sync: _Sync, pe: PortEndpoints) -> None:
    port = pe.port
    cat = categorize(port, pe.endpoints)
    internal = cat.local if port.internal_policy_local else cat.cluster
    external = cat.local if port.external_policy_local and cat.local else cat.cluster
    proto = port.protocol
    for ep in pe.endpoints:
        if ep.is_local:  # hairpin: a pod reaching itself through the service is masqueraded
            sync.entry("KUBE-LOOP-BACK", Entry(ep.ip, ep.port, proto, ep.ip))
    sync.entry("KUBE-CLUSTER-IP", Entry(port.cluster_ip, port.port, proto))
    sync.bind(port.cluster_ip)
    sync.virtual_server(port, port.cluster_ip, port.port, internal)
    for ip in port.external_ips:
        local = "KUBE-EXTERNAL-IP-LOCAL" if port.external_policy_local else "KUBE-EXTERNAL-IP"
        sync.entry(local, Entry(ip, port.port, proto))
        sync.bind(ip)
        sync.virtual_server(port, ip, port.port, external)
    for ip in port.lb_ips:
        _load_balancer(sync, port, ip)
        sync.bind(ip)
        sync.virtual_server(port, ip, port.port, external)
    if port.node_port:
        _node_port(sync, port, external)
    if port.health_check_node_port:
        sync.entry("KUBE-HEALTH-CHECK-NODE-PORT", Entry(port=port.health_check_node_port,
                                                        protocol="tcp"))  # fmt: skip


def _load_balancer(sync: _Sync, port: ServicePort, ip: str) -> None:
    entry = Entry(ip, port.port, port.protocol)
    sync.entry("KUBE-LOAD-BALANCER", entry)
    if port.external_policy_local:
        sync.entry("KUBE-LOAD-BALANCER-LOCAL", entry)
    if not port.source_ranges:
        return
    sync.entry("KUBE-LOAD-BALANCER-FW", entry)
    node_ip = parse_ip(sync.state.node.primary_ip)
    allow_from_node = False
    for cidr in port.source_ranges:
        net = parse_cidr(cidr)
        sync.entry("KUBE-LOAD-BALANCER-SOURCE-CIDR", Entry(ip, port.port, port.protocol, str(net)))
        allow_from_node = allow_from_node or (family_of(net) == family_of(node_ip)
                                              and node_ip in net)  # fmt: skip
    if allow_from_node:
        sync.entry("KUBE-LOAD-BALANCER-SOURCE-IP", Entry(ip, port.port, port.protocol, ip))
    else:  # the node itself may not reach the LB address
        sync.lb_no_node_access.append((ip, port.protocol, port.port))


def _node_port(sync: _Sync, port: ServicePort, eps: tuple[Endpoint, ...]) -> None:
    node_ips = sync.node_ips()
    if not node_ips:
        return
    proto = port.protocol
    if proto == "sctp":
        entries = [Entry(ip, port.node_port, proto) for ip in node_ips]
        names = ("KUBE-NODE-PORT-SCTP-HASH", "KUBE-NODE-PORT-LOCAL-SCTP-HASH")
    else:
        entries = [Entry(port=port.node_port, protocol=proto)]
        up = proto.upper()
        names = (f"KUBE-NODE-PORT-{up}", f"KUBE-NODE-PORT-LOCAL-{up}")
    for e in entries:
        sync.entry(names[0], e)
        if port.external_policy_local:
            sync.entry(names[1], e)
    for ip in node_ips:  # node addresses are not bound to kube-ipvs0
        sync.virtual_server(port, ip, port.node_port, eps)


__all__ = [
    "DUMMY_IFACE",
    "F_PERSISTENT",
    "IpvsOptions",
    "IpvsSync",
    "effective_mode",
    "render_ipvs",
]

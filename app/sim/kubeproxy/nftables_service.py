"""kube-proxy nftables mode: the chains, set elements and affinity sets of one service port.

Follows pkg/proxy/nftables/proxier.go (syncProxyRules, per service port) as recorded in the
upstream test data (kube-proxy-facts §3): every rule is knftables text, exactly as the fake's
Dump shows it. Chain names are `<prefix>` + an 8-character base32 SHA-256 prefix of the
readable name + `-` + the readable name (servicePortChainNameBase).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from app.sim.kubeproxy.names import proto_hash
from app.sim.kubeproxy.options import NodeInfo, ProxyOptions
from app.sim.kubeproxy.service import Endpoint, PortEndpoints, ServicePort
from app.sim.kubeproxy.topology import categorize
from app.sim.nft.model import Element
from app.sim.nft.parse import parse_elements

MARK_MASQ_CHAIN = "mark-for-masquerade"
REJECT_CHAIN = "reject-chain"
SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
FIREWALL_IPS = "firewall-ips"
CLUSTER_IPS = "cluster-ips"
# Prefixes of per-service-port chains (stale-chain candidates) and of the affinity sets.
AFFINITY_PREFIX = "affinity-"
# A per-service-port chain: prefix, 8 base32 characters, "-" (fixed chains such as
# `service-endpoints-check` or `firewall-check` never match).
_SERVICE_CHAIN = re.compile(r"(?:service|local|external|endpoint|firewall)-[A-Z2-7]{8}-")
_NAME_MAX = 240  # chainNameBaseLengthMax: longer names are cut to 237 characters + "..."


def is_service_chain(name: str) -> bool:
    """True for the chains kube-proxy writes per service port or endpoint."""
    return _SERVICE_CHAIN.match(name) is not None


def name_base(readable: str) -> str:
    """`HASH8-readable`, HASH8 = base32(SHA-256(readable))[:8] (hashAndTruncate)."""
    base = f"{proto_hash(readable)[:8]}-{readable}"
    return base if len(base) <= _NAME_MAX else base[: _NAME_MAX - 3] + "..."


def port_base(port: ServicePort) -> str:
    return name_base(f"{port.namespace}/{port.name}/{port.protocol}/{port.port_name}")


def endpoint_base(port: ServicePort, endpoint: Endpoint) -> str:
    # IPv6 colons become dots so the name has no ":" (servicePortEndpointChainNameBase).
    address = endpoint.ip.replace(":", ".")
    readable = f"{port.namespace}/{port.name}/{port.protocol}/{port.port_name}"
    return name_base(f"{readable}__{address}/{endpoint.port}")


@dataclass(frozen=True)
class NftContext:
    """What a service port's rules depend on besides the port itself."""

    options: ProxyOptions
    node: NodeInfo

    @property
    def ipx(self) -> str:
        return "ip6" if self.options.ipv6 else "ip"

    @property
    def addr_type(self) -> str:
        return "ipv6_addr" if self.options.ipv6 else "ipv4_addr"


@dataclass
class PortRules:
    """One service port's objects: chains (rule texts in order), elements (set, body) and
    affinity sets (name -> spec)."""

    chains: dict[str, list[str]] = field(default_factory=dict)
    elements: list[tuple[str, str]] = field(default_factory=list)
    sets: dict[str, str] = field(default_factory=dict)
    _parsed: list[tuple[str, Element, str]] | None = field(default=None, repr=False)

    def parsed_elements(self) -> list[tuple[str, Element, str]]:
        """(set, element, body) of every element, parsed once."""
        if self._parsed is None:
            self._parsed = [(name, parse_elements(body)[0], body) for name, body in self.elements]
        return self._parsed


@dataclass(frozen=True)
class _Plan:
    """Which objects a service port needs (the booleans of syncProxyRules)."""

    base: str
    has_any: bool
    has_internal: bool
    has_external: bool
    uses_ext: bool
    uses_fw: bool

    @property
    def cluster_chain(self) -> str:
        return f"service-{self.base}"

    @property
    def local_chain(self) -> str:
        return f"local-{self.base}"

    @property
    def ext_chain(self) -> str:
        return f"external-{self.base}"

    @property
    def no_endpoints(self) -> str:
        # Nothing usable anywhere: reject; only the node-local ones missing: drop.
        return "drop" if self.has_any else f"goto {REJECT_CHAIN}"


def render_port(pe: PortEndpoints, ctx: NftContext) -> PortRules:
    """The chains, elements and affinity sets of one service port."""
    port, out = pe.port, PortRules()
    cat = categorize(port, pe.endpoints)
    plan = _Plan(
        base=port_base(port),
        has_any=cat.has_any,
        has_internal=cat.has_any and not (port.internal_policy_local and not cat.local),
        has_external=cat.has_any and not (port.external_policy_local and not cat.local),
        uses_ext=cat.has_any and port.externally_accessible,
        uses_fw=cat.has_any and bool(port.lb_ips) and bool(port.source_ranges),
    )
    _elements(out, port, plan)
    internal = plan.local_chain if port.internal_policy_local else plan.cluster_chain
    masq = _internal_masquerade(port, ctx) if plan.has_internal else None
    if masq:
        out.chains[internal] = [masq]
    if plan.uses_ext:
        out.chains[plan.ext_chain] = _external_rules(port, ctx, plan)
    if plan.uses_fw:
        out.chains[f"firewall-{plan.base}"] = [_firewall_rule(port, ctx)]
    if cat.cluster and port.uses_cluster_endpoints:
        _dispatch(out, pe, plan.cluster_chain, cat.cluster, ctx)
    if cat.local and port.uses_local_endpoints:
        _dispatch(out, pe, plan.local_chain, cat.local, ctx)
    for ep in cat.reachable:
        _endpoint_chain(out, pe, ep, ctx)
    return out


def _elements(out: PortRules, port: ServicePort, plan: _Plan) -> None:
    key, spn, add = f"{port.protocol} . {port.port}", port.spn, out.elements.append
    internal = plan.local_chain if port.internal_policy_local else plan.cluster_chain
    add((CLUSTER_IPS, f"{{ {port.cluster_ip} }}"))
    if plan.has_internal:
        add((SERVICE_IPS, f"{{ {port.cluster_ip} . {key} : goto {internal} }}"))
    else:
        body = f'{{ {port.cluster_ip} . {key} comment "{spn}" : {plan.no_endpoints} }}'
        add((NO_ENDPOINT_SERVICES, body))
    for ip in (*port.external_ips, *port.lb_ips):
        if plan.uses_ext:
            add((SERVICE_IPS, f"{{ {ip} . {key} : goto {plan.ext_chain} }}"))
        if not plan.has_external:
            add((NO_ENDPOINT_SERVICES, f'{{ {ip} . {key} comment "{spn}" : {plan.no_endpoints} }}'))
    if plan.uses_fw:
        for ip in port.lb_ips:
            add((FIREWALL_IPS, f"{{ {ip} . {key} : goto firewall-{plan.base} }}"))
    if port.node_port:
        nodeport = f"{port.protocol} . {port.node_port}"
        if plan.uses_ext:
            add((SERVICE_NODEPORTS, f"{{ {nodeport} : goto {plan.ext_chain} }}"))
        if not plan.has_external:
            body = f'{{ {nodeport} comment "{spn}" : {plan.no_endpoints} }}'
            add((NO_ENDPOINT_NODEPORTS, body))


def _internal_masquerade(port: ServicePort, ctx: NftContext) -> str | None:
    """Off-cluster traffic to the ClusterIP is masqueraded (or all, with --masquerade-all)."""
    ipx = ctx.ipx
    if ctx.options.masquerade_all:
        return f"{ipx} daddr {port.cluster_ip} jump {MARK_MASQ_CHAIN}"
    cidr = ctx.options.local_detector_cidr
    if cidr:
        return f"{ipx} daddr {port.cluster_ip} {ipx} saddr != {cidr} jump {MARK_MASQ_CHAIN}"
    return None


def _external_rules(port: ServicePort, ctx: NftContext, plan: _Plan) -> list[str]:
    cluster_chain = plan.cluster_chain
    policy_chain = plan.local_chain if port.external_policy_local else cluster_chain
    if not port.external_policy_local:
        # Non-local endpoints: masquerade, the reply must come back through this node.
        return [f"jump {MARK_MASQ_CHAIN}", f"goto {policy_chain}"]
    rules = []
    cidr = ctx.options.local_detector_cidr
    if cidr:
        rules.append(
            f'{ctx.ipx} saddr {cidr} goto {cluster_chain} comment "short-circuit pod traffic"'
        )
    rules.append(f'fib saddr type local jump {MARK_MASQ_CHAIN} comment "masquerade local traffic"')
    rules.append(f'fib saddr type local goto {cluster_chain} comment "short-circuit local traffic"')
    if plan.has_external:
        rules.append(f"goto {policy_chain}")
    return rules


def _firewall_rule(port: ServicePort, ctx: NftContext) -> str:
    sources = list(port.source_ranges)
    node_ip = ipaddress.ip_address(ctx.node.primary_ip)
    nets = [ipaddress.ip_network(c) for c in port.source_ranges]
    if any(n.version == node_ip.version and node_ip in n for n in nets):
        # A VIP-like LB loops the node's own requests back with the VIP as source.
        sources += list(port.lb_ips)
    return f"{ctx.ipx} saddr != {{ {' , '.join(sources)} }} drop"


def _dispatch(
    out: PortRules, pe: PortEndpoints, chain: str, endpoints: tuple[Endpoint, ...], ctx: NftContext
) -> None:
    rules = out.chains.setdefault(chain, [])
    port = pe.port
    if port.affinity_seconds:
        for ep in endpoints:
            base = endpoint_base(port, ep)
            rules.append(f"{ctx.ipx} saddr @{AFFINITY_PREFIX}{base} goto endpoint-{base}")
    targets = " , ".join(
        f"{i} : goto endpoint-{endpoint_base(port, ep)}" for i, ep in enumerate(endpoints)
    )
    rules.append(f"numgen random mod {len(endpoints)} vmap {{ {targets} }}")


def _endpoint_chain(out: PortRules, pe: PortEndpoints, ep: Endpoint, ctx: NftContext) -> None:
    port, ipx = pe.port, ctx.ipx
    base = endpoint_base(port, ep)
    rules = [f"{ipx} saddr {ep.ip} jump {MARK_MASQ_CHAIN}"]
    if port.affinity_seconds:
        name = f"{AFFINITY_PREFIX}{base}"
        spec = f"type {ctx.addr_type} ; flags dynamic,timeout ; timeout {port.affinity_seconds}s"
        out.sets[name] = f"{{ {spec} ; }}"
        rules.append(f"update @{name} {{ {ipx} saddr }}")
    rules.append(f"meta l4proto {port.protocol} dnat to {ep.endpoint}")
    out.chains[f"endpoint-{base}"] = rules

"""The iptables rules of one service port (the per-service body of kube-proxy's syncProxyRules).

Every line is spelled exactly as kube-proxy writes it into the iptables-restore input:
`-m comment --comment ... -m tcp -p tcp -d IP --dport P` (match module before `-p`, bare IPs
without `/32`), comments with spaces carry literal double quotes. The rules fall into two
groups: the *dispatch* rules in KUBE-SERVICES / KUBE-NODEPORTS and the filter table, rewritten
on every sync, and the service's own nat chains (KUBE-SVC/SVL/EXT/FW/SEP), which a partial sync
writes only when the Service or its EndpointSlices changed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cache

from app.sim.kubeproxy.options import ProxyOptions
from app.sim.kubeproxy.service import Endpoint, PortEndpoints, ServicePort
from app.sim.kubeproxy.topology import categorize

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
LOCALHOST_NPS_COUNTER = "localhost_nps_accepted_pkts"


@dataclass(frozen=True)
class RenderContext:
    """What, besides the service port, changes the rules: options and large-cluster mode."""

    options: ProxyOptions
    primary_ip: str
    large_cluster: bool = False


@dataclass
class PortRender:
    """The rules of one service port, split as syncProxyRules writes them."""

    spn: str = ""
    filter_rules: list[str] = field(default_factory=list)
    nat_services: list[str] = field(default_factory=list)  # nat KUBE-SERVICES
    nat_nodeports: list[str] = field(default_factory=list)  # nat KUBE-NODEPORTS
    nat_chains: list[str] = field(default_factory=list)
    nat_rules: list[str] = field(default_factory=list)  # in emission order
    chain_rules: dict[str, list[str]] = field(default_factory=dict)  # the same, per chain

    def emit(self, chain: str, rules: list[str]) -> None:
        """Rules of one of the service's own nat chains, in order."""
        self.nat_rules.extend(rules)
        self.chain_rules.setdefault(chain, []).extend(rules)


@dataclass(frozen=True)
class _Plan:
    """The per-port decisions of syncProxyRules (which chains, which verdicts)."""

    has_endpoints: bool
    has_internal: bool
    has_external: bool
    internal_chain: str
    external_policy_chain: str
    uses_ext: bool
    uses_fw: bool
    uses_svc: bool
    uses_svl: bool
    # REJECT + "has no endpoints" (nothing usable anywhere) or DROP + "has no local
    # endpoints" (a Local policy is unsatisfied): for traffic that has nowhere to go
    filter_target: str
    filter_comment: str


@cache
def probability(n: int) -> str:
    """1/n with 10 decimals, as kube-proxy prints `--probability` (`%0.10f`, cached per n)."""
    return f"{1.0 / n:0.10f}"


def render_port(pe: PortEndpoints, ctx: RenderContext) -> PortRender:
    """All rules of one service port, in kube-proxy's emission order."""
    port, cat = pe.port, categorize(pe.port, pe.endpoints)
    plan = _plan(port, cat.cluster, cat.local, cat.has_any)
    out = PortRender(spn=port.spn)
    seps = pe.sep_chains
    render_dispatch(out, port, plan, ctx)
    render_internal_masquerade(out, port, plan, ctx)
    if plan.uses_ext:
        render_ext_chain(out, port, plan, ctx)
    if plan.uses_fw:
        render_fw_chain(out, port, ctx)
    if plan.uses_svc:
        render_endpoint_dispatch(out, port, port.svc_chain, cat.cluster, seps, ctx)
    if plan.uses_svl:
        render_endpoint_dispatch(out, port, port.svl_chain, cat.local, seps, ctx)
    for ep in cat.reachable:
        render_sep_chain(out, port, ep, seps[ep.endpoint], ctx)
    return out


def _plan(
    port: ServicePort, cluster: tuple[Endpoint, ...], local: tuple[Endpoint, ...], has_any: bool
) -> _Plan:
    has_internal = has_any and not (port.internal_policy_local and not local)
    has_external = has_any and not (port.external_policy_local and not local)
    no_local = f'"{port.spn} has no local endpoints"'
    comment = f'"{port.spn} has no endpoints"' if not has_any else no_local
    return _Plan(
        has_endpoints=has_any,
        has_internal=has_internal,
        has_external=has_external,
        internal_chain=port.svl_chain if port.internal_policy_local else port.svc_chain,
        external_policy_chain=port.svl_chain if port.external_policy_local else port.svc_chain,
        uses_ext=has_any and port.externally_accessible,
        uses_fw=has_any and bool(port.lb_ips) and bool(port.source_ranges),
        uses_svc=bool(cluster) and port.uses_cluster_endpoints,
        uses_svl=bool(local) and port.uses_local_endpoints,
        filter_target="REJECT" if not has_any else "DROP",
        filter_comment=comment,
    )


def _match(port: ServicePort, ip: str, comment: str) -> str:
    """`-m comment --comment C -m p -p p -d IP --dport P`, the matcher on a service IP."""
    p = port.protocol
    return f"-m comment --comment {comment} -m {p} -p {p} -d {ip} --dport {port.port}"


def render_dispatch(out: PortRender, port: ServicePort, plan: _Plan, ctx: RenderContext) -> None:
    """KUBE-SERVICES (ClusterIP, external IPs, LB IPs), KUBE-NODEPORTS, the filter REJECT/DROP
    rules for missing endpoints, the LB firewall DROP and the health-check ACCEPT."""
    spn, nat, filt = port.spn, out.nat_services, out.filter_rules
    if plan.has_internal:
        cip = _match(port, port.cluster_ip, f'"{spn} cluster IP"')
        nat.append(f"-A {KUBE_SERVICES} {cip} -j {plan.internal_chain}")
    else:
        cip = _match(port, port.cluster_ip, plan.filter_comment)
        filt.append(f"-A {KUBE_SERVICES} {cip} -j {plan.filter_target}")
    render_external_dispatch(out, port, plan)
    if port.node_port:
        render_nodeport(out, port, plan, ctx)
    if port.health_check_node_port:
        filt.append(
            f'-A {KUBE_NODEPORTS} -m comment --comment "{spn} health check node port" '
            f"-m tcp -p tcp --dport {port.health_check_node_port} -j ACCEPT"
        )


def render_external_dispatch(out: PortRender, port: ServicePort, plan: _Plan) -> None:
    """External IPs and LB IPs: to KUBE-EXT (or KUBE-FW with source ranges) when endpoints
    exist, REJECT/DROP in KUBE-EXTERNAL-SERVICES when none serve external traffic."""
    spn, nat, filt = port.spn, out.nat_services, out.filter_rules
    for ip in port.external_ips:
        if plan.has_endpoints:
            ext = _match(port, ip, f'"{spn} external IP"')
            nat.append(f"-A {KUBE_SERVICES} {ext} -j {port.ext_chain}")
        if not plan.has_external:
            filt.append(_external_filter(port, plan, ip))
    lb_target = port.fw_chain if plan.uses_fw else port.ext_chain
    for ip in port.lb_ips:
        if plan.has_endpoints:
            lb = _match(port, ip, f'"{spn} loadbalancer IP"')
            nat.append(f"-A {KUBE_SERVICES} {lb} -j {lb_target}")
        if plan.uses_fw:
            fw = _match(port, ip, f'"{spn} traffic not accepted by {port.fw_chain}"')
            filt.append(f"-A {KUBE_PROXY_FIREWALL} {fw} -j DROP")
    if not plan.has_external:
        filt.extend(_external_filter(port, plan, ip) for ip in port.lb_ips)


def _external_filter(port: ServicePort, plan: _Plan, ip: str) -> str:
    """REJECT (no endpoints) / DROP (eTP=Local, no local endpoints) for an external IP."""
    matcher = _match(port, ip, plan.filter_comment)
    return f"-A {KUBE_EXTERNAL_SERVICES} {matcher} -j {plan.filter_target}"


def render_nodeport(out: PortRender, port: ServicePort, plan: _Plan, ctx: RenderContext) -> None:
    """KUBE-NODEPORTS jump to KUBE-EXT (NodePorts ignore loadBalancerSourceRanges), with the
    counted localhost twin when localhost NodePorts are on (IPv4 only: route_localnet)."""
    p, n, spn, opts = port.protocol, port.node_port, port.spn, ctx.options
    if plan.has_endpoints:
        if (
            opts.localhost_nodeports
            and not opts.ipv6
            and LOCALHOST_NPS_COUNTER in opts.nfacct_counters
        ):
            out.nat_nodeports.append(
                f"-A {KUBE_NODEPORTS} -m comment --comment {spn} -m {p} -p {p} -d 127.0.0.0/8 "
                f"--dport {n} -m nfacct --nfacct-name {LOCALHOST_NPS_COUNTER} -j {port.ext_chain}"
            )
        out.nat_nodeports.append(
            f"-A {KUBE_NODEPORTS} -m comment --comment {spn} -m {p} -p {p} --dport {n} "
            f"-j {port.ext_chain}"
        )
    if not plan.has_external:
        out.filter_rules.append(
            f"-A {KUBE_EXTERNAL_SERVICES} -m comment --comment {plan.filter_comment} "
            f"-m addrtype --dst-type LOCAL -m {p} -p {p} --dport {n} -j {plan.filter_target}"
        )


def render_internal_masquerade(
    out: PortRender, port: ServicePort, plan: _Plan, ctx: RenderContext
) -> None:
    """First rule of the internal chain: masquerade ClusterIP traffic that does not come from
    a local pod (everything with --masquerade-all; nothing with a no-op detector)."""
    if not plan.has_internal:
        return
    args = _match(port, port.cluster_ip, f'"{port.spn} cluster IP"')
    opts, chain = ctx.options, plan.internal_chain
    if opts.masquerade_all:
        out.emit(chain, [f"-A {chain} {args} -j {KUBE_MARK_MASQ}"])
    elif opts.local_detector_cidr is not None:
        cidr = opts.local_detector_cidr
        out.emit(chain, [f"-A {chain} {args} ! -s {cidr} -j {KUBE_MARK_MASQ}"])


def render_ext_chain(out: PortRender, port: ServicePort, plan: _Plan, ctx: RenderContext) -> None:
    """KUBE-EXT: entry of every external destination; eTP=Cluster masquerades, eTP=Local keeps
    the client IP but short-circuits pods and the node itself to all endpoints."""
    chain, spn, rules = port.ext_chain, port.spn, []
    out.nat_chains.append(chain)
    if not port.external_policy_local:
        rules.append(
            f'-A {chain} -m comment --comment "masquerade traffic for {spn} external destinations"'
            f" -j {KUBE_MARK_MASQ}"
        )
    else:
        cidr = ctx.options.local_detector_cidr
        if cidr is not None:
            rules.append(
                f'-A {chain} -m comment --comment "pod traffic for {spn} external destinations"'
                f" -s {cidr} -j {port.svc_chain}"
            )
        rules.append(
            f'-A {chain} -m comment --comment "masquerade LOCAL traffic for {spn} external '
            f'destinations" -m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}'
        )
        rules.append(
            f'-A {chain} -m comment --comment "route LOCAL traffic for {spn} external '
            f'destinations" -m addrtype --src-type LOCAL -j {port.svc_chain}'
        )
    if plan.has_external:
        rules.append(f"-A {chain} -j {plan.external_policy_chain}")
    out.emit(chain, rules)


def render_fw_chain(out: PortRender, port: ServicePort, ctx: RenderContext) -> None:
    """KUBE-FW: admit loadBalancerSourceRanges (and the VIPs themselves when a range holds the
    node's IP: hairpin from the node arrives with the VIP as source); the rest falls through
    to the DROP in filter KUBE-PROXY-FIREWALL."""
    chain, spn = port.fw_chain, port.spn
    out.nat_chains.append(chain)
    head = f'-A {chain} -m comment --comment "{spn} loadbalancer IP"'
    rules = [f"{head} -s {cidr} -j {port.ext_chain}" for cidr in port.source_ranges]
    if _contains_node(port.source_ranges, ctx.primary_ip):
        rules.extend(f"{head} -s {ip} -j {port.ext_chain}" for ip in port.lb_ips)
    rules.append(
        f'-A {chain} -m comment --comment "other traffic to {spn} will be dropped by '
        f'{KUBE_PROXY_FIREWALL}"'
    )
    out.emit(chain, rules)


def _contains_node(cidrs: tuple[str, ...], node_ip: str) -> bool:
    ip = ipaddress.ip_address(node_ip)
    return any(ip.version == (n := ipaddress.ip_network(c)).version and ip in n for c in cidrs)


def render_endpoint_dispatch(
    out: PortRender,
    port: ServicePort,
    chain: str,
    endpoints: tuple[Endpoint, ...],
    seps: dict[str, str],
    ctx: RenderContext,
) -> None:
    """KUBE-SVC / KUBE-SVL: affinity checks first, then one rule per endpoint, each taking
    1/(n-i) of what is left (iptables-extensions(8), statistic), the last one unconditional."""
    out.nat_chains.append(chain)
    large, rules, spn = ctx.large_cluster, [], port.spn
    if port.affinity_seconds:
        for ep in endpoints:
            sep = seps[ep.endpoint]
            comment = "" if large else f'-m comment --comment "{spn} -> {ep.endpoint}" '
            rules.append(
                f"-A {chain} {comment}-m recent --name {sep} --rcheck "
                f"--seconds {port.affinity_seconds} --reap -j {sep}"
            )
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        comment = "" if large else f'-m comment --comment "{spn} -> {ep.endpoint}" '
        stat = ""
        if i < n - 1:  # the last endpoint takes whatever is left
            stat = f"-m statistic --mode random --probability {probability(n - i)} "
        rules.append(f"-A {chain} {comment}{stat}-j {seps[ep.endpoint]}")
    out.emit(chain, rules)


def render_sep_chain(
    out: PortRender, port: ServicePort, ep: Endpoint, chain: str, ctx: RenderContext
) -> None:
    """KUBE-SEP: masquerade hairpin traffic (a pod reaching itself through the Service), then
    DNAT to the endpoint, recording the client for ClientIP affinity."""
    p = port.protocol
    out.nat_chains.append(chain)
    head = f"-A {chain}" if ctx.large_cluster else f"-A {chain} -m comment --comment {port.spn}"
    recent = f" -m recent --name {chain} --set" if port.affinity_seconds else ""
    rules = [
        f"{head} -s {ep.ip} -j {KUBE_MARK_MASQ}",
        f"{head}{recent} -m {p} -p {p} -j DNAT --to-destination {ep.endpoint}",
    ]
    out.nat_rules.extend(rules)
    out.chain_rules[chain] = rules

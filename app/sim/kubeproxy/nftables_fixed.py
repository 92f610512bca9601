"""kube-proxy nftables mode: the fixed layout a full sync (re)creates (setupNFTables).

The table, its sets and verdict maps, the base chains with their hooks and priorities and the
helper chains with their rules, as the upstream test's `baseRules` record them
(kube-proxy-facts §3; corpus `nftables/nftables-base-rules.txt`).
"""

from __future__ import annotations

from typing import Protocol

from app.sim.kubeproxy.nftables_service import NftContext

ADDR_SETS = (
    ("cluster-ips", "Active ClusterIPs"),
    ("nodeport-ips", "IPs that accept NodePort traffic"),
)
_ADDR3 = "{addr} . inet_proto . inet_service : verdict"
MAPS = (
    ("firewall-ips", _ADDR3, "destinations that are subject to LoadBalancerSourceRanges"),
    (
        "no-endpoint-nodeports",
        "inet_proto . inet_service : verdict",
        "vmap to drop or reject packets to service nodeports with no endpoints",
    ),
    (
        "no-endpoint-services",
        _ADDR3,
        "vmap to drop or reject packets to services with no endpoints",
    ),
    ("service-ips", _ADDR3, "ClusterIP, ExternalIP and LoadBalancer IP traffic"),
    ("service-nodeports", "inet_proto . inet_service : verdict", "NodePort traffic"),
)
# Sets and maps whose elements come from the Services (kept incrementally).
ELEMENT_SETS = (
    "cluster-ips",
    "service-ips",
    "service-nodeports",
    "no-endpoint-services",
    "no-endpoint-nodeports",
    "firewall-ips",
)
CHAINS = (
    ("cluster-ips-check", ""),
    ("filter-prerouting-pre-dnat", "{ type filter hook prerouting priority -110 ; }"),
    ("filter-output-pre-dnat", "{ type filter hook output priority -110 ; }"),
    ("filter-forward", "{ type filter hook forward priority 0 ; }"),
    ("filter-input", "{ type filter hook input priority 0 ; }"),
    ("filter-output", "{ type filter hook output priority 0 ; }"),
    ("firewall-check", ""),
    ("mark-for-masquerade", ""),
    ("masquerading", ""),
    ("nat-output", "{ type nat hook output priority -100 ; }"),
    ("nat-postrouting", "{ type nat hook postrouting priority 100 ; }"),
    ("nat-prerouting", "{ type nat hook prerouting priority -100 ; }"),
    ("nodeport-endpoints-check", ""),
    ("reject-chain", '{ comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }'),
    ("services", ""),
    ("service-endpoints-check", ""),
)


class Transaction(Protocol):
    table: object
    where: str

    def run(self, command: str) -> None: ...


def setup(tx: Transaction, ctx: NftContext, service_cidrs: tuple[str, ...]) -> None:
    """The commands of a full sync's fixed part."""
    where, addr = tx.where, ctx.addr_type
    tx.run(f'add table {where} {{ comment "rules for kube-proxy" ; }}')
    nodeport_ips = nodeport_addresses(ctx)
    for name, comment in ADDR_SETS:
        if name == "nodeport-ips" and nodeport_ips is None:
            continue
        tx.run(f'add set {where} {name} {{ type {addr} ; comment "{comment}" ; }}')
    for name, kind, comment in MAPS:
        tx.run(
            f'add map {where} {name} {{ type {kind.format(addr=addr)} ; comment "{comment}" ; }}'
        )
    for name, spec in CHAINS:
        tx.run(f"add chain {where} {name} {spec}".rstrip())
    for chain, rules in fixed_rules(ctx, service_cidrs, nodeport_ips is None).items():
        tx.run(f"flush chain {where} {chain}")
        for rule in rules:
            tx.run(f"add rule {where} {chain} {rule}")
    if nodeport_ips is not None:
        _sync_nodeport_ips(tx, nodeport_ips)


def _sync_nodeport_ips(tx: Transaction, wanted: list[str]) -> None:
    have = tx.table.sets["nodeport-ips"].elements  # type: ignore[attr-defined]
    for key in [k for k in have if k[0] not in wanted]:
        tx.run(f"delete element {tx.where} nodeport-ips {{ {key[0]} }}")
    for ip in wanted:
        if (ip,) not in have:
            tx.run(f"add element {tx.where} nodeport-ips {{ {ip} }}")


def nodeport_addresses(ctx: NftContext) -> list[str] | None:
    """Node addresses that accept NodePorts; None means every local address (a zero CIDR).

    kube-proxy defaults an empty `--nodeport-addresses` to `primary` in nftables mode, so
    with none given only the node's primary IP accepts NodePorts.
    """
    import ipaddress

    options = ctx.options
    if not options.nodeport_addresses:
        ip = ipaddress.ip_address(ctx.node.primary_ip)
        return [str(ip)] if (ip.version == 6) == options.ipv6 else []
    if options.nodeports_match_all():
        return None
    nets = [ipaddress.ip_network(c) for c in options.nodeport_cidrs()]
    return [str(ip) for ip in ctx.node.addresses(options.family) if any(ip in n for n in nets)]


def fixed_rules(
    ctx: NftContext, service_cidrs: tuple[str, ...], match_all: bool
) -> dict[str, list[str]]:
    ipx, mark = ctx.ipx, ctx.options.masquerade_mark
    if match_all:
        loopback = "127.0.0.0/8" if ipx == "ip" else "::1"
        nodeports = f"fib daddr type local {ipx} daddr != {loopback}"
    else:
        nodeports = f"{ipx} daddr @nodeport-ips"
    cluster_check = [
        f'{ipx} daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"'
    ]
    if service_cidrs:
        cluster_check.append(
            f"{ipx} daddr {{ {' , '.join(service_cidrs)} }} drop "
            'comment "Drop traffic to unallocated ClusterIPs"'
        )
    new = "ct state new"
    return {
        "cluster-ips-check": cluster_check,
        "filter-prerouting-pre-dnat": [f"{new} jump firewall-check"],
        "filter-output-pre-dnat": [f"{new} jump firewall-check"],
        "filter-forward": [f"{new} jump service-endpoints-check", f"{new} jump cluster-ips-check"],
        "filter-input": [
            f"{new} jump nodeport-endpoints-check",
            f"{new} jump service-endpoints-check",
        ],
        "filter-output": [f"{new} jump service-endpoints-check", f"{new} jump cluster-ips-check"],
        "firewall-check": [f"{ipx} daddr . meta l4proto . th dport vmap @firewall-ips"],
        "mark-for-masquerade": [f"mark set mark or {mark}"],
        "masquerading": [
            f"mark and {mark} == 0 return",
            f"mark set mark xor {mark}",
            "masquerade fully-random",
        ],
        "nat-output": ["jump services"],
        "nat-postrouting": ["jump masquerading"],
        "nat-prerouting": ["jump services"],
        "nodeport-endpoints-check": [
            f"{nodeports} meta l4proto . th dport vmap @no-endpoint-nodeports"
        ],
        "reject-chain": ["reject"],
        "services": [
            f"{ipx} daddr . meta l4proto . th dport vmap @service-ips",
            f"{nodeports} meta l4proto . th dport vmap @service-nodeports",
        ],
        "service-endpoints-check": [
            f"{ipx} daddr . meta l4proto . th dport vmap @no-endpoint-services"
        ],
    }

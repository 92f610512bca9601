"""The rules kube-proxy writes on every sync whatever the Services are: its top-level chains,
KUBE-POSTROUTING / KUBE-MARK-MASQ, KUBE-FORWARD, kubelet's KUBE-FIREWALL, the KUBE-SERVICES
tail jump to KUBE-NODEPORTS, and the jumps from the builtin chains (full syncs only)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from app.sim.kubeproxy.iptables_service import (
    KUBE_EXTERNAL_SERVICES,
    KUBE_MARK_MASQ,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
    KUBE_SERVICES,
)
from app.sim.kubeproxy.options import NodeInfo, ProxyOptions

KUBE_FORWARD = "KUBE-FORWARD"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_FIREWALL = "KUBE-FIREWALL"  # kubelet's chain; kube-proxy keeps a copy of its rule
KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY"
CT_INVALID_COUNTER = "ct_state_invalid_dropped_pkts"
NODEPORTS_COMMENT = '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"'

# Chain lines at the top of each table, in kube-proxy's order.
FILTER_CHAINS = (
    KUBE_SERVICES,
    KUBE_EXTERNAL_SERVICES,
    KUBE_FORWARD,
    KUBE_NODEPORTS,
    KUBE_PROXY_FIREWALL,
)
NAT_CHAINS = (KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ)


@dataclass(frozen=True)
class JumpRule:
    """A rule kube-proxy ensures in a builtin chain (`iptables -C`, else `-I CHAIN 1`)."""

    table: str
    chain: str
    target: str
    comment: str | None
    extra: str = ""

    def args(self) -> str:
        """The rule's arguments in kube-proxy's order: extra match, comment, jump."""
        parts = [self.extra] if self.extra else []
        if self.comment:
            parts.append(f'-m comment --comment "{self.comment}"')
        parts.append(f"-j {self.target}")
        return " ".join(parts)


_NEW = "-m conntrack --ctstate NEW"
_EXTERNAL = "kubernetes externally-visible service portals"
# iptablesJumpChains, in order; each is prepended, so on a fresh host the last one ends up
# first. kubelet's two KUBE-FIREWALL jumps follow (no comment, no match).
JUMP_RULES = (
    JumpRule("filter", "INPUT", KUBE_EXTERNAL_SERVICES, _EXTERNAL, _NEW),
    JumpRule("filter", "FORWARD", KUBE_EXTERNAL_SERVICES, _EXTERNAL, _NEW),
    JumpRule("filter", "INPUT", KUBE_NODEPORTS, "kubernetes health check service ports"),
    JumpRule("filter", "FORWARD", KUBE_SERVICES, "kubernetes service portals", _NEW),
    JumpRule("filter", "OUTPUT", KUBE_SERVICES, "kubernetes service portals", _NEW),
    JumpRule("filter", "FORWARD", KUBE_FORWARD, "kubernetes forwarding rules"),
    JumpRule("filter", "INPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    JumpRule("filter", "OUTPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    JumpRule("filter", "FORWARD", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    JumpRule("nat", "OUTPUT", KUBE_SERVICES, "kubernetes service portals"),
    JumpRule("nat", "PREROUTING", KUBE_SERVICES, "kubernetes service portals"),
    JumpRule("nat", "POSTROUTING", KUBE_POSTROUTING, "kubernetes postrouting rules"),
    JumpRule("filter", "INPUT", KUBE_FIREWALL, None),
    JumpRule("filter", "OUTPUT", KUBE_FIREWALL, None),
)  # fmt: skip


def has_kubelet_firewall(options: ProxyOptions) -> bool:
    """KUBE-FIREWALL is written only for IPv4 with localhost NodePorts (route_localnet=1 opens
    the hole, https://issue.k8s.io/90259, that its rule closes)."""
    return not options.ipv6 and options.localhost_nodeports


def filter_chain_names(options: ProxyOptions) -> list[str]:
    names = list(FILTER_CHAINS)
    if has_kubelet_firewall(options):
        names.append(KUBE_FIREWALL)
    return names


def render_kubelet_firewall(options: ProxyOptions) -> list[str]:
    """Drop packets to 127/8 that did not come from 127/8 and were not DNATed there."""
    if not has_kubelet_firewall(options):
        return []
    return [
        f'-A {KUBE_FIREWALL} -m comment --comment "block incoming localnet connections" '
        "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
    ]


def render_postrouting(options: ProxyOptions) -> list[str]:
    """KUBE-POSTROUTING and KUBE-MARK-MASQ: packets marked on the way in are masqueraded on
    the way out; the mark is cleared first so a re-traversal does not masquerade twice."""
    mark = options.masquerade_mark
    masq = (
        f'-A {KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT"'
        " -j MASQUERADE"
    )
    if options.random_fully:  # only when the installed iptables supports it
        masq += " --random-fully"
    return [
        f"-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN",
        f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}",
        masq,
        f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}",
    ]


def render_forward(options: ProxyOptions) -> list[str]:
    """KUBE-FORWARD: drop conntrack INVALID (unless the host is TCP-liberal, which makes such
    packets harmless: kubernetes#74839), accept marked and established traffic."""
    mark = options.masquerade_mark
    rules = []
    if not options.conntrack_tcp_liberal:
        counter = (
            f" -m nfacct --nfacct-name {CT_INVALID_COUNTER}"
            if CT_INVALID_COUNTER in options.nfacct_counters
            else ""
        )
        rules.append(f"-A {KUBE_FORWARD} -m conntrack --ctstate INVALID{counter} -j DROP")
    rules.append(
        f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" '
        f"-m mark --mark {mark}/{mark} -j ACCEPT"
    )
    rules.append(
        f'-A {KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    )
    return rules


def render_nodeports_tail(options: ProxyOptions, node: NodeInfo) -> list[str]:
    """The last rule(s) of nat KUBE-SERVICES: hand local-destination traffic to KUBE-NODEPORTS.

    With `--nodeport-addresses` unset, one addrtype LOCAL rule (minus loopback where localhost
    NodePorts cannot work); otherwise one rule per matching node address, in interface order.
    """
    head = f"-A {KUBE_SERVICES} -m comment --comment {NODEPORTS_COMMENT}"
    if options.nodeports_match_all():
        dest = "-m addrtype --dst-type LOCAL"
        if options.ipv6:
            dest += " ! -d ::1/128"
        elif not options.localhost_nodeports:
            dest += " ! -d 127.0.0.0/8"
        return [f"{head} {dest} -j {KUBE_NODEPORTS}"]
    cidrs = [ipaddress.ip_network(c) for c in options.nodeport_cidrs()]
    rules = []
    for ip in node.addresses(options.family):
        if not any(ip in c for c in cidrs):
            continue
        if ip.is_loopback and (options.ipv6 or not options.localhost_nodeports):
            continue  # kube-proxy logs an error and skips it
        rules.append(f"{head} -d {ip} -j {KUBE_NODEPORTS}")
    return rules

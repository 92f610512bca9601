"""The iptables rules kube-proxy's IPVS mode still writes (pkg/proxy/ipvs/proxier.go
writeIptablesRules, acceptIPVSTraffic, createAndLinkKubeChain), as iptables-restore input.

Unlike iptables mode, the restore input puts **nat before filter**. The jumps from the builtin
chains are not part of it: kube-proxy inserts them with `iptables -I` (EnsureRule Prepend), so
the last one inserted comes first; `node_restore` adds them for the node's full view.
"""

from __future__ import annotations

from app.sim.kubeproxy.ipset import IpSet
from app.sim.kubeproxy.options import ProxyOptions

NAT_CHAINS = (
    "KUBE-SERVICES",
    "KUBE-POSTROUTING",
    "KUBE-NODE-PORT",
    "KUBE-LOAD-BALANCER",
    "KUBE-MARK-MASQ",
)
FILTER_CHAINS = (
    "KUBE-FORWARD",
    "KUBE-NODE-PORT",
    "KUBE-PROXY-FIREWALL",
    "KUBE-SOURCE-RANGES-FIREWALL",
    "KUBE-IPVS-FILTER",
    "KUBE-IPVS-OUT-FILTER",
)
# (table, builtin chain, kube chain, comment) in the order kube-proxy prepends them.
JUMPS = (
    ("nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals"),
    ("nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals"),
    ("nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules"),
    ("filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules"),
    ("filter", "INPUT", "KUBE-NODE-PORT", "kubernetes health check rules"),
    ("filter", "INPUT", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"),
    ("filter", "FORWARD", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"),
    ("filter", "INPUT", "KUBE-IPVS-FILTER", "kubernetes ipvs access filter"),
    ("filter", "OUTPUT", "KUBE-IPVS-OUT-FILTER", "kubernetes ipvs access filter"),
)
# ipsetWithIptablesChain: (set, table, from chain, to, match dims, protocol).
SET_RULES = (
    ("KUBE-LOOP-BACK", "nat", "KUBE-POSTROUTING", "MASQUERADE", "dst,dst,src", ""),
    ("KUBE-LOAD-BALANCER", "nat", "KUBE-SERVICES", "KUBE-LOAD-BALANCER", "dst,dst", ""),
    ("KUBE-LOAD-BALANCER-LOCAL", "nat", "KUBE-LOAD-BALANCER", "RETURN", "dst,dst", ""),
    ("KUBE-NODE-PORT-LOCAL-TCP", "nat", "KUBE-NODE-PORT", "RETURN", "dst", "tcp"),
    ("KUBE-NODE-PORT-TCP", "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst", "tcp"),
    ("KUBE-NODE-PORT-LOCAL-UDP", "nat", "KUBE-NODE-PORT", "RETURN", "dst", "udp"),
    ("KUBE-NODE-PORT-UDP", "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst", "udp"),
    ("KUBE-NODE-PORT-LOCAL-SCTP-HASH", "nat", "KUBE-NODE-PORT", "RETURN", "dst,dst", "sctp"),
    ("KUBE-NODE-PORT-SCTP-HASH", "nat", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "dst,dst", "sctp"),
    ("KUBE-LOAD-BALANCER-FW", "filter", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL",
     "dst,dst", ""),
    ("KUBE-LOAD-BALANCER-SOURCE-CIDR", "filter", "KUBE-SOURCE-RANGES-FIREWALL", "RETURN",
     "dst,dst,src", ""),
    ("KUBE-LOAD-BALANCER-SOURCE-IP", "filter", "KUBE-SOURCE-RANGES-FIREWALL", "RETURN",
     "dst,dst,src", ""),
)  # fmt: skip


def _q(text: str) -> str:
    return f'"{text}"'


def _set_match(s: IpSet, dims: str, comment: bool = True) -> str:
    text = f"-m comment --comment {_q(s.comment)} " if comment else ""
    return f"{text}-m set --match-set {s.name} {dims}"


class _Writer:
    """The nat and filter rule buffers (proxier.natRules / filterRules)."""

    def __init__(self) -> None:
        self.nat: list[str] = []
        self.filter: list[str] = []

    def add(self, table: str, line: str) -> None:
        (self.nat if table == "nat" else self.filter).append(line)


def render_rules(
    sets: dict[str, IpSet],
    options: ProxyOptions,
    lb_no_node_access: list[tuple[str, str, int]],
) -> str:
    """The restore input for one sync: nat then filter, chains then rules."""
    w = _Writer()
    lo = "::1/128" if options.ipv6 else "127.0.0.0/8"
    w.add("nat", f"-A KUBE-SERVICES -s {lo} -j RETURN")
    for name, table, chain, to, dims, proto in SET_RULES:
        s = sets[name]
        if s.entries:
            p = f"-p {proto} " if proto else ""
            w.add(table, f"-A {chain} {p}{_set_match(s, dims)} -j {to}")
    _cluster_ip_masq(w, sets["KUBE-CLUSTER-IP"], options)
    _external_ips(w, sets)
    w.add("nat", "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT")
    w.add("nat", "-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ")
    w.add("filter", "-A KUBE-SOURCE-RANGES-FIREWALL -j DROP")
    for ip, proto, port in lb_no_node_access:
        w.add("filter", f"-A KUBE-IPVS-OUT-FILTER -s {ip} -m ipvs --vaddr {ip} "
                        f"--vproto {proto} --vport {port} -j DROP")  # fmt: skip
    for name in ("KUBE-CLUSTER-IP", "KUBE-LOAD-BALANCER"):  # acceptIPVSTraffic
        if sets[name].entries:
            w.add("nat", f"-A KUBE-SERVICES -m set --match-set {sets[name].name} dst,dst -j ACCEPT")
    _filter_tail(w, sets, options.masquerade_mark)
    _postrouting(w, options)
    return _assemble(w)


def _cluster_ip_masq(w: _Writer, s: IpSet, options: ProxyOptions) -> None:
    if not s.entries:
        return
    head = f"-A KUBE-SERVICES {_set_match(s, '')}".rstrip()
    if options.masquerade_all:
        w.add("nat", f"{head} dst,dst -j KUBE-MARK-MASQ")
    elif options.local_detector_cidr:
        w.add("nat", f"{head} dst,dst ! -s {options.local_detector_cidr} -j KUBE-MARK-MASQ")
    else:
        # No local detector: masquerade node-originated traffic whose source is a VIP.
        w.add("nat", f"{head} src,dst -j KUBE-MARK-MASQ")


def _external_ips(w: _Writer, sets: dict[str, IpSet]) -> None:
    for name, masq in (("KUBE-EXTERNAL-IP", True), ("KUBE-EXTERNAL-IP-LOCAL", False)):
        s = sets[name]
        if not s.entries:
            continue
        head = f"-A KUBE-SERVICES {_set_match(s, 'dst,dst')}"
        if masq:
            w.add("nat", f"{head} -j KUBE-MARK-MASQ")
        # Off-machine traffic (not bridged from a pod, not from a local process), and traffic
        # to external IPs that are local addresses, stays with IPVS.
        w.add("nat", f"{head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL "
                     "-j ACCEPT")  # fmt: skip
        w.add("nat", f"{head} -m addrtype --dst-type LOCAL -j ACCEPT")


def _filter_tail(w: _Writer, sets: dict[str, IpSet], mark: str) -> None:
    w.add("filter", '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
                    f"-m mark --mark {mark}/{mark} -j ACCEPT")  # fmt: skip
    w.add("filter", '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
                    "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")  # fmt: skip
    hc = sets["KUBE-HEALTH-CHECK-NODE-PORT"]
    w.add("filter", f"-A KUBE-NODE-PORT {_set_match(hc, 'dst')} -j ACCEPT")
    # KUBE-IPVS-FILTER: VIP:port pairs IPVS serves pass; anything else to a VIP is refused
    # (kubernetes/kubernetes#72236: host ports must not be reachable through VIPs).
    for name in ("KUBE-LOAD-BALANCER", "KUBE-CLUSTER-IP", "KUBE-EXTERNAL-IP",
                 "KUBE-EXTERNAL-IP-LOCAL"):  # fmt: skip
        w.add("filter", f"-A KUBE-IPVS-FILTER -m set --match-set {sets[name].name} dst,dst "
                        "-j RETURN")  # fmt: skip
    w.add("filter", f"-A KUBE-IPVS-FILTER -m set --match-set {hc.name} dst -j RETURN")
    w.add("filter", "-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set "
                    f"{sets['KUBE-IPVS-IPS'].name} dst -j REJECT")  # fmt: skip


def _postrouting(w: _Writer, options: ProxyOptions) -> None:
    mark = options.masquerade_mark
    w.add("nat", f"-A KUBE-POSTROUTING -m mark ! --mark {mark}/{mark} -j RETURN")
    w.add("nat", f"-A KUBE-POSTROUTING -j MARK --xor-mark {mark}")
    fully = " --random-fully" if options.random_fully else ""
    w.add("nat", '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic '
                 f'requiring SNAT" -j MASQUERADE{fully}')  # fmt: skip
    w.add("nat", f"-A KUBE-MARK-MASQ -j MARK --or-mark {mark}")


def _assemble(w: _Writer) -> str:
    lines = ["*nat", *(f":{c} - [0:0]" for c in NAT_CHAINS), *w.nat, "COMMIT"]
    lines += ["*filter", *(f":{c} - [0:0]" for c in FILTER_CHAINS), *w.filter, "COMMIT"]
    return "\n".join(lines) + "\n"


def node_restore(restore: str) -> str:
    """The node's whole view: builtin chains with kube-proxy's jumps (prepended in order, so
    the last one inserted is first), then the restore input's chains and rules."""
    lines: list[str] = []
    for table, builtins in (("nat", ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")),
                            ("filter", ("INPUT", "FORWARD", "OUTPUT"))):  # fmt: skip
        body = restore.split(f"*{table}\n", 1)[1].split("COMMIT\n", 1)[0].splitlines()
        lines += [f"*{table}", *(f":{b} ACCEPT [0:0]" for b in builtins)]
        lines += [x for x in body if x.startswith(":")]
        for builtin in builtins:
            jumps = [j for j in JUMPS if j[0] == table and j[1] == builtin]
            lines += [f'-A {builtin} -m comment --comment "{c}" -j {to}'
                      for _, _, to, c in reversed(jumps)]  # fmt: skip
        lines += [x for x in body if not x.startswith(":")]
        lines.append("COMMIT")
    return "\n".join(lines) + "\n"

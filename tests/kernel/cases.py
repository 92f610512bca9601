"""Hand-written engine-vs-kernel cases: kube-proxy's own paths, then one netfilter feature
per case (RETURN, GOTO, policies, REJECT, MARK, addrtype, ctstate, statistic, multiport,
negations, interfaces).

Addresses follow CONTRACTS.md's default node: 192.168.49.2/24 on eth0, pods 10.244.0.0/16
behind cni0, a client at 192.168.49.100.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RULESETS = Path(__file__).parent / "rulesets"


def _load(name: str) -> str:
    """An iptables-save file of rulesets/ (kept as files: rule lines are long)."""
    return (RULESETS / f"{name}.rules").read_text()


# A kube-proxy (iptables mode) ruleset for three Services:
#   web  10.96.0.10:80, NodePort 30080 -> one endpoint 10.244.2.6:8080
#   api  10.96.0.11:443                -> two endpoints, 1/2 each (-m statistic)
#   gone 10.96.0.12:80, NodePort 30090 -> no endpoints (REJECT in filter)
KUBE = _load("kube")

CHAINS = _load("chains")

REJECTS = _load("rejects")

MARKS = _load("marks")

MATCHES = _load("matches")

# A nat table that no NAT target uses: the kernel then never loads conntrack for the
# namespace, and nat chains are not traversed at all (nf_nat needs a conntrack entry).
NAT_WITHOUT_TARGETS = _load("nat-without-targets")
# DNAT to the node itself and to 127.0.0.1 (a martian on eth0 unless route_localnet=1).
LOCALHOST = _load("localhost")
# -m conntrack in raw runs before conntrack (NF_IP_PRI_RAW < NF_IP_PRI_CONNTRACK): a packet
# has no entry yet, so xt_conntrack sees INVALID, or UNTRACKED after CT --notrack.
RAW_CTSTATE = _load("raw-ctstate")
LOCALNET = {"sysctls": {"net.ipv4.conf.all.route_localnet": 1}}


@dataclass(frozen=True)
class Case:
    name: str
    ruleset: str
    packet: dict
    random: bool = False  # -m statistic with 0 < p < 1 on the path: any engine branch may match


def client(dst: str, dport: int, proto: str = "tcp", src: str = "192.168.49.100") -> dict:
    return {"origin": "external", "in_iface": "eth0", "src": src, "dst": dst, "proto": proto,
            "sport": 40000, "dport": dport}  # fmt: skip


def pod(dst: str, dport: int, proto: str = "tcp", src: str = "10.244.1.5") -> dict:
    return {**client(dst, dport, proto, src), "in_iface": "cni0"}


def node(dst: str, dport: int, proto: str = "tcp", src: str = "192.168.49.2") -> dict:
    return {"origin": "local", "src": src, "dst": dst, "proto": proto, "sport": 41000,
            "dport": dport}  # fmt: skip


NODE_IP, LOCAL_IP = "192.168.49.2", "192.168.49.3"
CASES = [
    Case("ClusterIP from outside", KUBE, client("10.96.0.10", 80)),
    Case("ClusterIP from a pod", KUBE, pod("10.96.0.10", 80)),
    Case(
        "ClusterIP hairpin: the endpoint calls itself",
        KUBE,
        pod("10.96.0.10", 80, src="10.244.2.6"),
    ),
    Case("ClusterIP from the node", KUBE, node("10.96.0.10", 80)),
    Case("ClusterIP, wrong port: no service", KUBE, client("10.96.0.10", 81)),
    Case("ClusterIP, two endpoints (random)", KUBE, client("10.96.0.11", 443), random=True),
    Case(
        "ClusterIP, two endpoints, from a pod (random)", KUBE, pod("10.96.0.11", 443), random=True
    ),
    Case("NodePort from outside", KUBE, client(NODE_IP, 30080)),
    Case("NodePort from a pod", KUBE, pod(NODE_IP, 30080)),
    Case("NodePort from the node", KUBE, node(NODE_IP, 30080)),
    Case(
        "NodePort on a second node address",
        KUBE,
        {**client(LOCAL_IP, 30080), "local_ips": [LOCAL_IP]},
    ),
    Case("NodePort without endpoints: REJECT", KUBE, client(NODE_IP, 30090)),
    Case("ClusterIP without endpoints from outside: REJECT", KUBE, client("10.96.0.12", 80)),
    Case("ClusterIP without endpoints from the node: REJECT", KUBE, node("10.96.0.12", 80)),
    Case("plain packet to the node through kube rules", KUBE, client(NODE_IP, 22)),
    Case("UDP through kube rules", KUBE, client("10.96.0.10", 80, "udp")),
    Case("RETURN back to INPUT", CHAINS, client(NODE_IP, 8080)),
    Case("DROP inside a jumped chain", CHAINS, client(NODE_IP, 22)),
    Case("fall off a jumped chain", CHAINS, client(NODE_IP, 9)),
    Case("GOTO from a builtin: fall off to the policy", CHAINS, client(NODE_IP, 53, "udp")),
    Case("GOTO inside a jump: back to the jumping chain", CHAINS, client("10.244.1.5", 80)),
    Case("GOTO target drops", CHAINS, client("10.244.2.6", 9)),
    Case("FORWARD policy DROP", CHAINS, client("203.0.113.50", 80)),
    Case("INPUT policy ACCEPT", CHAINS, client(NODE_IP, 9, "udp", src="203.0.113.7")),
    Case("REJECT tcp-reset in INPUT", REJECTS, client(NODE_IP, 23)),
    Case("REJECT icmp-port-unreachable in INPUT", REJECTS, client(NODE_IP, 69, "udp")),
    Case("REJECT in FORWARD", REJECTS, client("10.244.1.5", 25)),
    Case("REJECT in OUTPUT", REJECTS, node("203.0.113.50", 80)),
    Case("MARK in mangle, -m mark in filter INPUT", MARKS, client(NODE_IP, 443)),
    Case("no MARK: INPUT policy DROP", MARKS, client(NODE_IP, 80)),
    Case("! --mark", MARKS, client(NODE_IP, 53, "udp")),
    Case("MARK from the pod interface, FORWARD", MARKS, pod("203.0.113.50", 80)),
    Case("MARK in OUTPUT, dropped by --mark", MARKS, node("203.0.113.50", 53, "udp")),
    Case("statistic 0 and 1, then DNAT", MATCHES, client("10.96.0.40", 80)),
    Case("addrtype LOCAL, port range DNAT", MATCHES, client(NODE_IP, 30007)),
    Case("! addrtype LOCAL", MATCHES, {**client("10.96.0.41", 80), "local_ips": ["10.96.0.41"]}),
    Case("multiport --dports", MATCHES, client(NODE_IP, 443)),
    Case("! -s", MATCHES, client(NODE_IP, 80, src="203.0.113.7")),
    Case("! --dport", MATCHES, client(NODE_IP, 8080)),
    Case("! -p with --src-type LOCAL", MATCHES, node(NODE_IP, 5353, "udp")),
    Case("-i eth+ wildcard", MATCHES, client(NODE_IP, 5353, "udp")),
    Case("ctstate DNAT and -o cni+ in FORWARD", MATCHES, pod("10.96.0.40", 80)),
    Case("! -i and -o in FORWARD", MATCHES, client("203.0.113.50", 80)),
    Case("-i cni0 with multiport --sports", MATCHES, pod("203.0.113.50", 80)),
    Case("nat table without NAT targets", NAT_WITHOUT_TARGETS, client(NODE_IP, 80)),
    Case("ctstate in raw: INVALID before conntrack", RAW_CTSTATE, client(NODE_IP, 80)),
    Case("ctstate in raw: UNTRACKED after CT --notrack", RAW_CTSTATE, client(NODE_IP, 53, "udp")),
    Case("DNAT to 127.0.0.1 from outside: martian", LOCALHOST, client(NODE_IP, 8081)),
    Case("DNAT to 127.0.0.1 with route_localnet", LOCALHOST, {**client(NODE_IP, 8081), **LOCALNET}),
    Case("node to service DNAT to the node: through lo", LOCALHOST, node("10.96.0.60", 80)),
    Case("node to service DNAT to 127.0.0.1", LOCALHOST, node("10.96.0.61", 80)),
    Case("pod to pod through the node", LOCALHOST, pod("10.244.2.6", 80)),
    Case("node to its own address", LOCALHOST, node(NODE_IP, 8080)),
]

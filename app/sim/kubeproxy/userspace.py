"""kube-proxy's userspace mode (historical: removed in Kubernetes v1.26), as the 2017
pkg/proxy/userspace/proxier.go wrote its rules (kube-proxy-facts.md section 5).

kube-proxy itself was the data path: per service port it listened on a port of the node (the
"proxy port", chosen by the kernel when no --proxy-port-range was set) and steered the
service's traffic there with nat rules:

* KUBE-PORTALS-CONTAINER (from nat PREROUTING, first): traffic from pods to ClusterIP:port is
  REDIRECTed to the proxy port (iptablesContainerPortalArgs);
* KUBE-PORTALS-HOST (from nat OUTPUT, first): the node's own traffic is DNATed to
  nodeIP:proxyPort (iptablesHostPortalArgs: the proxy listens on all addresses, so the
  node's IP is used);
* KUBE-NODEPORT-CONTAINER / KUBE-NODEPORT-HOST (appended last, `-m addrtype --dst-type
  LOCAL`) do the same for NodePorts, and filter KUBE-NODEPORT-NON-LOCAL accepts them.

Rule comments are the service port's name (`ServicePortName.String()`, iptablesCommonPortalArgs).
The process then opens its own connection to an endpoint (app/sim/userspace/proxy.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from app.sim.kubeproxy.service import PortEndpoints
from app.sim.kubeproxy.state import ProxyState

PORTALS_CONTAINER = "KUBE-PORTALS-CONTAINER"
PORTALS_HOST = "KUBE-PORTALS-HOST"
NODEPORT_CONTAINER = "KUBE-NODEPORT-CONTAINER"
NODEPORT_HOST = "KUBE-NODEPORT-HOST"
NODEPORT_NON_LOCAL = "KUBE-NODEPORT-NON-LOCAL"
PORT_FIRST, PORT_LAST = 32768, 60999  # listen(0) picks from net.ipv4.ip_local_port_range

CLUSTER_IPS = "handle ClusterIPs; NOTE: this must be before the NodePort rules"
NODE_PORTS = "handle service NodePorts; NOTE: this must be the last rule in the chain"
NON_LOCAL = "Ensure that non-local NodePort traffic can flow"

# (table, builtin chain, rule args, first?) as iptablesInit ensures them (EnsureRule).
JUMPS: tuple[tuple[str, str, str, bool], ...] = (
    ("nat", "PREROUTING", f'-m comment --comment "{CLUSTER_IPS}" -j {PORTALS_CONTAINER}', True),
    ("nat", "OUTPUT", f'-m comment --comment "{CLUSTER_IPS}" -j {PORTALS_HOST}', True),
    (
        "nat",
        "PREROUTING",
        f'-m addrtype --dst-type LOCAL -m comment --comment "{NODE_PORTS}" -j {NODEPORT_CONTAINER}',
        False,
    ),
    (
        "nat",
        "OUTPUT",
        f'-m addrtype --dst-type LOCAL -m comment --comment "{NODE_PORTS}" -j {NODEPORT_HOST}',
        False,
    ),
    ("filter", "INPUT", f'-m comment --comment "{NON_LOCAL}" -j {NODEPORT_NON_LOCAL}', False),
)


@dataclass(frozen=True)
class Portal:
    """One service port as the userspace proxier serves it."""

    spn: str  # namespace/name[:port]
    protocol: str
    cluster_ip: str
    port: int
    node_port: int
    proxy_port: int
    endpoints: tuple[str, ...]  # ready endpoints, ip:port
    affinity_seconds: int = 0  # sessionAffinity ClientIP timeout, 0 = None

    @property
    def key(self) -> str:
        return f"{self.spn}/{self.protocol}"


@dataclass
class UserspaceSync:
    """The portals and the nat/filter restore input for the five userspace chains."""

    portals: list[Portal] = field(default_factory=list)
    restore: str = ""

    def by_proxy_port(self, port: int) -> Portal | None:
        return next((p for p in self.portals if p.proxy_port == port), None)

    def ports(self) -> dict[str, int]:
        return {p.key: p.proxy_port for p in self.portals}


def proxy_port(key: str, seed: int, taken: set[int]) -> int:
    """A stable stand-in for the kernel's choice of a free ephemeral port for `key`."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    span = PORT_LAST - PORT_FIRST + 1
    port = PORT_FIRST + int.from_bytes(digest[:4], "big") % span
    while port in taken:
        port = PORT_FIRST + (port - PORT_FIRST + 1) % span
    return port


def render_userspace(
    state: ProxyState, *, seed: int = 0, previous: dict[str, int] | None = None
) -> UserspaceSync:
    """The userspace proxier's view of `state`: a portal (with its proxy port, kept from
    `previous` while the service port lives) per ClusterIP service port, and its rules."""
    previous = previous or {}
    sync = UserspaceSync()
    taken = set(previous.values())
    for key in state.keys_in_order():
        for pe in state.views[key].ports:
            sync.portals.append(_portal(pe, seed, previous, taken))
    sync.restore = _restore(sync.portals, state.node.primary_ip)
    return sync


def _portal(pe: PortEndpoints, seed: int, previous: dict[str, int], taken: set[int]) -> Portal:
    port = pe.port
    key = f"{port.spn}/{port.protocol}"
    chosen = previous.get(key) or proxy_port(key, seed, taken)
    taken.add(chosen)
    ready = tuple(e.endpoint for e in pe.endpoints if e.ready)
    return Portal(
        port.spn,
        port.protocol,
        port.cluster_ip,
        port.port,
        port.node_port,
        chosen,
        ready,
        port.affinity_seconds,
    )


def _restore(portals: list[Portal], node_ip: str) -> str:
    nat = {c: [] for c in (PORTALS_CONTAINER, PORTALS_HOST, NODEPORT_CONTAINER, NODEPORT_HOST)}
    accept: list[str] = []
    for p in portals:
        match = f'-p {p.protocol} -m comment --comment "{p.spn}" -m {p.protocol}'
        if p.cluster_ip and p.cluster_ip != "None":
            where = f"-d {p.cluster_ip}/32 {match} --dport {p.port}"
            nat[PORTALS_CONTAINER].append(f"{where} -j REDIRECT --to-ports {p.proxy_port}")
            nat[PORTALS_HOST].append(f"{where} -j DNAT --to-destination {node_ip}:{p.proxy_port}")
        if p.node_port:
            where = f"{match} --dport {p.node_port}"
            nat[NODEPORT_CONTAINER].append(f"{where} -j REDIRECT --to-ports {p.proxy_port}")
            nat[NODEPORT_HOST].append(f"{where} -j DNAT --to-destination {node_ip}:{p.proxy_port}")
            accept.append(f"{match} --dport {p.proxy_port} -j ACCEPT")
    lines = ["*nat", *(f":{c} - [0:0]" for c in nat)]
    lines += [f"-A {c} {r}" for c, rules in nat.items() for r in rules]
    lines += ["COMMIT", "*filter", f":{NODEPORT_NON_LOCAL} - [0:0]"]
    lines += [f"-A {NODEPORT_NON_LOCAL} {r}" for r in accept]
    return "\n".join([*lines, "COMMIT", ""])

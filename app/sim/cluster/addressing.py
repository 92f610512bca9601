"""From names to packets: where a lab request starts, where it goes, which node it meets.

The HTTP API (CONTRACTS.md) takes `{"from": "pod/NAME" | "node/NAME" | "external",
"to": "IP:PORT" | "svc/NAME:PORT"}`; the trace engine takes a packet JSON and a node. This
module is the bridge, using the cluster's own addresses:

- a pod's packet meets its node's netfilter arriving from the pod network (`cni0`);
- a node's own packet is `local` (OUTPUT hook) with the node's InternalIP as source;
- an external client (192.168.49.100, on the nodes' LAN) arrives on `eth0` of the node whose
  address it targets, or of the first worker (where a load balancer would send it).
Each node routes its own pod /24 to `cni0` and everything else out of `eth0`, so a packet
DNATed to a pod on another node visibly leaves the node. `cni0` holds the first address of
the node's pod /24 (`pod_iface_ip`), as the CNI bridge plugin's gateway does: MASQUERADE of a
hairpin connection (a pod reaching itself through a Service) picks it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.sim.cluster.errors import ClusterError, NotFound
from app.sim.cluster.objects import Node, Pod, Service

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

EXTERNAL_CLIENT = "192.168.49.100"
DEFAULT_SPORT = 40000


@dataclass(frozen=True)
class Request:
    """One packet ready for the engine: `packet` is CONTRACTS.md's packet JSON for `node`."""

    node: str
    packet: dict[str, Any]
    service: tuple[str, str] | None  # the Service the destination belongs to, if any


def _split(spec: str, namespace: str) -> tuple[str, str]:
    """`NAME` or `NAMESPACE/NAME`."""
    ns, _, name = spec.rpartition("/")
    return (ns or namespace), name


def node_context(cluster: Cluster, name: str) -> dict[str, Any]:
    """The packet-JSON keys describing node `name` (address, pod network, interfaces)."""
    node = cluster.nodes.get(name)
    if node is None:
        raise NotFound("Node", name)
    pods = ipaddress.ip_network(node.pod_cidr, strict=False)
    bridge = f"{next(pods.hosts())}/{pods.prefixlen}"
    return {
        "node_ip": f"{node.internal_ip}/24",
        "pod_cidr": [node.pod_cidr],
        "pod_iface": "cni0",
        "pod_iface_ip": bridge,
    }


def _service_port(svc: Service, port: str) -> int:
    for candidate in svc.ports:
        if port in (str(candidate.port), candidate.name) and port:
            return candidate.port
    known = ", ".join(str(p.port) + (f" ({p.name})" if p.name else "") for p in svc.ports)
    raise ClusterError(f'service "{svc.name}" has no port "{port}" (ports: {known or "none"})')


def resolve_destination(cluster: Cluster, spec: str, namespace: str = "default") -> tuple[str, int]:
    """`IP:PORT`, `svc/NAME:PORT` (number or port name) or `node/NAME:PORT` -> (ip, port)."""
    target, sep, port = spec.rpartition(":")
    if not sep or not target:
        raise ClusterError(f'bad destination "{spec}": expected IP:PORT or svc/NAME:PORT')
    if target.startswith(("svc/", "service/")):
        ns, name = _split(target.split("/", 1)[1], namespace)
        svc = cluster.get("Service", name, ns)
        assert isinstance(svc, Service)
        if not svc.cluster_ip or svc.headless:
            raise ClusterError(
                f'service "{name}" has no cluster IP ({svc.type}, headless or ExternalName)'
            )
        return svc.cluster_ip, _service_port(svc, port)
    if target.startswith("node/"):
        node = cluster.get("Node", target.split("/", 1)[1])
        assert isinstance(node, Node)
        target = node.internal_ip
    try:
        ipaddress.IPv4Address(target)
        number = int(port)
    except ValueError:
        raise ClusterError(f'bad destination "{spec}": expected IP:PORT or svc/NAME:PORT') from None
    if not 0 < number < 65536:
        raise ClusterError(f'bad destination "{spec}": port out of range')
    return target, number


def _first_worker(cluster: Cluster) -> str:
    workers = [n for n in sorted(cluster.nodes) if not cluster.nodes[n].control_plane]
    if not workers and not cluster.nodes:
        raise ClusterError("the cluster has no nodes")
    return (workers or sorted(cluster.nodes))[0]


def _node_with_ip(cluster: Cluster, ip: str) -> str:
    return next((n.name for n in cluster.nodes.values() if n.internal_ip == ip), "")


def _source(cluster: Cluster, spec: str, dst: str, namespace: str) -> tuple[str, dict[str, Any]]:
    """(node the packet meets, source keys of the packet JSON)."""
    if spec == "external":
        node = _node_with_ip(cluster, dst) or _first_worker(cluster)
        return node, {"origin": "external", "src": EXTERNAL_CLIENT, "in_iface": "eth0"}
    kind, _, rest = spec.partition("/")
    if kind in ("pod", "po") and rest:
        ns, name = _split(rest, namespace)
        pod = cluster.get("Pod", name, ns)
        assert isinstance(pod, Pod)
        if not pod.ip or not pod.node_name:
            raise ClusterError(f'pod "{name}" has no IP yet (it is {pod.phase})')
        return pod.node_name, {"origin": "external", "src": pod.ip, "in_iface": "cni0"}
    if kind in ("node", "no") and rest:
        node = cluster.get("Node", rest)
        assert isinstance(node, Node)
        return node.name, {"origin": "local", "src": node.internal_ip}
    raise ClusterError(f'bad source "{spec}": expected pod/NAME, node/NAME or external')


def request(
    cluster: Cluster,
    source: str,
    destination: str,
    *,
    proto: str = "tcp",
    sport: int = DEFAULT_SPORT,
    namespace: str = "default",
) -> Request:
    """The first packet of a connection from `source` to `destination`, and its node."""
    if proto.lower() not in ("tcp", "udp"):
        raise ClusterError(f'bad protocol "{proto}": expected tcp or udp')
    dst, dport = resolve_destination(cluster, destination, namespace)
    node, fields = _source(cluster, source, dst, namespace)
    packet = {**fields, "dst": dst, "proto": proto.lower(), "sport": sport, "dport": dport}
    packet |= node_context(cluster, node)
    return Request(node, packet, service_at(cluster, dst, dport, proto))


def service_at(cluster: Cluster, ip: str, port: int, proto: str = "tcp") -> tuple[str, str] | None:
    """The Service a packet to ip:port reaches through kube-proxy, if any (ClusterIP,
    external IP, load-balancer IP, or any node's address with a NodePort)."""
    node_ips = {n.internal_ip for n in cluster.nodes.values()}
    for key, svc in sorted(cluster.services.items()):
        for p in svc.ports:
            if p.protocol.lower() != proto.lower():
                continue
            fronts = {svc.cluster_ip, *svc.external_ips, *svc.load_balancer_ingress}
            if (ip in fronts and port == p.port) or (ip in node_ips and port == p.node_port):
                return key
    return None


def who_has(cluster: Cluster, ip: str) -> str:
    """A short name for whatever owns `ip` in the cluster: `pod/NAME`, `node/NAME`,
    `svc/NAME` (namespace-qualified outside `default`), or "" when nothing does."""
    for pod in sorted(cluster.pods.values(), key=lambda p: (p.meta.namespace, p.name)):
        if pod.ip == ip:
            return _qualified("pod", pod.meta.namespace, pod.name)
    for node in cluster.nodes.values():
        if node.internal_ip == ip:
            return f"node/{node.name}"
    for (ns, name), svc in sorted(cluster.services.items()):
        if ip in (svc.cluster_ip, *svc.external_ips, *svc.load_balancer_ingress):
            return _qualified("svc", ns, name)
    return ""


def _qualified(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{name}" if namespace == "default" else f"{kind}/{namespace}/{name}"

"""Building a `ServiceView` from a Service and its EndpointSlices (plain dicts).

Endpoints are matched to service ports by port name and protocol, deduplicated by `ip:port`
and sorted by that string, as pkg/proxy/endpointslicecache.go does; addresses of the other IP
family are ignored (MapIPsByIPFamily). Every field is read through `fields`, so a malformed
object raises StateError naming the field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from app.sim.kubeproxy import fields
from app.sim.kubeproxy.fields import StateError
from app.sim.kubeproxy.ips import family_of
from app.sim.kubeproxy.options import NodeInfo, ProxyOptions
from app.sim.kubeproxy.service import Endpoint, PortEndpoints, ServicePort, ServiceView

DEFAULT_AFFINITY_SECONDS = 10800  # v1.DefaultClientIPServiceAffinitySeconds
EXTERNAL_TYPES = ("NodePort", "LoadBalancer")


def endpoint_count(view: ServiceView) -> int:
    return sum(len(p.endpoints) for p in view.ports)


# --- building a ServiceView ------------------------------------------------------------------
def build_view(
    key: str,
    svc: Mapping[str, Any],
    slices: list[Mapping[str, Any]],
    node: NodeInfo,
    options: ProxyOptions,
) -> ServiceView | None:
    cluster_ip = fields.text(svc.get("clusterIP"), f"service {key}: clusterIP")
    # ShouldSkipService: headless and ExternalName Services get no rules.
    if cluster_ip in ("", "None") or svc.get("type") == "ExternalName":
        return None
    ip = fields.address(cluster_ip, f"service {key}: clusterIP")
    if family_of(ip) != options.family:
        return None
    version = hashlib.blake2b(repr((svc, slices)).encode(), digest_size=10).hexdigest()
    endpoints = _endpoints_by_port(slices, node, options.family)
    ports = tuple(
        PortEndpoints.of(port, endpoints.get((port.port_name, port.protocol), ()))
        for port in _service_ports(key, svc, str(ip), node, options)
    )
    return ServiceView(key, version, ports)


def _service_ports(
    key: str, svc: Mapping[str, Any], cluster_ip: str, node: NodeInfo, options: ProxyOptions
) -> Iterable[ServicePort]:
    namespace, _, name = key.partition("/")
    what, fam = f"service {key}", options.family
    svc_type = fields.text(svc.get("type"), f"{what}: type", "ClusterIP")
    external_ips = _ips(svc.get("externalIPs"), fam, f"{what}: externalIPs")
    # apiservice.ExternallyAccessible / ExternalPolicyLocal / NeedsHealthCheck
    accessible = svc_type in EXTERNAL_TYPES or bool(external_ips)
    etp_local = accessible and svc.get("externalTrafficPolicy") == "Local"
    health = fields.integer(svc.get("healthCheckNodePort"), f"{what}: healthCheckNodePort")
    common = {
        "namespace": namespace,
        "name": name,
        "cluster_ip": cluster_ip,
        "external_ips": external_ips,
        "lb_ips": _ips(svc.get("loadBalancerIngressIPs"), fam, f"{what}: LB IPs"),
        "source_ranges": _cidrs(svc.get("loadBalancerSourceRanges"), fam, what),
        "external_policy_local": etp_local,
        "internal_policy_local": svc.get("internalTrafficPolicy") == "Local",
        "health_check_node_port": health if svc_type == "LoadBalancer" and etp_local else 0,
        "affinity_seconds": _affinity(svc, what),
    }
    for port in fields.mappings(svc.get("ports"), f"{what}: ports"):
        yield ServicePort(
            port_name=fields.text(port.get("name"), f"{what}: port name"),
            protocol=fields.protocol(port.get("protocol"), f"{what}: protocol"),
            port=fields.integer(port.get("port"), f"{what}: port", 1),
            node_port=fields.integer(port.get("nodePort"), f"{what}: nodePort"),
            **common,
        )


def _affinity(svc: Mapping[str, Any], what: str) -> int:
    """ClientIP affinity timeout in seconds (API default 10800), 0 without affinity."""
    if svc.get("sessionAffinity") != "ClientIP":
        return 0
    timeout = svc.get("sessionAffinityTimeoutSeconds") or DEFAULT_AFFINITY_SECONDS
    return fields.integer(timeout, f"{what}: sessionAffinityTimeoutSeconds", 1, 86400)


def _endpoints_by_port(
    slices: list[Mapping[str, Any]], node: NodeInfo, family: str
) -> dict[tuple[str, str], tuple[Endpoint, ...]]:
    """Merge slices into per-(port name, protocol) endpoint lists, deduplicated by `ip:port`
    (a local duplicate wins) and sorted by that string (endpointslicecache.go)."""
    merged: dict[tuple[str, str], dict[str, Endpoint]] = {}
    for eps in slices:
        what = f"endpointSlice {eps.get('name')}"
        if fields.text(eps.get("addressType"), f"{what}: addressType", "IPv4") != family:
            continue
        endpoints = fields.mappings(eps.get("endpoints"), f"{what}: endpoints")
        for port in fields.mappings(eps.get("ports"), f"{what}: ports"):
            if port.get("name") is None or port.get("port") is None:
                continue  # kube-proxy skips ports without a name or number
            key = (
                fields.text(port["name"], f"{what}: port name"),
                fields.protocol(port.get("protocol"), f"{what}: protocol"),
            )
            number = fields.integer(port["port"], f"{what}: port", 1)
            bucket = merged.setdefault(key, {})
            for ep in endpoints:
                _add_endpoint(bucket, ep, number, node, family)
    return {k: tuple(v[s] for s in sorted(v)) for k, v in merged.items()}


def _add_endpoint(
    bucket: dict[str, Endpoint], ep: Mapping[str, Any], port: int, node: NodeInfo, fam: str
) -> None:
    addresses = fields.strings(ep.get("addresses"), "endpoint addresses")
    if not addresses:
        return
    ip = fields.address(addresses[0], "endpoint address")
    if family_of(ip) != fam:
        return
    ready = ep.get("ready") is not False  # unset condition counts as ready
    serving = ready if ep.get("serving") is None else bool(ep["serving"])
    node_name = ep.get("nodeName")
    node_name = None if node_name is None else fields.text(node_name, "endpoint nodeName")
    endpoint = Endpoint(
        ip=str(ip),
        port=port,
        ready=ready,
        serving=serving,
        terminating=bool(ep.get("terminating")),
        node_name=node_name,
        is_local=node_name is not None and node_name == node.name,
    )
    if endpoint.endpoint not in bucket or endpoint.is_local:
        bucket[endpoint.endpoint] = endpoint


# --- small readers ---------------------------------------------------------------------------
def object_key(obj: Mapping[str, Any], kind: str) -> str:
    if not isinstance(obj, Mapping) or not obj.get("name"):
        raise StateError(f"{kind}: every object needs a name")
    name = fields.text(obj["name"], f"{kind}: name")
    return f"{fields.text(obj.get('namespace'), f'{kind} {name}: namespace', 'default')}/{name}"


def slice_service(eps: Mapping[str, Any]) -> str:
    if not eps.get("service"):
        raise StateError(f"endpointSlice {eps.get('name')}: missing 'service' (service-name label)")
    what = f"endpointSlice {eps.get('name')}"
    namespace = fields.text(eps.get("namespace"), f"{what}: namespace", "default")
    return f"{namespace}/{fields.text(eps['service'], f'{what}: service')}"


def _ips(values: Any, family: str, what: str) -> tuple[str, ...]:
    """Addresses of the proxier's family only (MapIPsByIPFamily); others are ignored."""
    parsed = (fields.address(v, what) for v in fields.strings(values, what))
    return tuple(str(ip) for ip in parsed if family_of(ip) == family)


def _cidrs(values: Any, family: str, what: str) -> tuple[str, ...]:
    """loadBalancerSourceRanges of the proxier's family, read leniently (blanks trimmed)."""
    where = f"{what}: loadBalancerSourceRanges"
    nets = (fields.network(v, where) for v in fields.strings(values, where))
    return tuple(str(net) for net in nets if family_of(net) == family)

"""The endpoints controllers: which pods back a Service, and in what condition.

Ported behaviour (pkg/controller/endpointslice and pkg/controller/endpoint):
- a pod counts if it matches the selector, is not terminal (Succeeded/Failed) and has an IP;
- EndpointSlices keep terminating pods, with `serving` = the pod's Ready condition,
  `terminating` = true and `ready` = serving and not terminating (unless the Service sets
  publishNotReadyAddresses) -- kube-proxy falls back to serving-terminating endpoints only
  when no ready endpoint exists;
- a named targetPort is resolved per pod (podutil.FindPort); pods resolving to different
  numbers land in different slices, because a slice has one port list for all its endpoints;
- the legacy Endpoints object drops terminating pods and lists unready ones as
  notReadyAddresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from app.sim.cluster.objects import Endpoint, EndpointPort, Pod, Service

MAX_ENDPOINTS_PER_SLICE = 100  # --max-endpoints-per-slice default


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Equality-based label selection; an empty selector selects nothing for a Service."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def backing_pods(service: Service, pods: Iterable[Pod]) -> list[Pod]:
    """Pods the controllers consider: selected, not terminal, with an IP."""
    return [
        pod
        for pod in pods
        if pod.meta.namespace == service.meta.namespace
        and selects(service.selector, pod.meta.labels)
        and pod.phase not in ("Succeeded", "Failed")
        and pod.ip
    ]


def endpoint_ports(service: Service, pod: Pod) -> tuple[EndpointPort, ...]:
    """The slice ports this pod gives the Service (ports whose targetPort does not resolve drop)."""
    result = []
    for port in service.ports:
        target = port.target_port or port.port
        number = pod.find_port(target, port.protocol)
        if number is not None:
            result.append(EndpointPort(port.name, number, port.protocol))
    return tuple(result)


def to_endpoint(service: Service, pod: Pod) -> Endpoint:
    """podToEndpoint: the three conditions."""
    serving = pod.ready
    terminating = pod.terminating
    ready = service.publish_not_ready or (serving and not terminating)
    return Endpoint(pod.ip, ready, serving, terminating, pod.node_name, pod.name)


def _ip_key(endpoint: Endpoint) -> tuple[int, str]:
    return int(ipaddress.IPv4Address(endpoint.address)), endpoint.pod_name


@dataclass(frozen=True)
class DesiredSlice:
    ports: tuple[EndpointPort, ...]
    endpoints: tuple[Endpoint, ...]


def _port_key(ports: tuple[EndpointPort, ...]) -> tuple[tuple[str, int, str], ...]:
    return tuple((p.name, p.port, p.protocol) for p in ports)


def desired_slices(service: Service, pods: Iterable[Pod]) -> list[DesiredSlice]:
    """The slices the EndpointSlice controller wants for a Service with a selector.

    Grouped by port mapping, endpoints in address order, at most 100 per slice. A Service whose
    pods all lack IPs still gets one empty slice (the controller keeps a placeholder).
    """
    groups: dict[tuple, tuple[tuple[EndpointPort, ...], list[Endpoint]]] = {}
    for pod in backing_pods(service, pods):
        ports = endpoint_ports(service, pod)
        groups.setdefault(_port_key(ports), (ports, []))[1].append(to_endpoint(service, pod))
    if not groups:
        return [DesiredSlice((), ())]
    result = []
    for key in sorted(groups):
        ports, endpoints = groups[key]
        endpoints.sort(key=_ip_key)
        for start in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
            chunk = tuple(endpoints[start : start + MAX_ENDPOINTS_PER_SLICE])
            result.append(DesiredSlice(ports, chunk))
    return result


@dataclass(frozen=True)
class Subset:
    """One v1 Endpoints subset: ready addresses, not-ready addresses, ports."""

    addresses: tuple[tuple[str, str, str], ...]  # (ip, nodeName, pod name)
    not_ready: tuple[tuple[str, str, str], ...]
    ports: tuple[EndpointPort, ...]


def endpoints_subsets(service: Service, pods: Iterable[Pod]) -> list[Subset]:
    """The legacy Endpoints object's subsets (terminating pods left out, unready kept apart)."""
    groups: dict[tuple, tuple[tuple[EndpointPort, ...], list, list]] = {}
    for pod in backing_pods(service, pods):
        if pod.terminating and not service.publish_not_ready:
            continue
        ports = tuple(sorted(endpoint_ports(service, pod), key=lambda p: p.name))
        entry = groups.setdefault(_port_key(ports), (ports, [], []))
        bucket = entry[1] if service.publish_not_ready or pod.ready else entry[2]
        bucket.append((pod.ip, pod.node_name, pod.name))
    return [
        Subset(tuple(sorted(ready)), tuple(sorted(unready)), ports)
        for ports, ready, unready in (groups[k] for k in sorted(groups))
    ]


def format_endpoints(subsets: list[Subset], port_names: set[str] | None = None) -> str:
    """kubectl's ENDPOINTS text for v1 Endpoints (printers.go formatEndpoints): ready
    addresses with each port (only ports named in `port_names`, when given), three at most."""
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        ports = [p for p in subset.ports if port_names is None or p.name in port_names]
        pairs = (
            [(ip, None) for ip, _, _ in subset.addresses]
            if not subset.ports
            else [(ip, p.port) for p in ports for ip, _, _ in subset.addresses]
        )
        count += len(pairs)
        shown += [ip if port is None else f"{ip}:{port}" for ip, port in pairs][: 3 - len(shown)]
    text = ",".join(shown)
    return f"{text} + {count - 3} more..." if count > 3 else text

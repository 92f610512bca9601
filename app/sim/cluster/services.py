"""Service admission: defaulting, validation and IP/port allocation, as the API server does it.

Validation messages follow pkg/apis/core/validation (`spec.ports[0].port: Invalid value: 0:
must be between 1 and 65535, inclusive`); allocation messages come from the allocators. All
causes are gathered and reported together, the way `kubectl` shows a multi-cause Invalid.
"""

from __future__ import annotations

import ipaddress

from app.sim.cluster.alloc import (
    AddressPool,
    AllocationError,
    ClusterIPAllocator,
    NodePortAllocator,
)
from app.sim.cluster.errors import Invalid
from app.sim.cluster.objects import PROTOCOLS, SERVICE_TYPES, Service

_SUPPORTED_TYPES = ", ".join(f'"{t}"' for t in sorted(SERVICE_TYPES))


def default_service(svc: Service) -> None:
    """API defaulting (pkg/apis/core/v1/defaults.go): protocol, targetPort, traffic policies."""
    for port in svc.ports:
        port.protocol = port.protocol or "TCP"
        if port.target_port in (0, ""):
            port.target_port = port.port
    if svc.type in ("NodePort", "LoadBalancer") and not svc.external_traffic_policy:
        svc.external_traffic_policy = "Cluster"
    if svc.type != "ExternalName" and not svc.internal_traffic_policy:
        svc.internal_traffic_policy = "Cluster"


def drop_type_dependent_fields(svc: Service, old: Service) -> None:
    """On a type change away from NodePort/LoadBalancer, forget what the old type allocated
    and the new spec merely carried over (pkg/registry/core/service dropTypeDependentFields),
    so `patch -p '{"spec":{"type":"ClusterIP"}}'` works as it does on a real cluster."""
    external = ("NodePort", "LoadBalancer")
    if svc.type in external or old.type not in external:
        return
    old_ports = {(p.port, p.protocol): p.node_port for p in old.ports}
    for port in svc.ports:
        if port.node_port and port.node_port == old_ports.get((port.port, port.protocol)):
            port.node_port = 0
    if svc.external_traffic_policy == old.external_traffic_policy:
        svc.external_traffic_policy = ""
    if svc.health_check_node_port == old.health_check_node_port:
        svc.health_check_node_port = 0


def _port_causes(svc: Service) -> list[str]:
    causes = []
    names = set()
    for i, port in enumerate(svc.ports):
        where = f"spec.ports[{i}]"
        if len(svc.ports) > 1 and not port.name:
            causes.append(f"{where}.name: Required value")
        if port.name and port.name in names:
            causes.append(f'{where}.name: Duplicate value: "{port.name}"')
        names.add(port.name)
        if not 1 <= port.port <= 65535:
            causes.append(
                f"{where}.port: Invalid value: {port.port}: must be between 1 and 65535, inclusive"
            )
        if port.protocol not in PROTOCOLS:
            causes.append(
                f'{where}.protocol: Unsupported value: "{port.protocol}": '
                'supported values: "SCTP", "TCP", "UDP"'
            )
        if isinstance(port.target_port, int) and not 1 <= port.target_port <= 65535:
            causes.append(
                f"{where}.targetPort: Invalid value: {port.target_port}: "
                "must be between 1 and 65535, inclusive"
            )
        if port.node_port and svc.type not in ("NodePort", "LoadBalancer"):
            causes.append(
                f"{where}.nodePort: Forbidden: may not be used when `type` is '{svc.type}'"
            )
    return causes


def _type_causes(svc: Service) -> list[str]:
    causes = []
    if svc.type not in SERVICE_TYPES:
        supported = f"supported values: {_SUPPORTED_TYPES}"
        causes.append(f'spec.type: Unsupported value: "{svc.type}": {supported}')
    if svc.type == "ExternalName" and not svc.external_name:
        causes.append("spec.externalName: Required value")
    if svc.type != "ExternalName" and not svc.ports and not svc.headless:
        causes.append("spec.ports: Required value")
    return causes


def _affinity_causes(svc: Service) -> list[str]:
    if svc.session_affinity not in ("None", "ClientIP"):
        supported = 'supported values: "ClientIP", "None"'
        return [f'spec.sessionAffinity: Unsupported value: "{svc.session_affinity}": {supported}']
    if svc.session_affinity == "ClientIP" and not 0 < svc.affinity_timeout <= 86400:
        return [
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: "
            f"{svc.affinity_timeout}: must be greater than 0 and less than 86400"
        ]
    return []


def _policy_causes(svc: Service) -> list[str]:
    causes = []
    policies = {
        "externalTrafficPolicy": svc.external_traffic_policy,
        "internalTrafficPolicy": svc.internal_traffic_policy,
    }
    for field, policy in policies.items():
        if policy and policy not in ("Cluster", "Local"):
            supported = 'supported values: "Cluster", "Local"'
            causes.append(f'spec.{field}: Unsupported value: "{policy}": {supported}')
    if svc.external_traffic_policy and svc.type not in ("NodePort", "LoadBalancer"):
        causes.append(
            f'spec.externalTrafficPolicy: Invalid value: "{svc.external_traffic_policy}": '
            "may only be set for externally-accessible services"
        )
    return causes


def _address_causes(svc: Service) -> list[str]:
    causes = [
        f'spec.externalIPs[{i}]: Invalid value: "{ip}": must be a valid IP address'
        for i, ip in enumerate(svc.external_ips)
        if not _valid_ip(ip)
    ]
    causes += [
        f'spec.loadBalancerSourceRanges[{i}]: Invalid value: "{cidr}": '
        "must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 "
        for i, cidr in enumerate(svc.load_balancer_source_ranges)
        if not _valid_cidr(cidr)
    ]
    return causes


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _valid_cidr(text: str) -> bool:
    try:
        ipaddress.IPv4Network(text.strip(), strict=False)
    except ValueError:
        return False
    return True


def validate_service(svc: Service) -> None:
    """Raise Invalid with every cause found, or return."""
    causes = _type_causes(svc) + _affinity_causes(svc) + _policy_causes(svc)
    causes += _address_causes(svc) + _port_causes(svc)
    if causes:
        raise Invalid("Service", svc.name, causes)


class ServiceAllocators:
    """The three allocators a Service create/update/delete draws on, kept consistent together."""

    def __init__(
        self, cluster_ips: ClusterIPAllocator, node_ports: NodePortAllocator, pool: AddressPool
    ) -> None:
        self.cluster_ips = cluster_ips
        self.node_ports = node_ports
        self.pool = pool

    def allocate(self, svc: Service, previous: Service | None = None) -> None:
        """Give `svc` its ClusterIP, NodePorts, healthCheckNodePort and LB address.

        All or nothing: on any failure what was taken is given back and Invalid is raised.
        `previous` is the stored Service on an update: its allocations are kept where the new
        spec still wants them.
        """
        taken_ips: list[str] = []
        taken_ports: list[int] = []
        try:
            self._allocate_ip(svc, previous, taken_ips)
            self._allocate_ports(svc, previous, taken_ports)
        except AllocationError as err:
            for ip in taken_ips:
                self.cluster_ips.release(ip)
            for port in taken_ports:
                self.node_ports.release(port)
            raise Invalid("Service", svc.name, [err.message]) from None

    def _allocate_ip(self, svc: Service, previous: Service | None, taken: list[str]) -> None:
        if svc.type == "ExternalName":
            svc.cluster_ip = ""
            return
        if svc.headless:
            return
        if (
            previous is not None
            and previous.cluster_ip
            and svc.cluster_ip in ("", previous.cluster_ip)
        ):
            svc.cluster_ip = previous.cluster_ip
            return
        svc.cluster_ip = self.cluster_ips.allocate(svc.cluster_ip)
        taken.append(svc.cluster_ip)

    def _allocate_ports(self, svc: Service, previous: Service | None, taken: list[int]) -> None:
        if svc.type not in ("NodePort", "LoadBalancer"):
            return
        old = {(p.port, p.protocol): p.node_port for p in previous.ports} if previous else {}
        for i, port in enumerate(svc.ports):
            kept = old.get((port.port, port.protocol), 0)
            if kept and port.node_port in (0, kept):
                port.node_port = kept
                continue
            port.node_port = self.node_ports.allocate(f"spec.ports[{i}].nodePort", port.node_port)
            taken.append(port.node_port)
        wants_health = svc.type == "LoadBalancer" and svc.external_traffic_policy == "Local"
        if wants_health and not svc.health_check_node_port:
            if previous is not None and previous.health_check_node_port:
                svc.health_check_node_port = previous.health_check_node_port
            else:
                svc.health_check_node_port = self.node_ports.allocate("spec.healthCheckNodePort")
                taken.append(svc.health_check_node_port)

    def release(self, svc: Service, keep: Service | None = None) -> None:
        """Give back what `svc` holds and `keep` (its replacement) does not use."""
        kept_ports = (
            {p.node_port for p in keep.ports} | {keep.health_check_node_port} if keep else set()
        )
        if (
            svc.cluster_ip
            and svc.cluster_ip != "None"
            and (keep is None or keep.cluster_ip != svc.cluster_ip)
        ):
            self.cluster_ips.release(svc.cluster_ip)
        for port in [p.node_port for p in svc.ports] + [svc.health_check_node_port]:
            if port and port not in kept_ports:
                self.node_ports.release(port)
        kept_lb = set(keep.load_balancer_ingress) if keep else set()
        for address in svc.load_balancer_ingress:
            if address not in kept_lb:
                self.pool.release(address)

"""A Service as kube-proxy sees it: its ports (`ServicePort`), their endpoints (`Endpoint`,
`PortEndpoints`) and one `ServiceView` per Service, all read-only values.

The per-service-port chain names are derived once, when the port is seen, as kube-proxy's
service and endpoint trackers do (newServiceInfo / newEndpointInfo in proxier.go).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.sim.kubeproxy import names
from app.sim.kubeproxy.ips import join_host_port


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of a service port (an EndpointSlice address plus the slice's port)."""

    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str | None = None
    is_local: bool = False
    # `ip:port` (`[ip]:port` for IPv6), kube-proxy's Endpoint.String(); a plain field
    # because the renderer reads it several times per endpoint.
    endpoint: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "endpoint", join_host_port(self.ip, self.port))


@dataclass(frozen=True)
class ServicePort:
    """One port of a Service, with the IPs of kube-proxy's family already filtered."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # lower case: tcp, udp, sctp
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    lb_ips: tuple[str, ...] = ()
    source_ranges: tuple[str, ...] = ()
    external_policy_local: bool = False
    internal_policy_local: bool = False
    health_check_node_port: int = 0
    affinity_seconds: int = 0  # 0: sessionAffinity None
    # Derived once (plain fields: functools.cached_property takes a lock on every read in
    # Python 3.11). spn: `ns/name:port`, or `ns/name` for an unnamed port.
    spn: str = field(init=False, compare=False)
    svc_chain: str = field(init=False, compare=False)
    svl_chain: str = field(init=False, compare=False)
    ext_chain: str = field(init=False, compare=False)
    fw_chain: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        suffix = f":{self.port_name}" if self.port_name else ""
        spn = f"{self.namespace}/{self.name}{suffix}"
        suffix = names.proto_hash(spn + self.protocol)  # all four chains share it
        object.__setattr__(self, "spn", spn)
        object.__setattr__(self, "svc_chain", names.KUBE_SVC_PREFIX + suffix)
        object.__setattr__(self, "svl_chain", names.KUBE_SVL_PREFIX + suffix)
        object.__setattr__(self, "ext_chain", names.KUBE_EXT_PREFIX + suffix)
        object.__setattr__(self, "fw_chain", names.KUBE_FW_PREFIX + suffix)

    @property
    def externally_accessible(self) -> bool:
        """Any "external" destination: NodePort, LB IP or external IP (ServicePort method)."""
        return bool(self.node_port or self.lb_ips or self.external_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        """Some traffic uses policy Cluster (pkg/proxy/serviceport.go): internal traffic
        under policy Cluster, or any external destination at all, since even with
        externalTrafficPolicy Local the pods' and the node's own traffic to it is
        short-circuited to the Cluster endpoints (the KUBE-EXT chain jumps to KUBE-SVC)."""
        return not self.internal_policy_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        """Some traffic uses policy Local."""
        return self.internal_policy_local or (
            self.externally_accessible and self.external_policy_local
        )

    def endpoint_chain(self, endpoint: Endpoint) -> str:
        return names.KUBE_SEP_PREFIX + names.proto_hash(
            self.spn + self.protocol + endpoint.endpoint
        )


@dataclass(frozen=True)
class PortEndpoints:
    """A service port and its endpoints, sorted by `ip:port` string as kube-proxy sorts them.

    `sep_chains` maps each endpoint string to its KUBE-SEP chain; like kube-proxy's endpoints
    tracker (newEndpointInfo), the name is hashed once when the endpoint is seen, not per sync.
    """

    port: ServicePort
    endpoints: tuple[Endpoint, ...] = ()
    sep_chains: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, port: ServicePort, endpoints: tuple[Endpoint, ...]) -> PortEndpoints:
        return cls(port, endpoints, {ep.endpoint: port.endpoint_chain(ep) for ep in endpoints})


@dataclass(frozen=True)
class ServiceView:
    """One Service as the proxier sees it: its ports and a version of its inputs."""

    key: str  # namespace/name
    version: str
    ports: tuple[PortEndpoints, ...]

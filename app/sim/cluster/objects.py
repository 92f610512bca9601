"""The cluster's objects: Node, Pod, Deployment, ReplicaSet, Service, EndpointSlice, Event.

Plain mutable dataclasses holding what the Kubernetes API objects hold (only the fields the lab
uses). Behaviour lives in the controllers; these classes only answer questions about their own
state (is the pod ready? is it terminating?). Times are seconds on the logical clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
PROTOCOLS = ("TCP", "UDP", "SCTP")
DEFAULT_AFFINITY_TIMEOUT = 10800  # v1.DefaultClientIPServiceAffinitySeconds (3 hours)


@dataclass
class Meta:
    """ObjectMeta: identity, labels and the timestamps the printers show."""

    name: str
    namespace: str = "default"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    uid: str = ""
    creation: int = 0
    deletion: int | None = None
    resource_version: int = 0
    owner: tuple[str, str] | None = None  # (kind, name) of the controlling owner
    generation: int = 1


@dataclass
class Namespace:
    meta: Meta

    @property
    def name(self) -> str:
        return self.meta.name


@dataclass
class Node:
    meta: Meta
    internal_ip: str
    pod_cidr: str
    ready: bool = True
    unschedulable: bool = False
    control_plane: bool = False
    kubelet_version: str = "v1.30.2"
    os_image: str = "Ubuntu 22.04.4 LTS"
    kernel_version: str = "5.15.0-105-generic"
    container_runtime: str = "containerd://1.7.13"
    next_host: int = 2  # host-local IPAM hands out addresses in order; .1 is the cni0 bridge

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def roles(self) -> list[str]:
        prefix = "node-role.kubernetes.io/"
        return sorted(k[len(prefix) :] for k in self.meta.labels if k.startswith(prefix))


@dataclass
class ContainerPort:
    container_port: int
    name: str = ""
    protocol: str = "TCP"


@dataclass
class Container:
    name: str
    image: str
    ports: list[ContainerPort] = field(default_factory=list)
    has_readiness_probe: bool = False


@dataclass
class PodTemplate:
    """A Deployment's/ReplicaSet's `spec.template`: labels, annotations and containers.

    Any change to it (even an annotation, as `kubectl rollout restart` makes) is a new
    template, hence a new ReplicaSet and a rolling replacement of the pods.
    """

    labels: dict[str, str]
    containers: list[Container]
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class Pod:
    meta: Meta
    containers: list[Container]
    node_name: str = ""
    ip: str = ""
    phase: str = "Pending"
    probe_failing: bool = False  # the readiness probe fails (`kubectl lab set-ready ... false`)
    restarts: int = 0
    last_restart: int | None = None
    started: int | None = None
    grace_period: int = 30
    unreachable: bool = False  # its node stopped reporting (NodeNotReady)
    app_dead: bool = False  # `kubectl lab kill-app`: Ready, but its process refuses connections

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def terminating(self) -> bool:
        return self.meta.deletion is not None

    @property
    def ready(self) -> bool:
        """The pod's Ready condition (podutil.IsPodReady): running and probe passing.

        A terminating pod keeps its Ready condition until its containers stop; the endpoint
        controllers are the ones that treat it differently.
        """
        return self.phase == "Running" and not self.probe_failing and not self.unreachable

    def find_port(self, target: int | str, protocol: str) -> int | None:
        """Resolve a Service targetPort against this pod (podutil.FindPort).

        A number is used as is; a name must match a container port of the same protocol.
        """
        if isinstance(target, int):
            return target
        for container in self.containers:
            for port in container.ports:
                if port.name == target and port.protocol == protocol:
                    return port.container_port
        return None


@dataclass
class Deployment:
    meta: Meta
    replicas: int
    selector: dict[str, str]
    template: PodTemplate
    revision: int = 1


@dataclass
class ReplicaSet:
    meta: Meta
    replicas: int
    selector: dict[str, str]
    template: PodTemplate
    template_hash: str = ""


@dataclass
class ServicePort:
    port: int
    protocol: str = "TCP"
    name: str = ""
    target_port: int | str = 0
    node_port: int = 0


@dataclass
class Service:
    meta: Meta
    type: str = "ClusterIP"
    selector: dict[str, str] = field(default_factory=dict)
    ports: list[ServicePort] = field(default_factory=list)
    cluster_ip: str = ""  # "None" for a headless Service, "" for ExternalName
    external_ips: list[str] = field(default_factory=list)
    external_name: str = ""
    session_affinity: str = "None"
    affinity_timeout: int = DEFAULT_AFFINITY_TIMEOUT
    external_traffic_policy: str = ""  # "" when the type has none (ClusterIP)
    internal_traffic_policy: str = "Cluster"
    health_check_node_port: int = 0
    load_balancer_source_ranges: list[str] = field(default_factory=list)
    load_balancer_ingress: list[str] = field(default_factory=list)
    publish_not_ready: bool = False

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def headless(self) -> bool:
        return self.cluster_ip == "None"


@dataclass
class Endpoint:
    """One EndpointSlice endpoint; conditions exactly as the EndpointSlice controller sets them."""

    address: str
    ready: bool
    serving: bool
    terminating: bool
    node_name: str = ""
    pod_name: str = ""


@dataclass
class EndpointPort:
    name: str
    port: int
    protocol: str = "TCP"


@dataclass
class EndpointSlice:
    meta: Meta
    service: str
    ports: list[EndpointPort]
    endpoints: list[Endpoint]
    address_type: str = "IPv4"


@dataclass
class Event:
    """A core/v1 Event; repeats of the same event bump `count` as the event correlator does."""

    namespace: str
    kind: str
    object_name: str
    reason: str
    message: str
    source: str
    type: str = "Normal"
    first: int = 0
    last: int = 0
    count: int = 1
    name: str = ""
    host: str = ""  # source.host: the node, for kubelet events
    field_path: str = ""  # involvedObject.fieldPath, e.g. spec.containers{nginx}

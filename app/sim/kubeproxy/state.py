"""The proxier's input: Services and EndpointSlices as kube-proxy's change trackers see them.

`ProxyState.from_dict` reads the corpus `cluster.yaml` schema (already parsed into plain dicts:
YAML is read outside `app/sim`). It keeps the raw objects, and per Service a read-only
`ServiceView`: one `PortEndpoints` per service port, with the endpoints matched by port name
and protocol as pkg/proxy/endpointslicecache.go does, plus a content `version` that a sync
compares to decide whether the Service's chains must be rewritten (partial sync).

Updates (`set_service`, `delete_endpoint_slice`, ...) recompute only the Service they touch,
so a cluster of 10,000 Services re-syncs after one endpoint change in milliseconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.sim.kubeproxy import fields, names
from app.sim.kubeproxy.ips import family_of, join_host_port
from app.sim.kubeproxy.options import NodeInfo, ProxyOptions, StateError, options_from_dict

__all__ = ["Endpoint", "PortEndpoints", "ProxyState", "ServicePort", "ServiceView", "StateError"]

DEFAULT_AFFINITY_SECONDS = 10800  # v1.DefaultClientIPServiceAffinitySeconds
EXTERNAL_TYPES = ("NodePort", "LoadBalancer")


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
        """Some traffic uses policy Cluster (pkg/proxy/serviceport.go)."""
        return not self.internal_policy_local or (
            self.externally_accessible and not self.external_policy_local
        )

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


@dataclass
class ProxyState:
    """The proxier's whole input: node, options, Services and EndpointSlices."""

    node: NodeInfo
    options: ProxyOptions
    services: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    slices: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    _by_service: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _views: dict[str, ServiceView] = field(default_factory=dict, repr=False)
    _endpoint_count: int = field(default=0, repr=False)
    _order: list[str] | None = field(default=None, repr=False)
    # Change journal: every Service view change gets the next serial; `_journal` maps a key to
    # the serial of its last change, oldest first, so "what changed since serial s" costs the
    # number of changes, not the number of Services. `_lineage` tells journals apart.
    _serial: int = field(default=0, repr=False)
    _journal: dict[str, int] = field(default_factory=dict, repr=False)
    _lineage: object = field(default_factory=object, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProxyState:
        """Build from the cluster.yaml schema; raises StateError with a clear message."""
        if not isinstance(data, Mapping):
            raise StateError("cluster: expected a mapping at the top level")
        node, options = options_from_dict(data)
        state = cls(node, options)
        # Load every object first and build each Service's view once (set_service and
        # set_endpoint_slice would rebuild a view per slice); a later duplicate wins.
        for svc in fields.mappings(data.get("services"), "services"):
            state.services[_object_key(svc, "service")] = svc
        for eps in fields.mappings(data.get("endpointSlices"), "endpointSlices"):
            key = _object_key(eps, "endpointSlice")
            if key in state.slices:
                state._by_service[_slice_service(state.slices[key])].discard(key)
            state.slices[key] = eps
            state._by_service.setdefault(_slice_service(eps), set()).add(key)
        for key in state.services:
            state._refresh(key)
        return state

    def copy(self) -> ProxyState:
        """An independent copy (objects are shared: they are never mutated in place)."""
        return ProxyState(
            self.node,
            self.options,
            dict(self.services),
            dict(self.slices),
            {k: set(v) for k, v in self._by_service.items()},
            dict(self._views),
            self._endpoint_count,
        )  # a new lineage: its journal starts afresh

    # --- updates -----------------------------------------------------------------------
    def set_service(self, svc: Mapping[str, Any]) -> None:
        """Add or replace a Service (a malformed one is refused and changes nothing)."""
        key = _object_key(svc, "service")
        view = self._view(key, svc, self._slices_of(key))
        self.services[key] = svc
        self._install(key, view)

    def delete_service(self, key: str) -> None:
        """Remove Service `namespace/name` (its EndpointSlices stay, as in the API)."""
        if self.services.pop(key, None) is None:
            raise StateError(f"service {key!r} not found")
        self._refresh(key)

    def set_endpoint_slice(self, eps: Mapping[str, Any]) -> None:
        """Add or replace an EndpointSlice (keyed by namespace/name)."""
        key = _object_key(eps, "endpointSlice")
        svc_key = _slice_service(eps)
        slices = {k: self.slices[k] for k in self._by_service.get(svc_key, ())} | {key: eps}
        view = self._view(svc_key, self.services.get(svc_key), [slices[k] for k in sorted(slices)])
        old = self.slices.get(key)
        self.slices[key] = eps
        if old is not None and _slice_service(old) != svc_key:
            self._by_service[_slice_service(old)].discard(key)
            self._refresh(_slice_service(old))
        self._by_service.setdefault(svc_key, set()).add(key)
        self._install(svc_key, view)

    def delete_endpoint_slice(self, key: str) -> None:
        """Remove EndpointSlice `namespace/name`."""
        eps = self.slices.pop(key, None)
        if eps is None:
            raise StateError(f"endpointSlice {key!r} not found")
        svc_key = _slice_service(eps)
        self._by_service[svc_key].discard(key)
        self._refresh(svc_key)

    def apply_changes(self, step: Mapping[str, Any]) -> None:
        """One `steps:` entry of cluster.yaml: addServices, deleteServices (namespace/name),
        addEndpointSlices, updateEndpointSlices, deleteEndpointSlices, in that order."""
        what = f"step {step.get('step', '?')}"
        for svc in fields.mappings(step.get("addServices"), f"{what}: addServices"):
            self.set_service(svc)
        for key in fields.strings(step.get("deleteServices"), f"{what}: deleteServices"):
            self.delete_service(key)
        for name in ("addEndpointSlices", "updateEndpointSlices"):
            for eps in fields.mappings(step.get(name), f"{what}: {name}"):
                self.set_endpoint_slice(eps)
        for key in fields.strings(
            step.get("deleteEndpointSlices"), f"{what}: deleteEndpointSlices"
        ):
            self.delete_endpoint_slice(key)

    # --- reading -----------------------------------------------------------------------
    @property
    def views(self) -> dict[str, ServiceView]:
        """Services that exist (and are not skipped), keyed by namespace/name."""
        return self._views

    @property
    def journal_mark(self) -> tuple[object, int]:
        """Where the change journal stands now (for `changed_since`)."""
        return (self._lineage, self._serial)

    def changed_since(self, mark: tuple[object, int] | None) -> set[str] | None:
        """Services (namespace/name) whose view changed after `mark`; None when unknown
        (a mark from another state)."""
        if mark is None or mark[0] is not self._lineage:
            return None
        changed = set()
        for key, serial in reversed(self._journal.items()):
            if serial <= mark[1]:
                break
            changed.add(key)
        return changed

    def keys_in_order(self) -> list[str]:
        """namespace/name of every Service, sorted (kept between changes to the set)."""
        if self._order is None:
            self._order = sorted(self._views)
        return self._order

    def total_endpoints(self) -> int:
        """Endpoints over all service ports (the large-cluster-mode count)."""
        return self._endpoint_count

    def _slices_of(self, key: str) -> list[Mapping[str, Any]]:
        return [self.slices[k] for k in sorted(self._by_service.get(key, ()))]

    def _view(
        self, key: str, svc: Mapping[str, Any] | None, slices: list[Mapping[str, Any]]
    ) -> ServiceView | None:
        return _build_view(key, svc, slices, self.node, self.options) if svc else None

    def _refresh(self, key: str) -> None:
        self._install(key, self._view(key, self.services.get(key), self._slices_of(key)))

    def _install(self, key: str, view: ServiceView | None) -> None:
        old = self._views.pop(key, None)
        if old is not None:
            self._endpoint_count -= _count(old)
        if view is not None:
            self._views[key] = view
            self._endpoint_count += _count(view)
        if (old is None) != (view is None):
            self._order = None  # a Service appeared or went away
        if old is not view:
            self._serial += 1
            self._journal.pop(key, None)
            self._journal[key] = self._serial


def _count(view: ServiceView) -> int:
    return sum(len(p.endpoints) for p in view.ports)


# --- building a ServiceView ------------------------------------------------------------------
def _build_view(
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
def _object_key(obj: Mapping[str, Any], kind: str) -> str:
    if not isinstance(obj, Mapping) or not obj.get("name"):
        raise StateError(f"{kind}: every object needs a name")
    name = fields.text(obj["name"], f"{kind}: name")
    return f"{fields.text(obj.get('namespace'), f'{kind} {name}: namespace', 'default')}/{name}"


def _slice_service(eps: Mapping[str, Any]) -> str:
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

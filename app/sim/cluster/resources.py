"""Resource types as kubectl names them: plural, singular and short names, and listing.

`kubectl get po`, `get pods`, `get pod/NAME` and `get deployments.apps` all resolve here to a
kind. Lists come back sorted by namespace and name, the order the API server returns them in
(etcd key order); events keep the order they happened in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.sim.cluster.errors import ClusterError, NotFound
from app.sim.cluster.objects import Service

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster


@dataclass(frozen=True)
class Resource:
    kind: str
    plural: str
    names: tuple[str, ...]  # every spelling kubectl accepts
    prefix: str  # `-o name` and multi-type tables: `deployment.apps/web`
    namespaced: bool = True


RESOURCES = [
    Resource("Pod", "pods", ("pods", "pod", "po"), "pod"),
    Resource("Service", "services", ("services", "service", "svc"), "service"),
    Resource(
        "Deployment",
        "deployments",
        ("deployments", "deployment", "deploy", "deployments.apps", "deployment.apps"),
        "deployment.apps",
    ),
    Resource(
        "ReplicaSet",
        "replicasets",
        ("replicasets", "replicaset", "rs", "replicasets.apps", "replicaset.apps"),
        "replicaset.apps",
    ),
    Resource("Node", "nodes", ("nodes", "node", "no"), "node", namespaced=False),
    Resource("Endpoints", "endpoints", ("endpoints", "ep"), "endpoints"),
    Resource(
        "EndpointSlice",
        "endpointslices",
        ("endpointslices", "endpointslice", "endpointslices.discovery.k8s.io"),
        "endpointslice.discovery.k8s.io",
    ),
    Resource("Event", "events", ("events", "event", "ev"), "event"),
    Resource("Namespace", "namespaces", ("namespaces", "namespace", "ns"), "namespace", False),
]
BY_NAME = {name: r for r in RESOURCES for name in r.names}
ALL = ("Pod", "Service", "Deployment", "ReplicaSet")  # what `kubectl get all` lists
BY_KIND = {r.kind: r for r in RESOURCES}


def resolve(name: str) -> Resource:
    """A resource type by any of its spellings, or kubectl's error for an unknown one."""
    found = BY_NAME.get(name.lower())
    if found is None:
        raise ClusterError(f'error: the server doesn\'t have a resource type "{name}"')
    return found


def _in(namespace: str | None, obj_ns: str) -> bool:
    return namespace is None or obj_ns == namespace


def list_objects(cluster: Cluster, kind: str, namespace: str | None) -> list:
    """Every object of `kind` in `namespace` (None: all namespaces), in API order."""
    if kind in ("Node", "Namespace"):
        store = cluster.nodes if kind == "Node" else cluster.namespaces
        return [store[name] for name in sorted(store)]
    if kind == "Event":
        # the API server lists by key: namespace, then name (`<object>.<time>`), so events
        # come grouped by object -- a Deployment's after its pods' (`-` sorts before `.`)
        events = [e for e in cluster.events if _in(namespace, e.namespace)]
        return sorted(events, key=lambda e: (e.namespace, e.name))
    if kind == "Endpoints":
        return [
            s
            for k, s in sorted(cluster.services.items())
            if _in(namespace, k[0]) and has_endpoints(s)
        ]
    store = cluster._store(kind)
    return [store[key] for key in sorted(store) if _in(namespace, key[0])]


def has_endpoints(svc: Service) -> bool:
    """The endpoints controller only manages Services with a selector."""
    return bool(svc.selector) and svc.type != "ExternalName"


def get_object(cluster: Cluster, kind: str, name: str, namespace: str) -> object:
    if kind == "Endpoints":
        svc = cluster.services.get((namespace, name))
        if svc is None or not has_endpoints(svc):
            raise NotFound("Endpoints", name)
        return svc
    if kind == "Namespace":
        if name not in cluster.namespaces:
            raise NotFound("Namespace", name)
        return cluster.namespaces[name]
    if kind == "Event":
        for event in cluster.events:
            if event.name == name and event.namespace == namespace:
                return event
        raise NotFound("Event", name)
    return cluster.get(kind, name, namespace)


def object_name(kind: str, obj: object) -> str:
    if kind in ("Endpoints",):
        return obj.meta.name  # type: ignore[attr-defined]
    if kind == "Event":
        return obj.name  # type: ignore[attr-defined]
    return obj.meta.name  # type: ignore[attr-defined]


def object_labels(kind: str, obj: object) -> dict[str, str]:
    if kind == "Event":
        return {}
    return obj.meta.labels  # type: ignore[attr-defined]

"""A cluster as plain data (JSON-ready) and back, for a lab stored between requests.

Everything that decides what happens next is kept: the objects, the logical clock, the
change log and resource version, the events, the allocators' used sets and the exact state of
every random generator -- so a cluster loaded from `to_data` goes on exactly as the original
would (same pod names, same ClusterIPs). The indexes are rebuilt from the objects on load.
"""

from __future__ import annotations

import random
from dataclasses import asdict, fields
from typing import Any

from app.sim.cluster.changelog import Change
from app.sim.cluster.cluster import Cluster
from app.sim.cluster.index import Dirty, StoreIndex
from app.sim.cluster.objects import (
    Container,
    ContainerPort,
    Deployment,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    Event,
    Meta,
    Namespace,
    Node,
    Pod,
    PodTemplate,
    ReplicaSet,
    Service,
    ServicePort,
)

FORMAT = 1
STORES = {
    "pods": ("Pod", "pods"),
    "deployments": ("Deployment", "deployments"),
    "replicasets": ("ReplicaSet", "replicasets"),
    "services": ("Service", "services"),
    "slices": ("EndpointSlice", "slices"),
}


def _rng(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _restore_rng(data: list[Any]) -> random.Random:
    rng = random.Random()
    rng.setstate((data[0], tuple(data[1]), data[2]))
    return rng


def _lists(value: Any) -> Any:
    """Tuples (an owner reference is one) become lists, as JSON would make them."""
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def to_data(cluster: Cluster) -> dict[str, Any]:
    """The cluster as dicts, lists, strings, numbers, booleans and None only."""
    allocators = cluster.allocators
    return _lists(
        {
            "format": FORMAT,
            "seed": cluster.seed,
            "now": cluster.now,
            "version": cluster.version,
            "rng": _rng(cluster.rng),
            "clusterIPs": {
                "rng": _rng(allocators.cluster_ips.rng),
                "used": sorted(allocators.cluster_ips.used),
            },
            "nodePorts": {
                "rng": _rng(allocators.node_ports.rng),
                "used": sorted(allocators.node_ports.used),
            },
            "lbPool": {"cidr": allocators.pool.cidr, "used": sorted(allocators.pool.used)},
            "namespaces": [asdict(n) for n in cluster.namespaces.values()],
            "proxyConfig": cluster.proxy_config,
            "nodes": [asdict(n) for n in cluster.nodes.values()],
            **{
                name: [asdict(o) for o in getattr(cluster, attr).values()]
                for name, (_, attr) in STORES.items()
            },
            "events": [asdict(e) for e in cluster.events],
            "changes": [asdict(c) for c in cluster.changes],
        }
    )


def _meta(data: dict[str, Any]) -> Meta:
    meta = Meta(**{k: v for k, v in data.items() if k != "owner"})
    meta.owner = tuple(data["owner"]) if data.get("owner") else None  # type: ignore[assignment]
    return meta


def _containers(items: list[dict[str, Any]]) -> list[Container]:
    return [
        Container(
            c["name"],
            c["image"],
            [ContainerPort(**p) for p in c["ports"]],
            c["has_readiness_probe"],
        )
        for c in items
    ]


def _template(data: dict[str, Any]) -> PodTemplate:
    return PodTemplate(
        dict(data["labels"]), _containers(data["containers"]), dict(data["annotations"])
    )


def _plain(cls: type, data: dict[str, Any], **nested: Any) -> Any:
    """Build dataclass `cls` from `data`, with the nested fields given already built."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names and k not in nested}, **nested)


BUILDERS = {
    "nodes": lambda d: _plain(Node, d, meta=_meta(d["meta"])),
    "pods": lambda d: _plain(
        Pod, d, meta=_meta(d["meta"]), containers=_containers(d["containers"])
    ),
    "deployments": lambda d: _plain(
        Deployment, d, meta=_meta(d["meta"]), template=_template(d["template"])
    ),
    "replicasets": lambda d: _plain(
        ReplicaSet, d, meta=_meta(d["meta"]), template=_template(d["template"])
    ),
    "services": lambda d: _plain(
        Service, d, meta=_meta(d["meta"]), ports=[ServicePort(**p) for p in d["ports"]]
    ),
    "slices": lambda d: _plain(
        EndpointSlice,
        d,
        meta=_meta(d["meta"]),
        ports=[EndpointPort(**p) for p in d["ports"]],
        endpoints=[Endpoint(**e) for e in d["endpoints"]],
    ),
}


def from_data(data: dict[str, Any]) -> Cluster:
    """The cluster `to_data` described; raises ValueError for another format."""
    if data.get("format") != FORMAT:
        raise ValueError(f"unsupported cluster data format: {data.get('format')!r}")
    cluster = Cluster(int(data["seed"]), now=int(data["now"]), lb_pool=data["lbPool"]["cidr"])
    cluster.rng = _restore_rng(data["rng"])
    _restore_allocators(cluster, data)
    namespaces = [Namespace(_meta(n["meta"])) for n in data["namespaces"]]
    cluster.namespaces = {n.name: n for n in namespaces}
    cluster.proxy_config = dict(data["proxyConfig"])
    cluster.nodes = {n.name: n for n in map(BUILDERS["nodes"], data["nodes"])}
    for name, (_, attr) in STORES.items():
        objects = [BUILDERS[name](item) for item in data[name]]
        setattr(cluster, attr, {(o.meta.namespace, o.meta.name): o for o in objects})
    cluster.events = [Event(**e) for e in data["events"]]
    cluster.changes = [Change(**c) for c in data["changes"]]
    cluster.version = int(data["version"])
    _rebuild_index(cluster)
    return cluster


def _restore_allocators(cluster: Cluster, data: dict[str, Any]) -> None:
    allocators = cluster.allocators
    allocators.cluster_ips.rng = _restore_rng(data["clusterIPs"]["rng"])
    allocators.cluster_ips.used = set(data["clusterIPs"]["used"])
    allocators.node_ports.rng = _restore_rng(data["nodePorts"]["rng"])
    allocators.node_ports.used = set(data["nodePorts"]["used"])
    allocators.pool.used = set(data["lbPool"]["used"])


def _rebuild_index(cluster: Cluster) -> None:
    """Index every stored object, in the order the store holds them; nothing is dirty after."""
    cluster.index = StoreIndex()
    for name, (kind, attr) in STORES.items():
        store = getattr(cluster, attr)
        for key, obj in store.items():
            service = obj.service if name == "slices" else ""
            cluster.index.changed(store, kind, key, service)
    cluster.index.dirty = Dirty()

"""Service controllers: the LoadBalancer controller (ingress IPs from the lab's pool) and
the EndpointSlice controller (slices per Service from the pods it selects; see endpoints.py for
the conditions it sets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.sim.cluster.alloc import random_suffix
from app.sim.cluster.endpoints import desired_slices
from app.sim.cluster.objects import EndpointSlice, Pod

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

SLICE_SERVICE_LABEL = "kubernetes.io/service-name"
SLICE_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


# -- services --------------------------------------------------------------------------------


def ensure_load_balancer(cluster: Cluster, key: tuple[str, str]) -> None:
    """The service controller: give a LoadBalancer Service an ingress IP from the pool."""
    svc = cluster.services[key]
    if svc.type != "LoadBalancer":
        if svc.load_balancer_ingress:
            for address in svc.load_balancer_ingress:
                cluster.allocators.pool.release(address)
            svc.load_balancer_ingress = []
            cluster._touch("Service", svc.meta, "updated")
        return
    if svc.load_balancer_ingress:
        return
    cluster.record(
        "Service", svc.meta, "EnsuringLoadBalancer", "Ensuring load balancer", "service-controller"
    )
    address = cluster.allocators.pool.allocate()
    if address is None:
        return
    svc.load_balancer_ingress = [address]
    cluster._touch("Service", svc.meta, "updated")
    cluster.record(
        "Service", svc.meta, "EnsuredLoadBalancer", "Ensured load balancer", "service-controller"
    )


def sync_service(cluster: Cluster, key: tuple[str, str]) -> None:
    """Reconcile one Service (or clean up after a deleted one): LB address and slices."""
    svc = cluster.services.get(key)
    current = [cluster.slices[k] for k in cluster.index.slices_by_service.get(key, {})]
    if svc is None or not svc.selector or svc.type == "ExternalName":
        for slc in current:
            del cluster.slices[(slc.meta.namespace, slc.meta.name)]
            cluster._touch("EndpointSlice", slc.meta, "deleted", slc.service)
        if svc is not None:
            ensure_load_balancer(cluster, key)
        return
    ensure_load_balancer(cluster, key)
    # Only pods carrying one of the selector's labels can match: look them up, never scan all.
    buckets = [
        cluster.index.pods_by_label.get((key[0], *pair), {}) for pair in svc.selector.items()
    ]
    candidates = [cluster.pods[k] for k in min(buckets, key=len)]
    sync_slices(cluster, key, candidates, current)


def sync_slices(
    cluster: Cluster, key: tuple[str, str], pods: list[Pod], current: list[EndpointSlice]
) -> None:
    """Make the Service's slices match `desired_slices`, reusing existing slice names."""
    svc = cluster.services[key]
    ns = key[0]
    existing = sorted(current, key=lambda s: (s.meta.creation, s.meta.name))
    desired = desired_slices(svc, pods)
    for slc, want in zip(existing, desired, strict=False):
        ports, endpoints = list(want.ports), list(want.endpoints)
        if (slc.ports, slc.endpoints) != (ports, endpoints):
            slc.ports, slc.endpoints = ports, endpoints
            cluster._touch("EndpointSlice", slc.meta, "updated", svc.name)
    for slc in existing[len(desired) :]:
        del cluster.slices[(ns, slc.meta.name)]
        cluster._touch("EndpointSlice", slc.meta, "deleted", svc.name)
    for want in desired[len(existing) :]:
        name = f"{svc.name}-{random_suffix(cluster.rng)}"
        labels = dict(svc.meta.labels) | {
            SLICE_SERVICE_LABEL: svc.name,
            SLICE_MANAGED_BY: "endpointslice-controller.k8s.io",
        }
        meta = cluster.new_meta(name, ns, labels=labels, owner=("Service", svc.name))
        slc = EndpointSlice(meta, svc.name, list(want.ports), list(want.endpoints))
        cluster.slices[(ns, name)] = slc
        cluster._touch("EndpointSlice", meta, "created", svc.name)

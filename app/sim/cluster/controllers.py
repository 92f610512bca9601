"""The controller loop, run synchronously after every change.

Changes mark keys dirty (`index.Dirty`, filled by `Cluster._touch`); `reconcile` drains those
work queues in dependency order -- garbage collector, deployments, replicasets, scheduler and
kubelet, then Services and their EndpointSlices -- and repeats until nothing is dirty. Upstream
runs the controllers concurrently off watches; draining them in order after each command gives
the same settled state, deterministically, and touches only what changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.sim.cluster.index import Dirty
from app.sim.cluster.servicectl import sync_service
from app.sim.cluster.workloads import (
    collect_garbage,
    finish_terminations,
    rebuild_schedule_queue,
    start_pod,
    sync_deployment,
    sync_replicaset,
)

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

MAX_ROUNDS = 100  # a settled cluster needs a handful; more means a controller is fighting another


def reconcile(cluster: Cluster) -> None:
    """Bring every dirty object's dependants in line with the current spec."""
    if cluster.deferred:
        return
    finish_terminations(cluster)
    rebuild_schedule_queue(cluster)
    for _ in range(MAX_ROUNDS):
        dirty, cluster.index.dirty = cluster.index.dirty, Dirty()
        _round(cluster, dirty)
        if not cluster.index.dirty:
            return


def _round(cluster: Cluster, dirty: Dirty) -> None:
    deployments, replicasets = sorted(dirty.deployments), sorted(dirty.replicasets)
    collect_garbage(cluster, deployments, replicasets)
    for key in deployments:
        if key in cluster.deployments:
            sync_deployment(cluster, cluster.deployments[key])
    for key in replicasets:
        if key in cluster.replicasets:
            sync_replicaset(cluster, cluster.replicasets[key])
    for key in list(cluster.index.unstarted):
        start_pod(cluster, cluster.pods[key])
    services = dict(dirty.services) | cluster.index.services_for(dirty.labels)
    for key in sorted(services):
        sync_service(cluster, key)

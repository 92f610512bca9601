"""Workload controllers: deployment (rolling updates), replicaset, scheduler, kubelet
(start/stop) and the garbage collector.

Each is a small function over the `Cluster`, run by `controllers.reconcile`. New pods start at
once (scheduled, given an IP, Running and Ready), which is why a rollout finishes within one
command here while a real one takes seconds.
"""

from __future__ import annotations

import copy
import heapq
import math
from dataclasses import asdict
from typing import TYPE_CHECKING

from app.sim.cluster.alloc import pod_ip, pod_template_hash, random_suffix
from app.sim.cluster.endpoints import selects
from app.sim.cluster.objects import (
    Container,
    ContainerPort,
    Deployment,
    Node,
    Pod,
    PodTemplate,
    ReplicaSet,
)

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

HASH_LABEL = "pod-template-hash"
MAX_PODS = 110  # kubelet --max-pods default


# -- pods ------------------------------------------------------------------------------------


def finish_terminations(cluster: Cluster) -> None:
    """The kubelet removes pods whose grace period has run out on the logical clock."""
    for key in list(cluster.index.terminating):
        pod = cluster.pods[key]
        if pod.meta.deletion is not None and pod.meta.deletion <= cluster.now:
            remove_pod(cluster, pod)


def remove_pod(cluster: Cluster, pod: Pod) -> None:
    cluster.pods.pop((pod.meta.namespace, pod.name), None)
    cluster._touch("Pod", pod.meta, "deleted")


def can_host(node: Node, load: int) -> bool:
    """Filter plugins in short: Ready, not cordoned, no control-plane taint, below --max-pods."""
    return node.ready and not node.unschedulable and not node.control_plane and load < MAX_PODS


def rebuild_schedule_queue(cluster: Cluster) -> None:
    """Node flags may have changed since the last command: start from every node's load."""
    load = cluster.index.node_load
    cluster.index.schedule_heap = [(load.get(name, 0), name) for name in cluster.nodes]
    heapq.heapify(cluster.index.schedule_heap)


def _pick_node(cluster: Cluster) -> Node | None:
    """The least-loaded node that can host the pod, ties to the first name (a lazy heap:
    entries whose load is out of date are dropped, every load change pushed a fresh one)."""
    heap, load = cluster.index.schedule_heap, cluster.index.node_load
    while heap:
        count, name = heap[0]
        node = cluster.nodes.get(name)
        if node is not None and count == load.get(name, 0) and can_host(node, count):
            return node
        heapq.heappop(heap)
    return None


def _failed_scheduling(cluster: Cluster) -> str:
    total = len(cluster.nodes)
    reasons = []
    tainted = sum(1 for n in cluster.nodes.values() if n.control_plane)
    if tainted:
        reasons.append(
            f"{tainted} node(s) had untolerated taint {{node-role.kubernetes.io/control-plane: }}"
        )
    down = sum(1 for n in cluster.nodes.values() if not n.control_plane and not n.ready)
    if down:
        reasons.append(f"{down} node(s) had untolerated taint {{node.kubernetes.io/not-ready: }}")
    cordoned = sum(
        1 for n in cluster.nodes.values() if not n.control_plane and n.ready and n.unschedulable
    )
    if cordoned:
        reasons.append(f"{cordoned} node(s) were unschedulable")
    load = cluster.index.node_load
    full = sum(1 for n in cluster.nodes.values() if load.get(n.name, 0) >= MAX_PODS)
    if full:
        reasons.append(f"{full} Too many pods")
    head = f"0/{total} nodes are available"
    detail = (": " + ", ".join(reasons)) if reasons else ""
    return f"{head}{detail}. preemption: {head}: {total} Preemption is not helpful for scheduling."


def start_pod(cluster: Cluster, pod: Pod) -> None:
    """Scheduler + kubelet: bind the pod to the least-loaded node, give it an IP, run it."""
    if not pod.node_name and not _schedule(cluster, pod):
        return
    node = cluster.nodes.get(pod.node_name)
    if node is None or pod.ip:
        return
    pod.ip = _next_pod_ip(cluster, node)
    if not pod.ip:
        message = _no_ip(node)
        cluster.record("Pod", pod.meta, "FailedCreatePodSandBox", message, "kubelet", "Warning")
    else:
        run_containers(cluster, pod)
    cluster._touch("Pod", pod.meta, "updated")


def _schedule(cluster: Cluster, pod: Pod) -> bool:
    node = _pick_node(cluster)
    if node is None:
        message = _failed_scheduling(cluster)
        cluster.record("Pod", pod.meta, "FailedScheduling", message, "default-scheduler", "Warning")
        return False
    pod.node_name = node.name
    message = f"Successfully assigned {pod.meta.namespace}/{pod.name} to {node.name}"
    cluster.record("Pod", pod.meta, "Scheduled", message, "default-scheduler")
    return True


def run_containers(cluster: Cluster, pod: Pod) -> None:
    """The kubelet starts the containers: the image is already there, so at once."""
    pod.phase = "Running"
    if pod.started is None:
        pod.started = cluster.now
    for container in pod.containers:
        pulled = f'Container image "{container.image}" already present on machine'
        where = {"host": pod.node_name, "field_path": f"spec.containers{{{container.name}}}"}
        cluster.record("Pod", pod.meta, "Pulled", pulled, "kubelet", **where)
        for verb in ("Created", "Started"):
            message = f"{verb} container {container.name}"
            cluster.record("Pod", pod.meta, verb, message, "kubelet", **where)


def _no_ip(node: Node) -> str:
    first, last = pod_ip(node.pod_cidr, 1), pod_ip(node.pod_cidr, 254)
    return (
        'Failed to create pod sandbox: plugin type="host-local" failed (add): failed to allocate '
        f"for range 0: no IP addresses available in range set: {first}-{last}"
    )


def _next_pod_ip(cluster: Cluster, node: Node) -> str:
    in_use = cluster.index.pod_ips
    for _ in range(253):
        candidate = pod_ip(node.pod_cidr, node.next_host)
        node.next_host = node.next_host + 1 if node.next_host < 254 else 2
        if candidate not in in_use:
            return candidate
    return ""


# -- garbage collector -------------------------------------------------------------------------


def collect_garbage(cluster: Cluster, dirty_deployments: list, dirty_replicasets: list) -> None:
    """Delete the ReplicaSets of deleted Deployments, then the pods of deleted ReplicaSets."""
    for key in dirty_deployments:
        if key in cluster.deployments:
            continue
        for rs_key in list(cluster.index.replicasets_by_owner.get(key, {})):
            rs = cluster.replicasets.pop(rs_key)
            cluster._touch("ReplicaSet", rs.meta, "deleted")
            dirty_replicasets.append(rs_key)
    for key in dirty_replicasets:
        if key not in cluster.replicasets:
            for pod_key in list(cluster.index.pods_by_owner.get(key, {})):
                remove_pod(cluster, cluster.pods[pod_key])


# -- replicaset ------------------------------------------------------------------------------


def owned_pods(cluster: Cluster, rs: ReplicaSet) -> list[Pod]:
    keys = cluster.index.pods_by_owner.get((rs.meta.namespace, rs.meta.name), {})
    return [cluster.pods[key] for key in keys]


def _deletion_rank(pod: Pod) -> tuple:
    """controller.ActivePods ordering: unscheduled, then not ready, then youngest go first."""
    return (bool(pod.node_name), pod.ready, -pod.meta.creation, pod.name)


def release_orphans(cluster: Cluster, rs: ReplicaSet) -> None:
    """A pod relabelled out of the selector is released (its ownerReference removed)."""
    for pod in owned_pods(cluster, rs):
        if not selects(rs.selector, pod.meta.labels):
            pod.meta.owner = None
            cluster._touch("Pod", pod.meta, "updated")


def sync_replicaset(cluster: Cluster, rs: ReplicaSet) -> None:
    release_orphans(cluster, rs)
    active = [p for p in owned_pods(cluster, rs) if not p.terminating]
    missing = rs.replicas - len(active)
    for _ in range(max(missing, 0)):
        pod = new_pod_from(cluster, rs)
        cluster.pods[(pod.meta.namespace, pod.name)] = pod
        cluster._touch("Pod", pod.meta, "created")
        cluster.record(
            "ReplicaSet",
            rs.meta,
            "SuccessfulCreate",
            f"Created pod: {pod.name}",
            "replicaset-controller",
        )
        start_pod(cluster, pod)
    for pod in sorted(active, key=_deletion_rank)[: max(-missing, 0)]:
        remove_pod(cluster, pod)
        cluster.record(
            "ReplicaSet",
            rs.meta,
            "SuccessfulDelete",
            f"Deleted pod: {pod.name}",
            "replicaset-controller",
        )


def new_pod_from(cluster: Cluster, rs: ReplicaSet) -> Pod:
    name = f"{rs.meta.name}-{random_suffix(cluster.rng)}"
    while (rs.meta.namespace, name) in cluster.pods:
        name = f"{rs.meta.name}-{random_suffix(cluster.rng)}"
    meta = cluster.new_meta(
        name, rs.meta.namespace, labels=dict(rs.template.labels), owner=("ReplicaSet", rs.meta.name)
    )
    return Pod(meta, clone_containers(rs.template.containers))


def clone_containers(containers: list[Container]) -> list[Container]:
    """A pod's own copy of its template's containers (copy.deepcopy is slow at scale)."""
    return [
        Container(
            c.name,
            c.image,
            [ContainerPort(p.container_port, p.name, p.protocol) for p in c.ports],
            c.has_readiness_probe,
        )
        for c in containers
    ]


# -- deployment ------------------------------------------------------------------------------


def deployment_replicasets(cluster: Cluster, deploy: Deployment) -> list[ReplicaSet]:
    keys = cluster.index.replicasets_by_owner.get((deploy.meta.namespace, deploy.meta.name), {})
    return [cluster.replicasets[key] for key in keys]


def _new_replicaset(cluster: Cluster, deploy: Deployment) -> ReplicaSet:
    """Find or create the ReplicaSet whose template hash matches the Deployment's template."""
    template_hash = pod_template_hash(asdict(deploy.template))
    for rs in deployment_replicasets(cluster, deploy):
        if same_template(rs.template, deploy.template):
            return rs
    template = copy.deepcopy(deploy.template)
    template.labels[HASH_LABEL] = template_hash
    name = f"{deploy.meta.name}-{template_hash}"
    meta = cluster.new_meta(
        name,
        deploy.meta.namespace,
        labels=dict(template.labels),
        owner=("Deployment", deploy.meta.name),
    )
    meta.annotations["deployment.kubernetes.io/revision"] = str(deploy.revision)
    selector = dict(deploy.selector) | {HASH_LABEL: template_hash}
    rs = ReplicaSet(meta, 0, selector, template, template_hash)
    cluster.replicasets[(meta.namespace, name)] = rs
    cluster._touch("ReplicaSet", meta, "created")
    return rs


def same_template(rs_template: PodTemplate, template: PodTemplate) -> bool:
    """EqualIgnoreHash: the ReplicaSet's template minus its pod-template-hash label."""
    labels = {k: v for k, v in rs_template.labels.items() if k != HASH_LABEL}
    same_pods = rs_template.containers == template.containers
    return (
        labels == template.labels and same_pods and rs_template.annotations == template.annotations
    )


def _scale(cluster: Cluster, deploy: Deployment, rs: ReplicaSet, replicas: int) -> None:
    if rs.replicas == replicas:
        return
    direction = "up" if replicas > rs.replicas else "down"
    message = f"Scaled {direction} replica set {rs.meta.name} to {replicas} from {rs.replicas}"
    rs.replicas = replicas
    cluster._touch("ReplicaSet", rs.meta, "updated")
    cluster.record("Deployment", deploy.meta, "ScalingReplicaSet", message, "deployment-controller")
    sync_replicaset(cluster, rs)


def sync_deployment(cluster: Cluster, deploy: Deployment) -> None:
    """RollingUpdate with maxSurge 25% (rounded up) and maxUnavailable 25% (rounded down).

    New pods become ready at once in the lab, so the rollout runs to completion here, one
    scaling step at a time, each step recorded as an event like the real controller's.
    """
    new = _new_replicaset(cluster, deploy)
    olds = [rs for rs in deployment_replicasets(cluster, deploy) if rs is not new]
    if new.replicas == 0 and not any(o.replicas for o in olds):
        _scale(cluster, deploy, new, deploy.replicas)
        return
    surge = max(math.ceil(deploy.replicas * 0.25), 1)
    unavailable = math.floor(deploy.replicas * 0.25)
    while any(o.replicas for o in olds) or new.replicas != deploy.replicas:
        old_total = sum(o.replicas for o in olds)
        if new.replicas > deploy.replicas or not old_total:
            _scale(cluster, deploy, new, deploy.replicas)
            continue
        room = min(deploy.replicas, deploy.replicas + surge - old_total)
        _scale(cluster, deploy, new, max(new.replicas, room))
        excess = old_total + new.replicas - (deploy.replicas - unavailable)
        for old in sorted(olds, key=lambda r: r.meta.creation):
            cut = min(old.replicas, max(excess, 0))
            if cut:
                _scale(cluster, deploy, old, old.replicas - cut)
                excess -= cut


def deployment_status(cluster: Cluster, deploy: Deployment) -> tuple[int, int, int, int]:
    """(replicas, updated, ready, available) as `status` reports them; terminating pods excluded."""
    sets = deployment_replicasets(cluster, deploy)
    current = {rs.meta.name for rs in sets if same_template(rs.template, deploy.template)}
    pods = [p for rs in sets for p in owned_pods(cluster, rs) if not p.terminating]
    updated = sum(1 for p in pods if p.meta.owner and p.meta.owner[1] in current)
    ready = sum(1 for p in pods if p.ready)
    return len(pods), updated, ready, ready

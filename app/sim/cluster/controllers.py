"""The controllers, run synchronously after every change: deployment, replicaset, scheduler,
kubelet (start/stop), garbage collector, service LB controller and EndpointSlice controller.

Each is a small function over the `Cluster`; `reconcile` runs them in dependency order.
Upstream runs them concurrently off watches; running them in order after each command gives
the same settled state, deterministically.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict
from typing import TYPE_CHECKING

from app.sim.cluster.alloc import pod_ip, pod_template_hash, random_suffix
from app.sim.cluster.endpoints import desired_slices, selects
from app.sim.cluster.objects import Deployment, EndpointSlice, Node, Pod, PodTemplate, ReplicaSet

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

HASH_LABEL = "pod-template-hash"
SLICE_SERVICE_LABEL = "kubernetes.io/service-name"
SLICE_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


def reconcile(cluster: Cluster) -> None:
    """Bring every controller's objects in line with the current spec."""
    if cluster.deferred:
        return
    finish_terminations(cluster)
    collect_garbage(cluster)
    for key in sorted(cluster.deployments):
        sync_deployment(cluster, cluster.deployments[key])
    for key in sorted(cluster.replicasets):
        sync_replicaset(cluster, cluster.replicasets[key])
    for pod in sorted(cluster.pods.values(), key=lambda p: (p.meta.creation, p.name)):
        if not pod.ip and not pod.terminating:
            start_pod(cluster, pod)
    for key in sorted(cluster.services):
        ensure_load_balancer(cluster, key)
    sync_all_slices(cluster)


# -- pods ------------------------------------------------------------------------------------


def finish_terminations(cluster: Cluster) -> None:
    for pod in list(cluster.pods.values()):
        if pod.meta.deletion is not None and pod.meta.deletion <= cluster.now:
            remove_pod(cluster, pod)


def remove_pod(cluster: Cluster, pod: Pod) -> None:
    cluster.pods.pop((pod.meta.namespace, pod.name), None)
    cluster._touch("Pod", pod.meta, "deleted")


def _schedulable(cluster: Cluster) -> list:
    return [
        n for n in cluster.nodes.values() if n.ready and not n.unschedulable and not n.control_plane
    ]


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
    head = f"0/{total} nodes are available"
    detail = (": " + ", ".join(reasons)) if reasons else ""
    return f"{head}{detail}. preemption: {head}: {total} Preemption is not helpful for scheduling."


def start_pod(cluster: Cluster, pod: Pod) -> None:
    """Scheduler + kubelet: bind the pod to the least-loaded node, give it an IP, run it."""
    if not pod.node_name:
        nodes = _schedulable(cluster)
        if not nodes:
            message = _failed_scheduling(cluster)
            cluster.record(
                "Pod", pod.meta, "FailedScheduling", message, "default-scheduler", "Warning"
            )
            return
        node = min(nodes, key=lambda n: (len(cluster.pods_on(n.name)), n.name))
        pod.node_name = node.name
        message = f"Successfully assigned {pod.meta.namespace}/{pod.name} to {node.name}"
        cluster.record("Pod", pod.meta, "Scheduled", message, "default-scheduler")
    node = cluster.nodes.get(pod.node_name)
    if node is None or pod.ip:
        return
    pod.ip = _next_pod_ip(cluster, node)
    pod.phase = "Running"
    pod.started = cluster.now
    for container in pod.containers:
        pulled = f'Container image "{container.image}" already present on machine'
        cluster.record("Pod", pod.meta, "Pulled", pulled, "kubelet")
        cluster.record("Pod", pod.meta, "Created", f"Created container {container.name}", "kubelet")
        cluster.record("Pod", pod.meta, "Started", f"Started container {container.name}", "kubelet")
    cluster._touch("Pod", pod.meta, "updated")


def _next_pod_ip(cluster: Cluster, node: Node) -> str:
    in_use = {p.ip for p in cluster.pods.values()}
    for _ in range(253):
        candidate = pod_ip(node.pod_cidr, node.next_host)
        node.next_host = node.next_host + 1 if node.next_host < 254 else 2
        if candidate not in in_use:
            return candidate
    return ""


# -- garbage collector -------------------------------------------------------------------------


def collect_garbage(cluster: Cluster) -> None:
    """Delete ReplicaSets whose Deployment is gone, then pods whose ReplicaSet is gone."""
    for key, rs in list(cluster.replicasets.items()):
        if rs.meta.owner and (key[0], rs.meta.owner[1]) not in cluster.deployments:
            del cluster.replicasets[key]
            cluster._touch("ReplicaSet", rs.meta, "deleted")
    for pod in list(cluster.pods.values()):
        owner = pod.meta.owner
        if (
            owner
            and owner[0] == "ReplicaSet"
            and (pod.meta.namespace, owner[1]) not in cluster.replicasets
        ):
            remove_pod(cluster, pod)


# -- replicaset ------------------------------------------------------------------------------


def owned_pods(cluster: Cluster, rs: ReplicaSet) -> list[Pod]:
    return [
        p
        for p in cluster.pods.values()
        if p.meta.namespace == rs.meta.namespace and p.meta.owner == ("ReplicaSet", rs.meta.name)
    ]


def _deletion_rank(pod: Pod) -> tuple:
    """controller.ActivePods ordering: unscheduled, then not ready, then youngest go first."""
    return (bool(pod.node_name), pod.ready, -pod.meta.creation, pod.name)


def sync_replicaset(cluster: Cluster, rs: ReplicaSet) -> None:
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
    return Pod(meta, copy.deepcopy(rs.template.containers))


# -- deployment ------------------------------------------------------------------------------


def deployment_replicasets(cluster: Cluster, deploy: Deployment) -> list[ReplicaSet]:
    return [
        rs
        for rs in cluster.replicasets.values()
        if rs.meta.namespace == deploy.meta.namespace
        and rs.meta.owner == ("Deployment", deploy.meta.name)
    ]


def _new_replicaset(cluster: Cluster, deploy: Deployment) -> ReplicaSet:
    """Find or create the ReplicaSet whose template hash matches the Deployment's template."""
    template_hash = pod_template_hash(asdict(deploy.template))
    for rs in deployment_replicasets(cluster, deploy):
        if _same_template(rs.template, deploy.template):
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


def _same_template(rs_template: PodTemplate, template: PodTemplate) -> bool:
    """EqualIgnoreHash: the ReplicaSet's template minus its pod-template-hash label."""
    labels = {k: v for k, v in rs_template.labels.items() if k != HASH_LABEL}
    return labels == template.labels and rs_template.containers == template.containers


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
    current = {rs.meta.name for rs in sets if _same_template(rs.template, deploy.template)}
    pods = [p for rs in sets for p in owned_pods(cluster, rs) if not p.terminating]
    updated = sum(1 for p in pods if p.meta.owner and p.meta.owner[1] in current)
    ready = sum(1 for p in pods if p.ready)
    return len(pods), updated, ready, ready


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


def sync_all_slices(cluster: Cluster) -> None:
    wanted = {
        key for key, svc in cluster.services.items() if svc.selector and svc.type != "ExternalName"
    }
    for key, slc in list(cluster.slices.items()):
        if (key[0], slc.service) not in wanted:
            del cluster.slices[key]
            cluster._touch("EndpointSlice", slc.meta, "deleted", slc.service)
    index: dict[tuple[str, str, str], list[Pod]] = {}
    for pod in cluster.pods.values():
        for label in pod.meta.labels.items():
            index.setdefault((pod.meta.namespace, *label), []).append(pod)
    slices_by_service: dict[tuple[str, str], list[EndpointSlice]] = {}
    for slc in cluster.slices.values():
        slices_by_service.setdefault((slc.meta.namespace, slc.service), []).append(slc)
    for key in sorted(wanted):
        svc = cluster.services[key]
        # Only pods carrying one of the selector's labels can match: look them up, not scan all.
        candidates = min((index.get((key[0], *pair), []) for pair in svc.selector.items()), key=len)
        sync_slices(cluster, key, candidates, slices_by_service.get(key, []))


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


def pods_selected(cluster: Cluster, namespace: str, selector: dict[str, str]) -> list[Pod]:
    return [
        p
        for p in cluster.pods.values()
        if p.meta.namespace == namespace and selects(selector, p.meta.labels)
    ]

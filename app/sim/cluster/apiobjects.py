"""Objects as the API server returns them: the dicts behind `kubectl get -o yaml|json`.

Field names and defaults follow the v1 / apps/v1 / discovery.k8s.io/v1 types (defaults the API
server fills in, such as `imagePullPolicy`, `dnsPolicy` and `ipFamilyPolicy`, are shown so the
output looks like a real cluster's). Only what the lab models is present.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.sim.cluster.endpoints import endpoints_subsets
from app.sim.cluster.objects import (
    Container,
    Deployment,
    EndpointSlice,
    Event,
    Meta,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Service,
)
from app.sim.cluster.timefmt import rfc3339
from app.sim.cluster.workloads import deployment_status, owned_pods

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

API_VERSIONS = {
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "EndpointSlice": "discovery.k8s.io/v1",
}
_OWNER_API = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "Service": "v1"}


def metadata(cluster: Cluster, meta: Meta, namespaced: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "creationTimestamp": rfc3339(meta.creation),
        "name": meta.name,
        "resourceVersion": str(meta.resource_version),
        "uid": meta.uid,
    }
    if namespaced:
        out["namespace"] = meta.namespace
    if meta.labels:
        out["labels"] = dict(meta.labels)
    if meta.annotations:
        out["annotations"] = dict(meta.annotations)
    if meta.deletion is not None:
        out["deletionTimestamp"] = rfc3339(meta.deletion)
    if meta.owner:
        kind, name = meta.owner
        owner = cluster._store(kind).get((meta.namespace, name))
        uid = owner.meta.uid if owner is not None else ""
        ref = {"apiVersion": _OWNER_API[kind], "kind": kind, "name": name, "uid": uid}
        out["ownerReferences"] = [ref | {"blockOwnerDeletion": True, "controller": True}]
        out["generateName"] = meta.name.rsplit("-", 1)[0] + "-"
    return out


def _envelope(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSIONS.get(kind, "v1"), "kind": kind, **body}


def container_spec(container: Container) -> dict[str, Any]:
    out: dict[str, Any] = {
        "image": container.image,
        "imagePullPolicy": "Always"
        if container.image.endswith(":latest") or ":" not in container.image
        else "IfNotPresent",
        "name": container.name,
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if container.ports:
        out["ports"] = [
            {"containerPort": p.container_port, "protocol": p.protocol}
            | ({"name": p.name} if p.name else {})
            for p in container.ports
        ]
    if container.has_readiness_probe:
        out["readinessProbe"] = {
            "httpGet": {"path": "/", "port": "http" if container.ports else 80}
        }
    return out


def pod_spec(containers: list[Container], node_name: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "containers": [container_spec(c) for c in containers],
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30,
    }
    if node_name:
        out["nodeName"] = node_name
    return out


def _container_status(pod: Pod, container: Container, start: str) -> dict[str, Any]:
    running = pod.phase == "Running"
    state = (
        {"running": {"startedAt": start}}
        if running
        else {"waiting": {"reason": "ContainerCreating"}}
    )
    return {
        "image": container.image,
        "name": container.name,
        "ready": pod.ready,
        "restartCount": pod.restarts,
        "started": running,
        "state": state,
    }


def pod_status(cluster: Cluster, pod: Pod) -> dict[str, Any]:
    if not pod.node_name:
        return {"phase": "Pending", "qosClass": "BestEffort"}
    ready = "True" if pod.ready else "False"
    start = rfc3339(pod.started if pod.started is not None else pod.meta.creation)
    kinds = (("Initialized", "True"), ("Ready", ready), ("ContainersReady", ready))
    conditions = [
        {"type": t, "status": s, "lastTransitionTime": start}
        for t, s in (*kinds, ("PodScheduled", "True"))
    ]
    node = cluster.nodes.get(pod.node_name)
    out: dict[str, Any] = {"conditions": conditions, "phase": pod.phase, "qosClass": "BestEffort"}
    out["containerStatuses"] = [_container_status(pod, c, start) for c in pod.containers]
    out |= {"hostIP": node.internal_ip if node else "", "startTime": start}
    if pod.ip:
        out |= {"podIP": pod.ip, "podIPs": [{"ip": pod.ip}]}
    return out


def pod_api(cluster: Cluster, pod: Pod) -> dict[str, Any]:
    body = {
        "metadata": metadata(cluster, pod.meta),
        "spec": pod_spec(pod.containers, pod.node_name),
    }
    body["spec"]["terminationGracePeriodSeconds"] = pod.grace_period
    return _envelope("Pod", body | {"status": pod_status(cluster, pod)})


def _template(template: Any) -> dict[str, Any]:
    return {
        "metadata": {"creationTimestamp": None, "labels": dict(template.labels)},
        "spec": pod_spec(template.containers),
    }


def deployment_api(cluster: Cluster, deploy: Deployment) -> dict[str, Any]:
    replicas, updated, ready, available = deployment_status(cluster, deploy)
    spec = {
        "progressDeadlineSeconds": 600,
        "replicas": deploy.replicas,
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": dict(deploy.selector)},
        "strategy": {
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            "type": "RollingUpdate",
        },
        "template": _template(deploy.template),
    }
    status: dict[str, Any] = {"observedGeneration": deploy.meta.generation, "replicas": replicas}
    status |= {"updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available}
    status = {k: v for k, v in status.items() if v}
    meta = metadata(cluster, deploy.meta)
    meta["generation"] = deploy.meta.generation
    return _envelope("Deployment", {"metadata": meta, "spec": spec, "status": status})


def replicaset_api(cluster: Cluster, rs: ReplicaSet) -> dict[str, Any]:
    pods = [p for p in owned_pods(cluster, rs) if not p.terminating]
    ready = sum(1 for p in pods if p.ready)
    spec = {
        "replicas": rs.replicas,
        "selector": {"matchLabels": dict(rs.selector)},
        "template": _template(rs.template),
    }
    status = {
        "replicas": len(pods),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "fullyLabeledReplicas": len(pods),
    }
    status = {k: v for k, v in status.items() if v} | {"replicas": len(pods)}
    return _envelope(
        "ReplicaSet", {"metadata": metadata(cluster, rs.meta), "spec": spec, "status": status}
    )


def service_spec(svc: Service) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": svc.type, "sessionAffinity": svc.session_affinity}
    if svc.type == "ExternalName":
        spec["externalName"] = svc.external_name
    else:
        spec |= {"clusterIP": svc.cluster_ip, "clusterIPs": [svc.cluster_ip]}
        spec |= {"ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"}
        spec["internalTrafficPolicy"] = svc.internal_traffic_policy
    if svc.ports:
        spec["ports"] = [_service_port(p) for p in svc.ports]
    if svc.selector:
        spec["selector"] = dict(svc.selector)
    optional = {
        "externalTrafficPolicy": svc.external_traffic_policy,
        "externalIPs": list(svc.external_ips),
        "healthCheckNodePort": svc.health_check_node_port,
        "loadBalancerSourceRanges": list(svc.load_balancer_source_ranges),
        "publishNotReadyAddresses": svc.publish_not_ready,
    }
    spec |= {k: v for k, v in optional.items() if v}
    if svc.type == "LoadBalancer":
        spec["allocateLoadBalancerNodePorts"] = True
    if svc.session_affinity == "ClientIP":
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": svc.affinity_timeout}}
    return spec


def _service_port(port: Any) -> dict[str, Any]:
    out = {"port": port.port, "protocol": port.protocol, "targetPort": port.target_port}
    if port.name:
        out["name"] = port.name
    if port.node_port:
        out["nodePort"] = port.node_port
    return out


def service_api(cluster: Cluster, svc: Service) -> dict[str, Any]:
    ingress = [{"ip": ip, "ipMode": "VIP"} for ip in svc.load_balancer_ingress]
    status = {"loadBalancer": {"ingress": ingress} if ingress else {}}
    body = {"metadata": metadata(cluster, svc.meta), "spec": service_spec(svc), "status": status}
    return _envelope("Service", body)


def _target_ref(cluster: Cluster, namespace: str, pod_name: str) -> dict[str, Any]:
    pod = cluster.pods.get((namespace, pod_name))
    return {
        "kind": "Pod",
        "name": pod_name,
        "namespace": namespace,
        "uid": pod.meta.uid if pod else "",
    }


def endpoints_api(cluster: Cluster, svc: Service) -> dict[str, Any]:
    ns = svc.meta.namespace
    subsets = []
    for subset in endpoints_subsets(svc, cluster.pods.values()):
        entry: dict[str, Any] = {}
        for field, addresses in (
            ("addresses", subset.addresses),
            ("notReadyAddresses", subset.not_ready),
        ):
            if addresses:
                entry[field] = [
                    {"ip": ip, "nodeName": node, "targetRef": _target_ref(cluster, ns, pod)}
                    for ip, node, pod in addresses
                ]
        entry["ports"] = [
            {"port": p.port, "protocol": p.protocol} | ({"name": p.name} if p.name else {})
            for p in subset.ports
        ]
        subsets.append(entry)
    meta = metadata(cluster, svc.meta)
    meta.pop("ownerReferences", None)
    meta.pop("annotations", None)
    body: dict[str, Any] = {"metadata": meta}
    if subsets:
        body["subsets"] = subsets
    return _envelope("Endpoints", body)


def slice_api(cluster: Cluster, slc: EndpointSlice) -> dict[str, Any]:
    ns = slc.meta.namespace
    endpoints = []
    for e in slc.endpoints:
        entry: dict[str, Any] = {
            "addresses": [e.address],
            "conditions": {"ready": e.ready, "serving": e.serving, "terminating": e.terminating},
            "targetRef": _target_ref(cluster, ns, e.pod_name),
        }
        if e.node_name:
            entry["nodeName"] = e.node_name
        endpoints.append(entry)
    body = {
        "addressType": slc.address_type,
        "endpoints": endpoints,
        "metadata": metadata(cluster, slc.meta),
        "ports": [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in slc.ports]
        or None,
    }
    return _envelope("EndpointSlice", body)


def node_api(cluster: Cluster, node: Node) -> dict[str, Any]:
    spec: dict[str, Any] = {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]}
    if node.control_plane:
        spec["taints"] = [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]
    if node.unschedulable:
        spec["unschedulable"] = True
    ready = {
        "type": "Ready",
        "status": "True" if node.ready else "Unknown",
        "reason": "KubeletReady",
    }
    info = {
        "containerRuntimeVersion": node.container_runtime,
        "kernelVersion": node.kernel_version,
        "kubeletVersion": node.kubelet_version,
        "osImage": node.os_image,
        "operatingSystem": "linux",
        "architecture": "amd64",
    }
    addresses = [
        {"address": node.internal_ip, "type": "InternalIP"},
        {"address": node.name, "type": "Hostname"},
    ]
    status = {"addresses": addresses, "conditions": [ready], "nodeInfo": info}
    body = {
        "metadata": metadata(cluster, node.meta, namespaced=False),
        "spec": spec,
        "status": status,
    }
    return _envelope("Node", body)


def event_api(cluster: Cluster, event: Event) -> dict[str, Any]:
    involved = {
        "apiVersion": _OWNER_API.get(event.kind, "v1"),
        "kind": event.kind,
        "name": event.object_name,
    }
    if event.kind != "Node":
        involved["namespace"] = event.namespace
    body = {
        "count": event.count,
        "firstTimestamp": rfc3339(event.first),
        "involvedObject": involved,
        "lastTimestamp": rfc3339(event.last),
        "message": event.message,
        "metadata": {
            "name": event.name,
            "namespace": event.namespace,
            "creationTimestamp": rfc3339(event.first),
        },
        "reason": event.reason,
        "source": {"component": event.source},
        "type": event.type,
    }
    return _envelope("Event", body)


def namespace_api(cluster: Cluster, namespace: Namespace) -> dict[str, Any]:
    body = {
        "metadata": metadata(cluster, namespace.meta, namespaced=False),
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
    return _envelope("Namespace", body)


SERIALISERS = {
    "Pod": pod_api,
    "Deployment": deployment_api,
    "ReplicaSet": replicaset_api,
    "Service": service_api,
    "Endpoints": endpoints_api,
    "EndpointSlice": slice_api,
    "Node": node_api,
    "Event": event_api,
    "Namespace": namespace_api,
}


def to_api(cluster: Cluster, kind: str, obj: object) -> dict[str, Any]:
    return SERIALISERS[kind](cluster, obj)


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """kubectl wraps several objects in a `List` (`metadata.resourceVersion: ""`)."""
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}

"""The cluster at a glance, as plain data: what the lab page draws and what goal checks read.

`summary(cluster)` lists nodes (with their pods), pods, Services and each Service's endpoints
with their conditions, in a stable order. It is derived from the objects on every call, so it
can never disagree with kubectl or with what kube-proxy is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.sim.cluster.objects import Pod, Service

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster


def _pod(pod: Pod) -> dict[str, Any]:
    return {
        "namespace": pod.meta.namespace,
        "name": pod.name,
        "node": pod.node_name,
        "ip": pod.ip,
        "phase": pod.phase,
        "ready": pod.ready,
        "terminating": pod.terminating,
        "restarts": pod.restarts,
        "labels": dict(pod.meta.labels),
        "owner": f"{pod.meta.owner[0]}/{pod.meta.owner[1]}" if pod.meta.owner else "",
    }


def _service(svc: Service) -> dict[str, Any]:
    return {
        "namespace": svc.meta.namespace,
        "name": svc.name,
        "type": svc.type,
        "clusterIP": svc.cluster_ip,
        "externalIPs": list(svc.external_ips),
        "loadBalancerIPs": list(svc.load_balancer_ingress),
        "selector": dict(svc.selector),
        "ports": [
            {
                "name": p.name,
                "port": p.port,
                "protocol": p.protocol,
                "targetPort": p.target_port,
                "nodePort": p.node_port,
            }
            for p in svc.ports
        ],
        "externalTrafficPolicy": svc.external_traffic_policy,
        "internalTrafficPolicy": svc.internal_traffic_policy,
        "sessionAffinity": svc.session_affinity,
        "sessionAffinityTimeoutSeconds": svc.affinity_timeout
        if svc.session_affinity == "ClientIP"
        else 0,
    }


def endpoints_of(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """Every endpoint of the Service's slices: address, ports, node, pod and conditions."""
    keys = cluster.index.slices_by_service.get((namespace, name), {})
    result = []
    for key in keys:
        slc = cluster.slices[key]
        ports = [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in slc.ports]
        for e in slc.endpoints:
            result.append(
                {
                    "address": e.address,
                    "ports": ports,
                    "node": e.node_name,
                    "pod": e.pod_name,
                    "ready": e.ready,
                    "serving": e.serving,
                    "terminating": e.terminating,
                }
            )
    return sorted(result, key=lambda e: (e["address"], e["pod"]))


def summary(cluster: Cluster) -> dict[str, Any]:
    pods = sorted(cluster.pods.values(), key=lambda p: (p.meta.namespace, p.name))
    nodes = [
        {
            "name": n.name,
            "internalIP": n.internal_ip,
            "podCIDR": n.pod_cidr,
            "ready": n.ready,
            "roles": n.roles,
            "pods": [p.name for p in pods if p.node_name == n.name],
        }
        for n in sorted(cluster.nodes.values(), key=lambda n: n.name)
    ]
    services = [_service(s) for _, s in sorted(cluster.services.items())]
    return {
        "now": cluster.now,
        "version": cluster.version,
        "nodes": nodes,
        "pods": [_pod(p) for p in pods],
        "services": services,
        "endpoints": {
            f"{s['namespace']}/{s['name']}": endpoints_of(cluster, s["namespace"], s["name"])
            for s in services
        },
    }

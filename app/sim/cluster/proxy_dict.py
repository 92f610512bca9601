"""What kube-proxy on one node sees: the cluster as a dict in the corpus `cluster.yaml` schema.

The schema is section 3 of the conformance corpus README (node, proxy, services,
endpointSlices). kube-proxy ignores headless and ExternalName Services (its service change
tracker skips them), so they are left out here too. Optional fields are omitted when unset,
as the corpus does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.sim.cluster.alloc import CLUSTER_CIDR
from app.sim.cluster.errors import NotFound
from app.sim.cluster.objects import EndpointSlice, Service

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

# kube-proxy's defaults on a node of this lab. The mark is what a real kube-proxy writes for
# --iptables-masquerade-bit=14 (`%#08x` of 1<<14, see the facts doc); iptables-save shows 0x4000.
PROXY_DEFAULTS: dict[str, Any] = {
    "masqueradeAll": False,
    "masqueradeMark": "0x00004000",
    "localDetector": {"mode": "ClusterCIDR", "cidr": CLUSTER_CIDR},
    "localhostNodePorts": True,
    "nodePortAddresses": [],
    "randomFully": True,  # iptables >= 1.6.2 supports --random-fully
    "conntrackTCPLiberal": False,
    "nfacctCounters": {
        "ct_state_invalid_dropped_pkts": False,
        "localhost_nps_accepted_pkts": False,
    },
    "initialSync": "full",
}


def node_dict(cluster: Cluster, node_name: str) -> dict[str, Any]:
    node = cluster.nodes.get(node_name)
    if node is None:
        raise NotFound("Node", node_name)
    bridge = node.pod_cidr.split("/")[0].rsplit(".", 1)[0] + ".1/24"
    interfaces = {"lo": ["127.0.0.1/8"], "eth0": [f"{node.internal_ip}/24"], "cni0": [bridge]}
    return {"name": node.name, "primaryIP": node.internal_ip, "interfaces": interfaces}


def service_dict(svc: Service) -> dict[str, Any]:
    out: dict[str, Any] = {
        "namespace": svc.meta.namespace,
        "name": svc.name,
        "type": svc.type,
        "clusterIP": svc.cluster_ip,
    }
    optional = {
        "externalIPs": list(svc.external_ips),
        "loadBalancerIngressIPs": list(svc.load_balancer_ingress),
        "loadBalancerSourceRanges": list(svc.load_balancer_source_ranges),
        "externalTrafficPolicy": svc.external_traffic_policy,
        "internalTrafficPolicy": svc.internal_traffic_policy,
        "healthCheckNodePort": svc.health_check_node_port,
    }
    out.update({k: v for k, v in optional.items() if v})
    if svc.session_affinity == "ClientIP":
        out["sessionAffinity"] = "ClientIP"
        out["sessionAffinityTimeoutSeconds"] = svc.affinity_timeout
    out["ports"] = [_port_dict(p) for p in svc.ports]
    return out


def _port_dict(port: Any) -> dict[str, Any]:
    out = {"name": port.name, "port": port.port, "protocol": port.protocol}
    if port.node_port:
        out["nodePort"] = port.node_port
    out["targetPort"] = port.target_port
    return out


def slice_dict(slc: EndpointSlice) -> dict[str, Any]:
    return {
        "namespace": slc.meta.namespace,
        "name": slc.meta.name,
        "service": slc.service,
        "addressType": slc.address_type,
        "ports": [{"name": p.name, "port": p.port, "protocol": p.protocol} for p in slc.ports],
        "endpoints": [
            {
                "addresses": [e.address],
                "ready": e.ready,
                "serving": e.serving,
                "terminating": e.terminating,
                **({"nodeName": e.node_name} if e.node_name else {}),
            }
            for e in slc.endpoints
        ],
    }


def to_proxy_dict(cluster: Cluster, node_name: str) -> dict[str, Any]:
    """The proxier's input for `node_name`, sorted by namespace/name for stable output."""
    proxy = {**PROXY_DEFAULTS, **cluster.proxy_config}
    services = [
        svc
        for _, svc in sorted(cluster.services.items())
        if svc.type != "ExternalName" and not svc.headless
    ]
    kept = {(s.meta.namespace, s.name) for s in services}
    slices = [slc for key, slc in sorted(cluster.slices.items()) if (key[0], slc.service) in kept]
    return {
        "mode": "iptables",
        "ipFamily": "IPv4",
        "node": node_dict(cluster, node_name),
        "proxy": proxy,
        "services": [service_dict(s) for s in services],
        "endpointSlices": [slice_dict(s) for s in slices],
    }

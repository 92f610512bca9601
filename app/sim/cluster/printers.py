"""`kubectl get` tables: the columns, widths and cell text of kubectl's built-in printers.

Column sets and cell formats follow pkg/printers/internalversion/printers.go (kubectl 1.29-1.31):
`<none>` for empty cells, `8080:30080/TCP` ports, `1/1` READY, `Terminating` status for pods
being deleted, `2 (5m ago)` restarts, and at most three endpoints then ` + N more...`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from app.sim.cluster.endpoints import endpoints_subsets, format_endpoints
from app.sim.cluster.objects import (
    Deployment,
    EndpointSlice,
    Event,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Service,
)
from app.sim.cluster.tabwriter import table
from app.sim.cluster.timefmt import human_duration
from app.sim.cluster.workloads import deployment_status, owned_pods

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster


def format_labels(labels: dict[str, str]) -> str:
    """labels.FormatLabels: sorted `k=v` pairs joined by commas, `<none>` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def _age(cluster: Cluster, since: int) -> str:
    return human_duration(cluster.now - since)


def _more(items: list[str], limit: int = 3, empty: str = "<unset>") -> str:
    """listWithMoreString: the first three, then ` + N more...`."""
    text = ",".join(items[:limit])
    if len(items) > limit:
        return f"{text} + {len(items) - limit} more..."
    return text or empty


# -- one function per kind: (header, wide header, row) ---------------------------------------


def pod_status(pod: Pod) -> str:
    """printPod's STATUS: Terminating wins; a bound pod without a sandbox is ContainerCreating."""
    if pod.terminating:
        return "Terminating"
    if pod.phase == "Pending" and pod.node_name:
        return "ContainerCreating"
    return pod.phase


def pod_row(cluster: Cluster, pod: Pod, wide: bool) -> list[str]:
    total = len(pod.containers)
    ready = total if pod.ready else 0
    status = pod_status(pod)
    restarts = str(pod.restarts)
    if pod.restarts and pod.last_restart is not None:
        restarts += f" ({_age(cluster, pod.last_restart)} ago)"
    row = [pod.name, f"{ready}/{total}", status, restarts, _age(cluster, pod.meta.creation)]
    if wide:
        row += [pod.ip or "<none>", pod.node_name or "<none>", "<none>", "<none>"]
    return row


def node_row(cluster: Cluster, node: Node, wide: bool) -> list[str]:
    status = "Ready" if node.ready else "NotReady"
    if node.unschedulable:
        status += ",SchedulingDisabled"
    row = [
        node.name,
        status,
        ",".join(node.roles) or "<none>",
        _age(cluster, node.meta.creation),
        node.kubelet_version,
    ]
    if wide:
        row += [
            node.internal_ip,
            "<none>",
            node.os_image,
            node.kernel_version,
            node.container_runtime,
        ]
    return row


def _containers(template_containers: list) -> list[str]:
    return [
        ",".join(c.name for c in template_containers),
        ",".join(c.image for c in template_containers),
    ]


def deployment_row(cluster: Cluster, deploy: Deployment, wide: bool) -> list[str]:
    _, updated, ready, available = deployment_status(cluster, deploy)
    row = [deploy.meta.name, f"{ready}/{deploy.replicas}", str(updated), str(available)]
    row.append(_age(cluster, deploy.meta.creation))
    if wide:
        row += [*_containers(deploy.template.containers), format_labels(deploy.selector)]
    return row


def replicaset_row(cluster: Cluster, rs: ReplicaSet, wide: bool) -> list[str]:
    pods = [p for p in owned_pods(cluster, rs) if not p.terminating]
    ready = sum(1 for p in pods if p.ready)
    row = [
        rs.meta.name,
        str(rs.replicas),
        str(len(pods)),
        str(ready),
        _age(cluster, rs.meta.creation),
    ]
    if wide:
        row += [*_containers(rs.template.containers), format_labels(rs.selector)]
    return row


def service_ports(svc: Service) -> str:
    """makePortString: `80/TCP`, or `80:30080/TCP` when a NodePort is set."""
    pieces = [
        f"{p.port}:{p.node_port}/{p.protocol}" if p.node_port else f"{p.port}/{p.protocol}"
        for p in svc.ports
    ]
    return ",".join(pieces) or "<none>"


def external_ip(svc: Service, wide: bool) -> str:
    """getServiceExternalIP: externalIPs, LB ingress (cut to 16 chars unless wide), `<pending>`."""
    if svc.type in ("ClusterIP", "NodePort"):
        return ",".join(svc.external_ips) or "<none>"
    if svc.type == "ExternalName":
        return svc.external_name
    lb = ",".join(svc.load_balancer_ingress)
    if not wide and len(lb) > 16:
        lb = lb[:13] + "..."
    results = ([*lb.split(",")] if lb else []) + svc.external_ips
    return ",".join(results) or "<pending>"


def service_row(cluster: Cluster, svc: Service, wide: bool) -> list[str]:
    cluster_ip = svc.cluster_ip or "<none>"
    row = [svc.name, svc.type, cluster_ip, external_ip(svc, wide), service_ports(svc)]
    row.append(_age(cluster, svc.meta.creation))
    if wide:
        row.append(format_labels(svc.selector))
    return row


def endpoints_row(cluster: Cluster, svc: Service, wide: bool) -> list[str]:
    text = format_endpoints(endpoints_subsets(svc, cluster.pods.values()))
    return [svc.name, text, _age(cluster, svc.meta.creation)]


def slice_row(cluster: Cluster, slc: EndpointSlice, wide: bool) -> list[str]:
    ports = _more([str(p.port) for p in slc.ports])
    addresses = _more([e.address for e in slc.endpoints])
    return [slc.meta.name, slc.address_type, ports, addresses, _age(cluster, slc.meta.creation)]


def namespace_row(cluster: Cluster, namespace: Namespace, wide: bool) -> list[str]:
    return [namespace.name, "Active", _age(cluster, namespace.meta.creation)]


def event_row(cluster: Cluster, event: Event, wide: bool) -> list[str]:
    """printEvent: wide output interleaves SUBOBJECT and SOURCE and appends three columns."""
    obj = f"{event.kind.lower()}/{event.object_name}"
    last = _age(cluster, event.last)
    if not wide:
        return [last, event.type, event.reason, obj, event.message]
    source = f"{event.source}, {event.host}" if event.host else event.source
    first = _age(cluster, event.first)
    head = [last, event.type, event.reason, obj, event.field_path, source, event.message]
    return [*head, first, str(event.count), event.name]


EVENT_WIDE = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE"]
EVENT_WIDE += ["FIRST SEEN", "COUNT", "NAME"]


Row = Callable[["Cluster", object, bool], list[str]]

COLUMNS: dict[str, tuple[list[str], list[str], Row]] = {
    "Pod": (
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
        pod_row,
    ),
    "Node": (
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
        node_row,
    ),
    "Deployment": (
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        deployment_row,
    ),
    "ReplicaSet": (
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        replicaset_row,
    ),
    "Service": (
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        ["SELECTOR"],
        service_row,
    ),
    "Endpoints": (["NAME", "ENDPOINTS", "AGE"], [], endpoints_row),
    "EndpointSlice": (["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], [], slice_row),
    "Event": (["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], [], event_row),
    "Namespace": (["NAME", "STATUS", "AGE"], [], namespace_row),
}


def namespace_of(obj: object) -> str:
    if isinstance(obj, Event):
        return obj.namespace
    return obj.meta.namespace  # type: ignore[attr-defined]


def render_table(
    cluster: Cluster,
    kind: str,
    objects: list,
    *,
    wide: bool = False,
    namespaces: bool = False,
    prefix: str = "",
    labels: bool = False,
) -> str:
    """The whole `kubectl get` table for objects of one kind, header included.

    `prefix` goes before each name (`service/`), as kubectl does when listing several types;
    `labels` adds the LABELS column of `--show-labels`.
    """
    header, wide_header, row = COLUMNS[kind]
    header = EVENT_WIDE if wide and kind == "Event" else header + (wide_header if wide else [])
    rows = [(["NAMESPACE"] if namespaces else []) + header + (["LABELS"] if labels else [])]
    for obj in objects:
        cells = row(cluster, obj, wide)
        if prefix and kind != "Event":
            cells[0] = prefix + cells[0]
        if labels:
            cells.append(format_labels({} if kind == "Event" else obj.meta.labels))
        rows.append(([namespace_of(obj)] if namespaces else []) + cells)
    return table(rows)

"""`kubectl describe svc|pod|node`: the key/value layout of k8s.io/kubectl/pkg/describe.

Text is written with tabs and aligned by a tabwriter (minwidth 0, padding 2); a line without a
tab flushes the writer, which is why `IP:` under `IPs:` lines up with `Controlled By:` and not
with `Name:`. Events are written after an explicit flush, as a table of their own.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from app.sim.cluster.endpoints import endpoints_subsets, format_endpoints
from app.sim.cluster.manifests import LAST_APPLIED
from app.sim.cluster.objects import Container, Event, Meta, Node, Pod, Service
from app.sim.cluster.printers import format_labels, pod_status
from app.sim.cluster.tabwriter import align
from app.sim.cluster.timefmt import EPOCH, human_duration

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster


def _rfc1123z(seconds: int) -> str:
    from datetime import timedelta

    return (EPOCH + timedelta(seconds=seconds)).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _multiline(title: str, pairs: dict[str, str], skip: tuple[str, ...] = ()) -> list[str]:
    """printLabelsMultiline: first pair after the title, the rest on their own indented lines."""
    items = [f"{k}={v}" for k, v in sorted(pairs.items()) if k not in skip]
    if not items:
        return [f"{title}:\t<none>"]
    return [f"{title}:\t{items[0]}"] + [f"\t{item}" for item in items[1:]]


def _events(cluster: Cluster, kind: str, meta: Meta) -> str:
    """DescribeEvents: `<none>`, or a Type/Reason/Age/From/Message table (own flush)."""
    events = [
        e
        for e in cluster.events
        if e.kind == kind
        and e.object_name == meta.name
        and (kind == "Node" or e.namespace == meta.namespace)
    ]
    if not events:
        return ""
    rows = ["  Type\tReason\tAge\tFrom\tMessage", "  ----\t------\t----\t----\t-------"]
    rows += [
        f"  {e.type}\t{e.reason}\t{_interval(cluster, e)}\t{e.source}\t{e.message.strip()}"
        for e in events
    ]
    return "Events:\n" + align("\n".join(rows), minwidth=0, padding=2) + "\n"


def _interval(cluster: Cluster, event: Event) -> str:
    first = human_duration(cluster.now - event.first)
    if event.count > 1:
        return f"{human_duration(cluster.now - event.last)} (x{event.count} over {first})"
    return first


def _finish(cluster: Cluster, lines: list[str], kind: str, meta: Meta) -> str:
    events = _events(cluster, kind, meta)
    if not events:
        lines.append("Events:\t<none>")
    return align("\n".join(lines), minwidth=0, padding=2) + "\n" + events


# -- service ---------------------------------------------------------------------------------


def describe_service(cluster: Cluster, svc: Service) -> str:
    lines = [f"Name:\t{svc.name}", f"Namespace:\t{svc.meta.namespace}"]
    lines += _multiline("Labels", svc.meta.labels)
    lines += _multiline("Annotations", svc.meta.annotations, skip=(LAST_APPLIED,))
    lines += [f"Selector:\t{format_labels(svc.selector)}", f"Type:\t{svc.type}"]
    if svc.type == "ExternalName":
        lines += ["IP Families:\t<none>", "IP:\t", "IPs:\t<none>"]
    else:
        lines += ["IP Family Policy:\tSingleStack", "IP Families:\tIPv4"]
        lines += [f"IP:\t{svc.cluster_ip}", f"IPs:\t{svc.cluster_ip}"]
    if svc.external_ips:
        lines.append(f"External IPs:\t{','.join(svc.external_ips)}")
    if svc.external_name:
        lines.append(f"External Name:\t{svc.external_name}")
    if svc.load_balancer_ingress:
        lines.append(f"LoadBalancer Ingress:\t{', '.join(svc.load_balancer_ingress)}")
    lines += _service_ports(cluster, svc)
    lines.append(f"Session Affinity:\t{svc.session_affinity}")
    if svc.external_traffic_policy:
        lines.append(f"External Traffic Policy:\t{svc.external_traffic_policy}")
    if svc.type != "ExternalName":
        lines.append(f"Internal Traffic Policy:\t{svc.internal_traffic_policy}")
    if svc.health_check_node_port:
        lines.append(f"HealthCheck NodePort:\t{svc.health_check_node_port}")
    if svc.load_balancer_source_ranges:
        lines.append(f"LoadBalancer Source Ranges:\t{','.join(svc.load_balancer_source_ranges)}")
    return _finish(cluster, lines, "Service", svc.meta)


def _service_ports(cluster: Cluster, svc: Service) -> list[str]:
    subsets = endpoints_subsets(svc, cluster.pods.values()) if svc.selector else []
    lines = []
    for port in svc.ports:
        name = port.name or "<unset>"
        lines.append(f"Port:\t{name}\t{port.port}/{port.protocol}")
        lines.append(f"TargetPort:\t{port.target_port}/{port.protocol}")
        if port.node_port:
            lines.append(f"NodePort:\t{name}\t{port.node_port}/{port.protocol}")
        # formatEndpoints(endpoints, sets.NewString(port.Name)): this port's addresses only
        lines.append(f"Endpoints:\t{format_endpoints(subsets, {port.name})}")
    return lines


# -- pod -------------------------------------------------------------------------------------


def _fake_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def describe_pod(cluster: Cluster, pod: Pod) -> str:
    block = [f"  IP:\t{pod.ip}"] if pod.ip else []
    if pod.meta.owner:
        block.append(f"Controlled By:\t{pod.meta.owner[0]}/{pod.meta.owner[1]}")
    block.append("Containers:")
    for container in pod.containers:
        block += _container_lines(pod, container)
    tail = [*_pod_conditions(pod), "Volumes:\t<none>", "QoS Class:\tBestEffort"]
    tail += ["Node-Selectors:\t<none>", *TOLERATIONS]
    return _finish(cluster, _pod_head(cluster, pod) + block + tail, "Pod", pod.meta)


# The two tolerations the DefaultTolerationSeconds admission plugin adds to every pod.
TOLERATIONS = [
    "Tolerations:\tnode.kubernetes.io/not-ready:NoExecute op=Exists for 300s",
    "\tnode.kubernetes.io/unreachable:NoExecute op=Exists for 300s",
]


def _pod_head(cluster: Cluster, pod: Pod) -> list[str]:
    node = cluster.nodes.get(pod.node_name)
    head = [f"Name:\t{pod.name}", f"Namespace:\t{pod.meta.namespace}", "Priority:\t0"]
    head.append("Service Account:\tdefault")
    head.append(f"Node:\t{pod.node_name}/{node.internal_ip}" if node else "Node:\t<none>")
    if pod.started is not None:
        head.append(f"Start Time:\t{_rfc1123z(pod.started)}")
    head += _multiline("Labels", pod.meta.labels)
    head += _multiline("Annotations", pod.meta.annotations, skip=(LAST_APPLIED,))
    if pod.meta.deletion is not None:
        left = human_duration(pod.meta.deletion - cluster.now)
        head.append(f"Status:\tTerminating (lasts {left})")
        head.append(f"Termination Grace Period:\t{pod.grace_period}s")
    else:
        head.append(f"Status:\t{pod_status(pod)}")
    # `IPs:` alone on its line flushes the tabwriter: the block below aligns on its own
    return [*head, f"IP:\t{pod.ip}", "IPs:" if pod.ip else "IPs:\t<none>"]


def _pod_conditions(pod: Pod) -> list[str]:
    ready = "True" if pod.ready else "False"
    scheduled = "True" if pod.node_name else "False"
    started = "True" if pod.ip else "False"
    rows = (
        ("PodReadyToStartContainers", started),
        ("Initialized", "True"),
        ("Ready", ready),
        ("ContainersReady", ready),
        ("PodScheduled", scheduled),
    )
    # describe writes each cell with a trailing space ("  %v \t%v \n")
    return ["Conditions:", "  Type\tStatus", *(f"  {kind} \t{status} " for kind, status in rows)]


def _container_lines(pod: Pod, container: Container) -> list[str]:
    ports = [f"{p.container_port}/{p.protocol}" for p in container.ports]  # no name shown
    host = [f"0/{p.protocol}" for p in container.ports]
    plural = "s" if len(ports) > 1 else ""
    lines = [f"  {container.name}:"]
    if pod.started is not None:
        lines.append(f"    Container ID:\tcontainerd://{_fake_id(pod.meta.uid, container.name)}")
    lines.append(f"    Image:\t{container.image}")
    if pod.started is not None:
        image_id = f"{container.image.split(':')[0]}@sha256:{_fake_id(container.image)}"
        lines.append(f"    Image ID:\t{image_id}")
    lines.append(f"    Port{plural}:\t{', '.join(ports) or '<none>'}")
    lines.append(f"    Host Port{plural}:\t{', '.join(host) or '<none>'}")
    lines += _state_lines(pod)
    lines.append(f"    Ready:\t{'True' if pod.ready else 'False'}")
    lines.append(f"    Restart Count:\t{pod.restarts}")
    if container.has_readiness_probe or pod.probe_failing:
        target = container.ports[0].container_port if container.ports else 80
        probe = f"http-get http://:{target}/ delay=0s timeout=1s period=10s #success=1 #failure=3"
        lines.append(f"    Readiness:\t{probe}")
    return [*lines, "    Environment:\t<none>", "    Mounts:\t<none>"]


def _state_lines(pod: Pod) -> list[str]:
    """State (and Last State after a restart: the killed container exited with 137)."""
    if pod.started is None:
        return ["    State:\tWaiting", "      Reason:\tContainerCreating"]
    since = pod.last_restart if pod.last_restart is not None else pod.started
    lines = ["    State:\tRunning", f"      Started:\t{_rfc1123z(since)}"]
    if pod.last_restart is not None:
        lines += ["    Last State:\tTerminated", "      Reason:\tError", "      Exit Code:\t137"]
    return lines


# -- node ------------------------------------------------------------------------------------


def describe_node(cluster: Cluster, node: Node) -> str:
    lines = [f"Name:\t{node.name}", f"Roles:\t{','.join(node.roles) or '<none>'}"]
    lines += _multiline("Labels", node.meta.labels)
    lines += _multiline("Annotations", node.meta.annotations)
    lines.append(f"CreationTimestamp:\t{_rfc1123z(node.meta.creation)}")
    taint = "node-role.kubernetes.io/control-plane:NoSchedule" if node.control_plane else "<none>"
    lines += [f"Taints:\t{taint}", f"Unschedulable:\t{str(node.unschedulable).lower()}"]
    text = align("\n".join(lines), minwidth=0, padding=2) + "\n"
    text += "Conditions:\n" + align("\n".join(_node_conditions(node)), minwidth=0, padding=2)
    text += "\n" + align("\n".join(_node_info(cluster, node)), minwidth=0, padding=2) + "\n"
    events = _events(cluster, "Node", node.meta)
    return text + (events or "Events:  <none>\n")


def _node_conditions(node: Node) -> list[str]:
    status, reason, message = (
        ("True", "KubeletReady", "kubelet is posting ready status")
        if node.ready
        else ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    )
    rows = ["  Type\tStatus\tReason\tMessage", "  ----\t------\t------\t-------"]
    return [*rows, f"  Ready \t{status} \t{reason} \t{message}"]


def _node_info(cluster: Cluster, node: Node) -> list[str]:
    """Addresses, System Info and the pod table: one tabwriter block after `System Info:`."""
    info = ["Addresses:", f"  InternalIP:\t{node.internal_ip}", f"  Hostname:\t{node.name}"]
    info += [
        "System Info:",
        f"  Kernel Version:\t{node.kernel_version}",
        f"  OS Image:\t{node.os_image}",
        "  Operating System:\tlinux",
        "  Architecture:\tamd64",
        f"  Container Runtime Version:\t{node.container_runtime}",
        f"  Kubelet Version:\t{node.kubelet_version}",
        f"PodCIDR:\t{node.pod_cidr}",
        f"PodCIDRs:\t{node.pod_cidr}",
    ]
    pods = sorted(cluster.pods_on(node.name), key=lambda p: (p.meta.namespace, p.name))
    info.append(f"Non-terminated Pods:\t({len(pods)} in total)")
    info += ["  Namespace\tName\tAge", "  ---------\t----\t---"]
    ages = [human_duration(cluster.now - p.meta.creation) for p in pods]
    info += [f"  {p.meta.namespace}\t{p.name}\t{age}" for p, age in zip(pods, ages, strict=True)]
    return info

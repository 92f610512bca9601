"""kubectl commands that make new objects from flags: `create deployment`, `create service
clusterip|nodeport|loadbalancer|externalname`, `run`, `expose` (and `create -f -`).

Defaults follow kubectl's generators: `create deployment` labels and selects `app=NAME` and
names the container after the image; `create service` names each port `<port>-<targetPort>`;
`run` labels the pod `run=NAME`; `expose` copies the selector and the first container port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.sim.cluster.errors import ClusterError, wrapped
from app.sim.cluster.flags import Flag, Parsed
from app.sim.cluster.kubectl import NAMESPACE, Command, Output, split_targets
from app.sim.cluster.kubectl_write import FILENAME, cmd_apply, int_flag, need, one_name
from app.sim.cluster.objects import Container, ContainerPort, Deployment, Pod, Service, ServicePort
from app.sim.cluster.resources import get_object

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

# -- create / run ----------------------------------------------------------------------------


def cmd_create(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    if parsed.get("filename"):
        return cmd_apply(cluster, parsed, stdin, out, verb="created")
    if parsed.args[:1] == ["service"] or parsed.args[:1] == ["svc"]:
        return create_service(cluster, parsed, out)
    if parsed.args[:1] in (["namespace"], ["ns"]):
        name = one_name(parsed, "create namespace", parsed.args[1:])
        cluster.add_namespace(name)
        out.out.append(f"namespace/{name} created\n")
        return None
    if not parsed.args or parsed.args[0] not in ("deployment", "deploy"):
        raise ClusterError("error: must specify one of -f and -k")
    name = one_name(parsed, "create deployment", parsed.args[1:])
    need(parsed, "image")
    replicas = int_flag(parsed, "replicas")
    port = int_flag(parsed, "port")
    namespace = str(parsed.get("namespace"))
    try:
        cluster.create_deployment(
            name,
            str(parsed.get("image")),
            replicas=replicas,
            port=max(port, 0),
            namespace=namespace,
        )
    except ClusterError as err:
        raise wrapped("failed to create deployment", err) from None
    out.out.append(f"deployment.apps/{name} created\n")
    return None


SERVICE_KINDS = {
    "clusterip": "ClusterIP",
    "nodeport": "NodePort",
    "loadbalancer": "LoadBalancer",
    "externalname": "ExternalName",
}


def _tcp_ports(specs: list[str]) -> list[ServicePort]:
    """`--tcp=80:8080` -> port 80, targetPort 8080, named `80-8080` (kubectl's generator)."""
    ports = []
    for spec in specs:
        port, _, target = spec.partition(":")
        if not port.isdigit():
            raise ClusterError(f"error: invalid port specification: {spec}")
        target = target or port
        named = target if not target.isdigit() else int(target)
        ports.append(ServicePort(int(port), "TCP", spec.replace(":", "-"), named))
    return ports


def create_service(cluster: Cluster, parsed: Parsed, out: Output) -> None:
    kind = parsed.args[1] if len(parsed.args) > 1 else ""
    if kind not in SERVICE_KINDS:
        raise ClusterError("error: must specify one of -f and -k")
    name = one_name(parsed, f"create service {kind}", parsed.args[2:])
    specs = [s for s in str(parsed.get("tcp") or "").split(",") if s]
    if not specs and kind != "externalname":
        raise ClusterError("error: at least one tcp port specifier must be provided")
    svc = Service(
        cluster.new_meta(name, str(parsed.get("namespace")), labels={"app": name}),
        type=SERVICE_KINDS[kind],
        selector={"app": name} if kind != "externalname" else {},
        ports=_tcp_ports(specs),
        cluster_ip=str(parsed.get("clusterip") or ""),
        external_name=str(parsed.get("external-name") or ""),
    )
    if parsed.get("node-port") and svc.ports:
        svc.ports[0].node_port = int_flag(parsed, "node-port")
    try:
        cluster.create_service(svc)
    except ClusterError as err:
        raise wrapped(f"failed to create {svc.type} service", err) from None
    out.out.append(f"service/{name} created\n")


def _labels_flag(text: str, default: dict[str, str]) -> dict[str, str]:
    if not text:
        return default
    labels = {}
    for pair in text.split(","):
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ClusterError(f"error: invalid label spec: {pair}")
        labels[key] = value
    return labels


def cmd_run(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    name = one_name(parsed, "run", parsed.args[:1]) if parsed.args else one_name(parsed, "run", [])
    need(parsed, "image")
    image = str(parsed.get("image"))
    port = int_flag(parsed, "port")
    labels = _labels_flag(str(parsed.get("labels") or ""), {"run": name})
    ports = [ContainerPort(port)] if port > 0 else []
    meta = cluster.new_meta(name, str(parsed.get("namespace")), labels=labels)
    cluster.create_pod(Pod(meta, [Container(name, image, ports)]))
    out.out.append(f"pod/{name} created\n")


# -- expose ----------------------------------------------------------------------------------


NO_RESOURCE = (
    "error: You must provide one or more resources by argument or filename.\n"
    "Example resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n"
    "   '<resource> <name>'\n   '<resource>'"
)


def _exposed(source: object, kind: str) -> tuple[dict[str, str], list[Container], dict[str, str]]:
    """(selector, containers, labels) the new Service takes from what is exposed."""
    if isinstance(source, Deployment):
        return dict(source.selector), source.template.containers, source.meta.labels
    if isinstance(source, Pod):
        return dict(source.meta.labels), source.containers, source.meta.labels
    if isinstance(source, Service):
        return dict(source.selector), [], source.meta.labels
    raise ClusterError(f"error: cannot expose a {kind}")


def cmd_expose(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    targets = split_targets(parsed.args)
    if not targets or not targets[0][1]:
        raise ClusterError(NO_RESOURCE)
    resource, names = targets[0]
    namespace = str(parsed.get("namespace"))
    source = get_object(cluster, resource.kind, names[0], namespace)
    selector, containers, labels = _exposed(source, resource.kind)
    target = str(parsed.get("target-port") or "")
    port = ServicePort(
        _expose_port(parsed, containers, source),
        str(parsed.get("protocol") or "TCP"),
        target_port=int(target) if target.isdigit() else target,
    )
    meta = cluster.new_meta(str(parsed.get("name") or names[0]), namespace, labels=dict(labels))
    svc = Service(meta, str(parsed.get("type") or "ClusterIP"), selector, [port])
    cluster.create_service(svc)
    out.out.append(f"service/{svc.name} exposed\n")


def _expose_port(parsed: Parsed, containers: list[Container], source: object) -> int:
    if parsed.get("port"):
        return int_flag(parsed, "port")
    ports = [p.container_port for c in containers for p in c.ports]
    if isinstance(source, Service) and source.ports:
        ports = [source.ports[0].port]
    if not ports:
        raise ClusterError(
            "error: couldn't find port via --port flag or introspection\n"
            "See 'kubectl expose -h' for help and examples"
        )
    return ports[0]


IMAGE = Flag("image")
PORT = Flag("port", default="-1")

COMMANDS = {
    "create": Command(
        cmd_create,
        [
            NAMESPACE,
            IMAGE,
            Flag("replicas", "r", default="1"),
            PORT,
            FILENAME,
            Flag("tcp"),
            Flag("node-port"),
            Flag("clusterip"),
            Flag("external-name"),
        ],
        "Create a resource from a file or from stdin",
    ),
    "expose": Command(
        cmd_expose,
        [
            NAMESPACE,
            Flag("port"),
            Flag("target-port"),
            Flag("type"),
            Flag("name"),
            Flag("protocol"),
        ],
        "Take a replication controller, service, deployment or pod and expose it as a new "
        "Kubernetes service",
    ),
    "run": Command(
        cmd_run,
        [NAMESPACE, IMAGE, PORT, Flag("labels", "l")],
        "Run a particular image on the cluster",
    ),
}

"""Manifests to objects: what `kubectl apply -f -` sends and how the cluster takes it.

A manifest is a dict (from `yamlish.load_all`, or already parsed by the caller). `apply`
creates the object, or updates it when it exists; like kubectl it reports `created`,
`configured` or `unchanged` (unchanged when the manifest equals the last one applied, which
kubectl keeps in the `kubectl.kubernetes.io/last-applied-configuration` annotation).
Supported kinds: Deployment, Service, Pod.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from app.sim.cluster.errors import RESOURCE_NAMES, AlreadyExists, ClusterError, Invalid, NotFound
from app.sim.cluster.objects import (
    Container,
    ContainerPort,
    Deployment,
    Pod,
    PodTemplate,
    Service,
    ServicePort,
)

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
KINDS = {
    "Deployment": ("apps/v1", "deployment.apps"),
    "Service": ("v1", "service"),
    "Pod": ("v1", "pod"),
}


class ManifestError(ClusterError):
    """A manifest kubectl itself rejects before sending it (wording of kubectl's validation)."""


def _dict(value: Any, kind: str, name: str, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(
            kind, name, [f"{field}: Invalid value: {json.dumps(value)}: expected an object"]
        )
    return value


def _str_map(value: Any, kind: str, name: str, field: str) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in _dict(value, kind, name, field).items()}


def _int(value: Any, kind: str, name: str, field: str, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestError(
            f'Error from server (BadRequest): error when creating "STDIN": {kind} in version "v1" '
            f"cannot be handled as a {kind}: json: cannot unmarshal {type(value).__name__} into Go "
            "struct "
            f"field of type int32 ({field})"
        )
    return value


def containers_from(spec: dict[str, Any], kind: str, name: str) -> list[Container]:
    raw = spec.get("containers")
    if not raw or not isinstance(raw, list):
        raise Invalid(
            kind,
            name,
            [
                "spec.template.spec.containers: Required value"
                if kind == "Deployment"
                else "spec.containers: Required value"
            ],
        )
    result = []
    for i, item in enumerate(raw):
        item = _dict(item, kind, name, f"spec.containers[{i}]")
        if not item.get("name") or not item.get("image"):
            missing = "name" if not item.get("name") else "image"
            raise Invalid(kind, name, [f"spec.containers[{i}].{missing}: Required value"])
        ports = [
            ContainerPort(
                _int(
                    p.get("containerPort"), kind, name, f"spec.containers[{i}].ports.containerPort"
                ),
                str(p.get("name") or ""),
                str(p.get("protocol") or "TCP"),
            )
            for p in item.get("ports") or []
            if isinstance(p, dict)
        ]
        probe = item.get("readinessProbe") is not None
        result.append(Container(str(item["name"]), str(item["image"]), ports, probe))
    return result


def _service_ports(spec: dict[str, Any], name: str) -> list[ServicePort]:
    ports = []
    for i, raw in enumerate(spec.get("ports") or []):
        raw = _dict(raw, "Service", name, f"spec.ports[{i}]")
        target = raw.get("targetPort", 0)
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        ports.append(
            ServicePort(
                port=_int(raw.get("port"), "Service", name, f"spec.ports[{i}].port"),
                protocol=str(raw.get("protocol") or "TCP"),
                name=str(raw.get("name") or ""),
                target_port=target if target is not None else 0,
                node_port=_int(raw.get("nodePort"), "Service", name, f"spec.ports[{i}].nodePort"),
            )
        )
    return ports


def service_from(cluster: Cluster, doc: dict[str, Any], name: str, namespace: str) -> Service:
    meta = doc.get("metadata") or {}
    spec = _dict(doc.get("spec"), "Service", name, "spec")
    affinity = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get(
        "timeoutSeconds"
    )
    svc = Service(
        cluster.new_meta(
            name, namespace, labels=_str_map(meta.get("labels"), "Service", name, "metadata.labels")
        ),
        type=str(spec.get("type") or "ClusterIP"),
        selector=_str_map(spec.get("selector"), "Service", name, "spec.selector"),
        ports=_service_ports(spec, name),
        cluster_ip=str(spec.get("clusterIP") or ""),
        external_ips=[str(ip) for ip in spec.get("externalIPs") or []],
        external_name=str(spec.get("externalName") or ""),
        session_affinity=str(spec.get("sessionAffinity") or "None"),
        external_traffic_policy=str(spec.get("externalTrafficPolicy") or ""),
        internal_traffic_policy=str(spec.get("internalTrafficPolicy") or ""),
        load_balancer_source_ranges=[str(r) for r in spec.get("loadBalancerSourceRanges") or []],
        publish_not_ready=bool(spec.get("publishNotReadyAddresses")),
    )
    if affinity is not None:
        svc.affinity_timeout = _int(affinity, "Service", name, "timeoutSeconds")
    return svc


def _template_labels(name: str, spec: dict[str, Any], template: dict[str, Any]) -> tuple:
    """(selector, template labels), refused as the API server does when they disagree."""
    where = ("Deployment", name)
    selector_doc = _dict(spec.get("selector"), *where, "spec.selector")
    selector = _str_map(selector_doc.get("matchLabels"), *where, "spec.selector.matchLabels")
    meta = template.get("metadata") or {}
    labels = _str_map(meta.get("labels"), *where, "spec.template.metadata.labels")
    mismatch = (
        "spec.template.metadata.labels: Invalid value: "
        f"map[string]string{_go_map(labels)}: `selector` does not match template `labels`"
    )
    if not selector:
        raise Invalid("Deployment", name, ["spec.selector: Required value", mismatch])
    if any(labels.get(k) != v for k, v in selector.items()):
        raise Invalid("Deployment", name, [mismatch])
    return selector, labels


def deployment_from(cluster: Cluster, doc: dict[str, Any], name: str, namespace: str) -> Deployment:
    where = ("Deployment", name)
    spec = _dict(doc.get("spec"), *where, "spec")
    template = _dict(spec.get("template"), *where, "spec.template")
    selector, labels = _template_labels(name, spec, template)
    pod_spec = _dict(template.get("spec"), *where, "spec.template.spec")
    annotations = _str_map(
        (template.get("metadata") or {}).get("annotations"), *where, "annotations"
    )
    replicas = _int(spec.get("replicas"), *where, "spec.replicas", default=1)
    if replicas < 0:
        cause = f"spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
        raise Invalid("Deployment", name, [cause])
    meta_labels = _str_map((doc.get("metadata") or {}).get("labels"), *where, "metadata.labels")
    pod_template = PodTemplate(labels, containers_from(pod_spec, *where), annotations)
    meta = cluster.new_meta(name, namespace, labels=meta_labels)
    return Deployment(meta, replicas, selector, pod_template)


def _go_map(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"


def pod_from(cluster: Cluster, doc: dict[str, Any], name: str, namespace: str) -> Pod:
    meta = doc.get("metadata") or {}
    spec = _dict(doc.get("spec"), "Pod", name, "spec")
    labels = _str_map(meta.get("labels"), "Pod", name, "metadata.labels")
    pod = Pod(cluster.new_meta(name, namespace, labels=labels), containers_from(spec, "Pod", name))
    pod.node_name = str(spec.get("nodeName") or "")
    return pod


def _identity(doc: Any) -> tuple[str, str, str]:
    if not isinstance(doc, dict):
        raise ManifestError(
            'error: error validating "STDIN": error validating data: invalid object to validate; '
            "if you choose to ignore these errors, turn validation off with --validate=false"
        )
    kind = doc.get("kind")
    if not kind:
        raise ManifestError(
            'error: error validating "STDIN": error validating data: kind not set; '
            "if you choose to ignore these errors, turn validation off with --validate=false"
        )
    name = str((doc.get("metadata") or {}).get("name") or "")
    if kind not in KINDS:
        version = doc.get("apiVersion", "v1")
        raise ManifestError(
            f'error: resource mapping not found for name: "{name}" namespace: "" from "STDIN": '
            f'no matches for kind "{kind}" in version "{version}"\nensure CRDs are installed first'
        )
    if not name:
        raise ManifestError(
            'error: error when retrieving current configuration of:\nResource: "", Name: "", '
            'Namespace: "default"\nfrom server for: "STDIN": resource name may not be empty'
        )
    return str(kind), name, str((doc.get("metadata") or {}).get("namespace") or "")


MISSING_ANNOTATION = (
    "Warning: resource {plural}/{name} is missing the "
    "kubectl.kubernetes.io/last-applied-configuration annotation which is required by kubectl "
    "apply. kubectl apply should only be used on resources created declaratively by either "
    "kubectl create --save-config or kubectl apply. The missing annotation will be patched "
    "automatically."
)


def apply(
    cluster: Cluster,
    doc: dict[str, Any],
    namespace: str = "default",
    *,
    create_only: bool = False,
    warnings: list[str] | None = None,
) -> str:
    """Create or update one object; returns kubectl's line (`service/web created`).

    `create_only` is `kubectl create -f`: an existing object is an AlreadyExists error.
    Warnings kubectl prints on stderr (with exit status 0) are appended to `warnings`.
    """
    kind, name, ns = _identity(doc)
    ns = ns or namespace
    resource = KINDS[kind][1]
    applied = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    existing = cluster._store(kind).get((ns, name))
    if existing is not None:
        if create_only:
            raise _creating(AlreadyExists(kind, name))
        last = existing.meta.annotations.get(LAST_APPLIED)
        if last == applied:
            return f"{resource}/{name} unchanged"
        if last is None and warnings is not None:
            plural = RESOURCE_NAMES[kind].split(".")[0]
            warnings.append(MISSING_ANNOTATION.format(plural=plural, name=name))
    builder = {"Deployment": deployment_from, "Service": service_from, "Pod": pod_from}[kind]
    obj = builder(cluster, copy.deepcopy(doc), name, ns)
    obj.meta.annotations[LAST_APPLIED] = applied
    if existing is not None:
        update(cluster, kind, existing, obj)
        return f"{resource}/{name} configured"
    try:
        _create(cluster, kind, obj)
    except (NotFound, AlreadyExists) as err:
        raise _creating(err) from None
    return f"{resource}/{name} created"


def _creating(err: ClusterError) -> ClusterError:
    """kubectl's wording for a server refusal while creating from a file."""
    reason = type(err).__name__
    return ClusterError(f'Error from server ({reason}): error when creating "STDIN": {err.status}')


def _create(cluster: Cluster, kind: str, obj: Any) -> None:
    if kind == "Service":
        cluster.create_service(obj)
    elif kind == "Pod":
        cluster.create_pod(obj)
    else:
        cluster.add_deployment(obj)


POD_UPDATE_FORBIDDEN = (
    "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)"
)


def update(cluster: Cluster, kind: str, existing: Any, obj: Any) -> None:
    """Store `obj` in place of `existing` (same kind and name), as a PUT/PATCH would."""
    if kind == "Service":
        cluster.replace_service(obj)
    elif kind == "Pod":
        _update_pod(cluster, existing, obj)
    else:
        _update_deployment(cluster, existing, obj)


def _update_pod(cluster: Cluster, existing: Pod, obj: Pod) -> None:
    """Only metadata may change here (the lab does not model in-place image updates)."""
    before = [asdict_container(c) for c in existing.containers]
    if before != [asdict_container(c) for c in obj.containers]:
        raise Invalid("Pod", obj.meta.name, [POD_UPDATE_FORBIDDEN])
    existing.meta.labels = obj.meta.labels
    existing.meta.annotations = obj.meta.annotations
    cluster._touch("Pod", existing.meta, "updated")
    cluster.settle()  # a relabelled pod may join or leave Services


def _update_deployment(cluster: Cluster, existing: Deployment, obj: Deployment) -> None:
    if existing.selector != obj.selector:
        selector = f"MatchLabels:map[string]string{_go_map(obj.selector)}"
        cause = (
            f"spec.selector: Invalid value: v1.LabelSelector{{{selector}, "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        )
        raise Invalid("Deployment", obj.meta.name, [cause])
    existing.meta.labels, existing.meta.annotations = obj.meta.labels, obj.meta.annotations
    existing.replicas = obj.replicas
    if existing.template != obj.template:
        existing.template = obj.template
        existing.revision += 1
    cluster.update_deployment(existing)


def asdict_container(container: Container) -> tuple:
    return (
        container.name,
        container.image,
        [(p.container_port, p.name, p.protocol) for p in container.ports],
    )

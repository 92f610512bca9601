"""kubectl commands that edit live objects: `patch`, `set image`, `rollout status|restart|undo`.

`patch` takes a JSON (or YAML) document and merges it into the object as the API server does:
`--type merge` is RFC 7386 (maps merge, lists are replaced, null deletes); the default
`--type strategic` also merges the lists Kubernetes marks with a merge key -- Service and
container `ports` (by port number) and `containers` (by name) -- so
`{"spec":{"ports":[{"port":80,"nodePort":30080}]}}` changes one port and keeps the rest.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from app.sim.cluster.apiobjects import to_api
from app.sim.cluster.errors import ClusterError
from app.sim.cluster.flags import Flag, Parsed
from app.sim.cluster.kubectl import NAMESPACE, Command, Output, split_targets
from app.sim.cluster.manifests import deployment_from, pod_from, service_from, update
from app.sim.cluster.objects import Deployment
from app.sim.cluster.timefmt import rfc3339
from app.sim.cluster.workloads import HASH_LABEL, deployment_replicasets, same_template
from app.sim.cluster.yamlish import YamlError, load_all

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

MERGE_KEYS = ("port", "containerPort", "name")  # patchMergeKey of the lists we merge
BUILDERS = {"Service": service_from, "Deployment": deployment_from, "Pod": pod_from}
PREFIX = {"Service": "service", "Deployment": "deployment.apps", "Pod": "pod"}


def merge(base: Any, patch: Any, strategic: bool) -> Any:
    """Merge `patch` into `base` (neither is modified)."""
    if isinstance(patch, dict) and isinstance(base, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(base.get(key), value, strategic)
        return out
    if strategic and isinstance(patch, list) and isinstance(base, list):
        key = _merge_key(base + patch)
        if key:
            return _merge_list(base, patch, key)
    return copy.deepcopy(patch)


def _merge_key(items: list) -> str:
    for key in MERGE_KEYS:
        if items and all(isinstance(i, dict) and key in i for i in items):
            return key
    return ""


def _merge_list(base: list, patch: list, key: str) -> list:
    out = [dict(item) for item in base]
    for item in patch:
        match = next((i for i, old in enumerate(out) if old[key] == item[key]), None)
        if match is None:
            out.append(copy.deepcopy(item))
        else:
            out[match] = merge(out[match], item, True)
    return out


def _patch_document(parsed: Parsed) -> dict[str, Any]:
    text = str(parsed.get("patch") or "")
    if not text:
        raise ClusterError(
            "error: must specify --patch or --patch-file containing the contents of the patch"
        )
    try:
        docs = load_all(text)
    except YamlError as err:
        raise ClusterError(f'error: unable to parse "{text}": {err}') from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ClusterError(f'error: unable to parse "{text}": not a JSON object')
    return docs[0]


def cmd_patch(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    kind_type = str(parsed.get("type") or "strategic")
    if kind_type not in ("strategic", "merge"):
        raise ClusterError(f'error: --type must be one of [merge strategic], not "{kind_type}"')
    targets = split_targets(parsed.args)
    if len(targets) != 1 or len(targets[0][1]) != 1:
        raise ClusterError("error: resource(s) were provided, but no name was specified")
    resource, (name,) = targets[0]
    if resource.kind not in BUILDERS:
        raise ClusterError("error: this lab patches services, deployments and pods")
    patch = _patch_document(parsed)
    namespace = str(parsed.get("namespace"))
    existing = cluster.get(resource.kind, name, namespace)
    before = to_api(cluster, resource.kind, existing)
    after = merge(before, patch, kind_type == "strategic")
    label = f"{PREFIX[resource.kind]}/{name}"
    if after == before:
        out.out.append(f"{label} patched (no change)\n")
        return
    obj = BUILDERS[resource.kind](cluster, after, name, namespace)
    obj.meta.annotations = dict((after.get("metadata") or {}).get("annotations") or {})
    update(cluster, resource.kind, existing, obj)
    out.out.append(f"{label} patched\n")


# -- set image / rollout ---------------------------------------------------------------------


def _deployment(cluster: Cluster, parsed: Parsed, args: list[str]) -> Deployment:
    targets = split_targets(args)
    if len(targets) != 1 or len(targets[0][1]) != 1 or targets[0][0].kind != "Deployment":
        raise ClusterError("error: this lab handles deployments here: use deployment/NAME")
    found = cluster.get("Deployment", targets[0][1][0], str(parsed.get("namespace")))
    assert isinstance(found, Deployment)
    return found


def cmd_set(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    if parsed.args[:1] != ["image"]:
        raise ClusterError('error: this lab supports "kubectl set image" only')
    refs = [a for a in parsed.args[1:] if "=" not in a]
    pairs = [a.partition("=")[::2] for a in parsed.args[1:] if "=" in a]
    if not pairs:
        raise ClusterError("error: at least one image update is required")
    deploy = _deployment(cluster, parsed, refs)
    template = copy.deepcopy(deploy.template)
    for container_name, image in pairs:
        chosen = [c for c in template.containers if container_name in ("*", c.name)]
        if not chosen:
            raise ClusterError(f'error: unable to find container named "{container_name}"')
        for container in chosen:
            container.image = image
    if template != deploy.template:
        deploy.template = template
        deploy.revision += 1
        cluster.update_deployment(deploy)
    out.out.append(f"deployment.apps/{deploy.meta.name} image updated\n")


def cmd_rollout(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    action, args = (parsed.args[0], parsed.args[1:]) if parsed.args else ("", [])
    if action not in ("status", "restart", "undo"):
        raise ClusterError('error: this lab supports "kubectl rollout status|restart|undo"')
    deploy = _deployment(cluster, parsed, args)
    name = deploy.meta.name
    if action == "status":
        # new pods are ready at once in the lab, so every rollout has already finished
        out.out.append(f'deployment "{name}" successfully rolled out\n')
        return
    template = copy.deepcopy(deploy.template)
    if action == "restart":
        template.annotations["kubectl.kubernetes.io/restartedAt"] = rfc3339(cluster.now)
        verb = "restarted"
    else:
        template = _previous_template(cluster, deploy)
        verb = "rolled back"
    deploy.template = template
    deploy.revision += 1
    cluster.update_deployment(deploy)
    out.out.append(f"deployment.apps/{name} {verb}\n")


def _previous_template(cluster: Cluster, deploy: Deployment) -> Any:
    """The template of the most recent ReplicaSet other than the current one."""
    older = [
        rs
        for rs in deployment_replicasets(cluster, deploy)
        if not same_template(rs.template, deploy.template)
    ]
    if not older:
        raise ClusterError(
            "error: no rollout history found for deployment " + json.dumps(deploy.meta.name)
        )
    latest = max(older, key=lambda rs: (rs.meta.creation, rs.meta.resource_version))
    template = copy.deepcopy(latest.template)
    template.labels.pop(HASH_LABEL, None)
    return template


COMMANDS = {
    "patch": Command(
        cmd_patch,
        [NAMESPACE, Flag("patch", "p"), Flag("type", default="strategic")],
        "Update fields of a resource",
    ),
    "set": Command(cmd_set, [NAMESPACE], "Set specific features on objects"),
    "rollout": Command(cmd_rollout, [NAMESPACE], "Manage the rollout of a resource"),
}

"""The kubectl commands that change existing objects or take manifests: scale, delete, label,
apply (create/expose/run are in kubectl_create.py, patch/set/rollout in kubectl_patch.py).

Success lines and errors are kubectl's own (`deployment.apps/web created`, `service/web
exposed`, `pod "x" deleted`, `error: required flag(s) "image" not set`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.sim.cluster.errors import ClusterError
from app.sim.cluster.flags import Flag, Parsed
from app.sim.cluster.kubectl import NAMESPACE, SELECTOR, Command, Output, split_targets
from app.sim.cluster.manifests import ManifestError, apply
from app.sim.cluster.resources import list_objects, object_labels
from app.sim.cluster.selectors import parse_selector
from app.sim.cluster.yamlish import YamlError, load_all

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster


def need(parsed: Parsed, *names: str) -> None:
    missing = [n for n in names if not parsed.get(n)]
    if missing:
        raise ClusterError(
            "error: required flag(s) " + ", ".join(f'"{n}"' for n in missing) + " not set"
        )


def int_flag(parsed: Parsed, name: str) -> int:
    value = str(parsed.get(name))
    try:
        return int(value)
    except ValueError:
        raise ClusterError(
            f'error: invalid argument "{value}" for "--{name}" flag: strconv.ParseInt: parsing '
            f'"{value}": invalid syntax'
        ) from None


def one_name(parsed: Parsed, command: str, args: list[str]) -> str:
    if len(args) != 1:
        raise ClusterError(
            f"error: exactly one NAME is required, got {len(args)}\nSee 'kubectl {command} -h' for "
            "help and examples"
        )
    return args[0]


# -- scale -----------------------------------------------------------------------------------


def cmd_scale(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    if not parsed.get("replicas"):
        raise ClusterError('error: required flag(s) "replicas" not set')
    replicas = int_flag(parsed, "replicas")
    if replicas < 0:
        raise ClusterError(
            "error: The --replicas=COUNT flag is required, and COUNT must be greater than or equal "
            "to 0"
        )
    namespace = str(parsed.get("namespace"))
    targets = split_targets(parsed.args)
    if not targets or not targets[0][1]:
        raise ClusterError("error: resource(s) were provided, but no name was specified")
    for resource, names in targets:
        for name in names:
            if resource.kind == "Deployment":
                cluster.scale_deployment(name, replicas, namespace)
            elif resource.kind == "ReplicaSet":
                cluster.scale_replicaset(name, replicas, namespace)
            else:
                raise ClusterError(f'error: no scaler has been implemented for "{resource.kind}"')
            out.out.append(f"{resource.prefix}/{name} scaled\n")


# -- delete ----------------------------------------------------------------------------------

_DELETED = {
    "Pod": "pod",
    "Service": "service",
    "Deployment": "deployment.apps",
    "ReplicaSet": "replicaset.apps",
}


def cmd_delete(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    targets = split_targets(parsed.args)
    if not targets:
        raise ClusterError(
            "error: You must provide one or more resources by argument or filename.\n"
            "Example resource specifications include:\n   '-f rsrc.yaml'\n   "
            "'--filename=rsrc.json'\n"
            "   '<resource> <name>'\n   '<resource>'"
        )
    namespace = str(parsed.get("namespace"))
    for resource, names in targets:
        if resource.kind not in _DELETED:
            raise ClusterError(f"error: this lab does not delete {resource.plural}")
        if not names:
            names = _names_selected(cluster, resource.kind, parsed, namespace)
        for name in names:
            try:
                _delete_one(cluster, resource.kind, name, namespace, parsed)
            except ClusterError as err:
                out.error(err.message)
                continue
            out.out.append(f'{_DELETED[resource.kind]} "{name}" deleted\n')


def _names_selected(cluster: Cluster, kind: str, parsed: Parsed, namespace: str) -> list[str]:
    if not parsed.get("all") and not parsed.get("selector"):
        raise ClusterError("error: resource(s) were provided, but no name was specified")
    objects = list_objects(cluster, kind, namespace)
    if parsed.get("selector"):
        matches = parse_selector(str(parsed.get("selector")))
        objects = [o for o in objects if matches(object_labels(kind, o))]
    return [o.meta.name for o in objects]


def _delete_one(cluster: Cluster, kind: str, name: str, namespace: str, parsed: Parsed) -> None:
    if kind == "Pod":
        grace = (
            int_flag(parsed, "grace-period")
            if parsed.get("grace-period") not in (None, "-1")
            else None
        )
        if parsed.get("now"):
            grace = 1
        wait = parsed.get("wait") is not False
        cluster.delete_pod(name, namespace, wait=wait, grace=grace)
    elif kind == "Service":
        cluster.delete_service(name, namespace)
    elif kind == "Deployment":
        cluster.delete_deployment(name, namespace)
    else:
        cluster.delete_replicaset(name, namespace)


# -- label -----------------------------------------------------------------------------------


def _label_changes(changes: list[str]) -> dict[str, str | None]:
    """`k=v` sets, `k-` removes (None)."""
    labels: dict[str, str | None] = {}
    for change in changes:
        if change.endswith("-") and "=" not in change:
            labels[change[:-1]] = None
        else:
            key, _, value = change.partition("=")
            labels[key] = value
    return labels


def cmd_label(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    changes = [a for a in parsed.args if "=" in a or a.endswith("-")]
    targets = split_targets([a for a in parsed.args if a not in changes])
    namespace = str(parsed.get("namespace"))
    if targets and not targets[0][1] and parsed.get("selector"):
        targets = [(targets[0][0], _names_selected(cluster, "Pod", parsed, namespace))]
    if not targets or (not targets[0][1] and not parsed.get("selector")):
        raise ClusterError(
            "error: one or more resources must be specified as <resource> <name> or "
            "<resource>/<name>"
        )
    if not changes:
        raise ClusterError("error: at least one label update is required")
    labels = _label_changes(changes)
    for resource, names in targets:
        if resource.kind != "Pod":
            raise ClusterError("error: this lab labels pods only")
        for name in names:
            pod = cluster.get("Pod", name, namespace)
            before = dict(pod.meta.labels)  # type: ignore[attr-defined]
            overwrite = bool(parsed.get("overwrite"))
            pod = cluster.label_pod(name, labels, namespace, overwrite=overwrite)
            out.out.append(f"pod/{name} {_label_verb(before, pod.meta.labels)}\n")


def _label_verb(before: dict[str, str], after: dict[str, str]) -> str:
    """kubectl label says `not labeled` when nothing changed, `unlabeled` when only removed."""
    if before == after:
        return "not labeled"
    return "unlabeled" if set(after.items()) <= set(before.items()) else "labeled"


# -- apply -----------------------------------------------------------------------------------


def cmd_apply(
    cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output, verb: str = ""
) -> None:
    source = parsed.get("filename")
    if not source:
        raise ClusterError("error: must specify one of -f and -k")
    if source != "-":
        raise ClusterError(f'error: the path "{source}" does not exist')
    try:
        docs = load_all(stdin or "")
    except YamlError as err:
        raise ClusterError(
            f"error: error parsing STDIN: error converting YAML to JSON: {err}"
        ) from None
    items = []
    for doc in docs:
        is_list = isinstance(doc, dict) and doc.get("kind") == "List"
        items += list(doc.get("items") or []) if is_list else [doc]
    if not items:
        raise ClusterError(
            "error: no objects passed to apply"
            if not verb
            else "error: no objects passed to create"
        )
    for item in items:
        warnings: list[str] = []
        try:
            namespace = str(parsed.get("namespace"))
            line = apply(cluster, item, namespace, create_only=bool(verb), warnings=warnings)
        except (ManifestError, ClusterError) as err:
            out.error(err.message)
            continue
        out.err += [w + "\n" for w in warnings]  # a warning, not a failure: status stays 0
        out.out.append(line + "\n")


FILENAME = Flag("filename", "f")

COMMANDS = {
    "scale": Command(
        cmd_scale,
        [NAMESPACE, Flag("replicas")],
        "Set a new size for a deployment, replica set, or replication controller",
    ),
    "delete": Command(
        cmd_delete,
        [
            NAMESPACE,
            SELECTOR,
            Flag("all", takes_value=False),
            Flag("wait", takes_value=False, default=True),
            Flag("grace-period", default="-1"),
            Flag("now", takes_value=False),
            Flag("force", takes_value=False),
        ],
        "Delete resources by file names, stdin, resources and names, or by resources and label "
        "selector",
    ),
    "label": Command(
        cmd_label,
        [NAMESPACE, SELECTOR, Flag("overwrite", takes_value=False)],
        "Update the labels on a resource",
    ),
    "apply": Command(
        cmd_apply,
        [NAMESPACE, FILENAME],
        "Apply a configuration to a resource by file name or stdin",
    ),
}

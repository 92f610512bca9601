"""`kubectl` for the simulated cluster: `run_kubectl(cluster, argv, stdin) -> CommandResult`.

The supported subset (`kubectl` with no arguments lists it) prints what kubectl 1.30 prints:
the same table columns and widths, the same `created`/`deleted` lines, the same error wording
and exit status 1 on error. `argv` may start with `kubectl` or not; `run_line` takes a whole
command line and splits it as a shell would. `stdin` feeds `apply -f -` / `create -f -`
(YAML subset or JSON, see `yamlish.py`).

This module holds the dispatcher and the read-only commands (get, describe, version); the
others are in kubectl_create.py (create, run, expose), kubectl_write.py (scale, delete, label,
apply), kubectl_patch.py (patch, set image, rollout) and kubectl_lab.py (lab-only commands).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from difflib import get_close_matches
from typing import TYPE_CHECKING

from app.sim.cluster.apiobjects import as_list, to_api
from app.sim.cluster.describe import describe_node, describe_pod, describe_service
from app.sim.cluster.errors import ClusterError
from app.sim.cluster.flags import Flag, FlagError, Parsed, parse
from app.sim.cluster.printers import render_table
from app.sim.cluster.resources import (
    ALL,
    BY_KIND,
    Resource,
    get_object,
    list_objects,
    object_labels,
    resolve,
)
from app.sim.cluster.selectors import parse_selector
from app.sim.cluster.yamlish import dump
from app.sim.command import CommandResult

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster


class Output:
    """Collects stdout/stderr while a command runs; any stderr line means exit status 1."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        self.failed = False

    def error(self, text: str) -> None:
        self.err.append(text if text.endswith("\n") else text + "\n")
        self.failed = True

    def result(self) -> CommandResult:
        return CommandResult(1 if self.failed else 0, "".join(self.out), "".join(self.err))


Handler = Callable[["Cluster", Parsed, str | None, Output], None]


@dataclass(frozen=True)
class Command:
    run: Handler
    flags: list[Flag]
    short: str


NAMESPACE = Flag("namespace", "n", default="default")
ALL_NAMESPACES = Flag("all-namespaces", "A", takes_value=False, default=False)
OUTPUT = Flag("output", "o", default="")
SELECTOR = Flag("selector", "l", default="")
SHOW_LABELS = Flag("show-labels", takes_value=False, default=False)
HELP_FLAG = Flag("help", "h", takes_value=False, default=False)
PRINTER_FORMATS = ("wide", "yaml", "json", "name")
_ALLOWED = (
    "custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,"
    "jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml"
)


def split_targets(args: list[str]) -> list[tuple[Resource, list[str]]]:
    """`pods`, `pod NAME...`, `pod/NAME pod/OTHER`, `pods,svc` -> [(resource, names)]."""
    if not args:
        return []
    if "/" in args[0]:
        pairs = []
        for arg in args:
            if "/" not in arg:
                raise ClusterError(
                    "error: there is no need to specify a resource type as a separate argument "
                    "when passing arguments in resource/name form (e.g. 'kubectl get "
                    "resource/<resource_name>' "
                    "instead of 'kubectl get resource resource/<resource_name>'"
                )
            type_name, _, name = arg.partition("/")
            pairs.append((resolve(type_name), [name]))
        return pairs
    kinds = (
        [BY_KIND[k] for k in ALL]
        if args[0] == "all"
        else [resolve(t) for t in args[0].split(",") if t]
    )
    return [(r, args[1:]) for r in kinds]


def _namespace(parsed: Parsed) -> str | None:
    return None if parsed.get("all-namespaces") else str(parsed.get("namespace"))


def _select(
    cluster: Cluster, resource: Resource, names: list[str], parsed: Parsed, out: Output
) -> list:
    namespace = _namespace(parsed)
    if names:
        found = []
        for name in names:
            try:
                found.append(get_object(cluster, resource.kind, name, namespace or "default"))
            except ClusterError as err:
                out.error(err.message)
        return found
    objects = list_objects(cluster, resource.kind, namespace if resource.namespaced else None)
    if parsed.get("selector"):
        matches = parse_selector(str(parsed.get("selector")))
        objects = [o for o in objects if matches(object_labels(resource.kind, o))]
    return objects


def _no_resources(parsed: Parsed, namespaced: bool) -> str:
    if parsed.get("all-namespaces") or not namespaced:
        return "No resources found\n"
    return f"No resources found in {parsed.get('namespace')} namespace.\n"


def cmd_get(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    fmt = str(parsed.get("output") or "")
    if fmt not in ("", *PRINTER_FORMATS):
        raise ClusterError(
            f'error: unable to match a printer suitable for the output format "{fmt}", allowed '
            f"formats are: {_ALLOWED}"
        )
    targets = split_targets(parsed.args)
    if not targets:
        raise ClusterError(
            'You must specify the type of resource to get. Use "kubectl api-resources" for a '
            "complete list of "
            'supported resources.\n\nerror: Required resource not specified.\nUse "kubectl explain '
            '<resource>" '
            "for a detailed description of that resource (e.g. kubectl explain pods).\nSee "
            "'kubectl get -h' for "
            "help and examples"
        )
    groups = [
        (resource, _select(cluster, resource, names, parsed, out)) for resource, names in targets
    ]
    named = any(names for _, names in targets)
    if fmt in ("yaml", "json"):
        items = [to_api(cluster, r.kind, o) for r, objs in groups for o in objs]
        if not items:
            if not named:
                out.err.append(_no_resources(parsed, targets[0][0].namespaced))
            return
        single = len(targets) == 1 and len(targets[0][1]) == 1 and len(items) == 1
        doc = items[0] if single else as_list(items)
        out.out.append(
            dump(doc) if fmt == "yaml" else json.dumps(doc, indent=4, sort_keys=True) + "\n"
        )
        return
    _print_groups(cluster, groups, parsed, fmt, named, out)


def _print_groups(
    cluster: Cluster, groups: list, parsed: Parsed, fmt: str, named: bool, out: Output
) -> None:
    prefixed = len(groups) > 1 or (named and len({r.kind for r, _ in groups}) > 1)
    tables = []
    for resource, objects in groups:
        if not objects:
            continue
        if fmt == "name":
            tables.append("".join(f"{resource.prefix}/{_name(resource, o)}\n" for o in objects))
            continue
        namespaces = bool(parsed.get("all-namespaces")) and resource.namespaced
        prefix = f"{resource.prefix}/" if prefixed else ""
        wide = fmt == "wide"
        text = render_table(
            cluster,
            resource.kind,
            objects,
            wide=wide,
            namespaces=namespaces,
            prefix=prefix,
            labels=bool(parsed.get("show-labels")),
        )
        tables.append(text)
    if tables:
        out.out.append(("\n" if fmt != "name" else "").join(tables))
    elif not named:
        out.err.append(_no_resources(parsed, groups[0][0].namespaced))


def _name(resource: Resource, obj: object) -> str:
    return obj.name if resource.kind == "Event" else obj.meta.name  # type: ignore[attr-defined]


DESCRIBERS = {"Service": describe_service, "Pod": describe_pod, "Node": describe_node}


def cmd_describe(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    targets = split_targets(parsed.args)
    if not targets:
        raise ClusterError(
            'error: You must specify the type of resource to describe. Use "kubectl api-resources" '
            "for a complete list of supported resources."
        )
    texts = []
    for resource, names in targets:
        objects = _select(cluster, resource, names, parsed, out)
        describer = DESCRIBERS.get(resource.kind)
        if describer is None and objects:
            raise ClusterError(
                "error: this lab describes pods, services and nodes; "
                f'use "kubectl get {resource.plural} -o yaml" for other resources'
            )
        texts += [describer(cluster, obj) for obj in objects]  # type: ignore[misc]
        if not objects and not names:
            out.err.append(_no_resources(parsed, resource.namespaced))
    out.out.append("\n\n".join(texts))


def cmd_version(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    version = next((n.kubelet_version for n in cluster.nodes.values()), "v1.30.2")
    out.out.append(
        f"Client Version: {version}\nKustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\n"
        f"Server Version: {version}\n"
    )


def _commands() -> dict[str, Command]:
    from app.sim.cluster import kubectl_create, kubectl_lab, kubectl_patch, kubectl_write

    return {
        "get": Command(
            cmd_get,
            [NAMESPACE, ALL_NAMESPACES, OUTPUT, SELECTOR, SHOW_LABELS],
            "Display one or many resources",
        ),
        "describe": Command(
            cmd_describe,
            [NAMESPACE, ALL_NAMESPACES, SELECTOR],
            "Show details of a specific resource or group of resources",
        ),
        **kubectl_create.COMMANDS,
        **kubectl_write.COMMANDS,
        **kubectl_patch.COMMANDS,
        "lab": kubectl_lab.LAB,
        "version": Command(
            cmd_version, [OUTPUT], "Print the client and server version information"
        ),
    }


HELP_HEAD = "kubectl controls the Kubernetes cluster manager.\n\n"


def usage() -> str:
    lines = [f"  {name:<14}{command.short}" for name, command in _commands().items()]
    return (
        HELP_HEAD
        + "Commands in this lab:\n"
        + "\n".join(lines)
        + (
            "\n\nUsage:\n  kubectl [flags] [options]\n\n"
            'Use "kubectl <command> --help" for more information about a given command.\n'
        )
    )


def run_kubectl(cluster: Cluster, argv: list[str], stdin: str | None = None) -> CommandResult:
    """Run one kubectl command against `cluster`; never raises for bad input."""
    args = list(argv[1:] if argv[:1] == ["kubectl"] else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        return CommandResult(0, usage())
    name, rest = args[0], args[1:]
    commands = _commands()
    if name not in commands:
        return CommandResult(1, "", _unknown(name, list(commands)))
    command = commands[name]
    out = Output()
    # A command refused before it wrote anything spends no UID either: the names' random
    # stream goes back to where it was, so the lab's future is as if it had not been typed.
    names, version = cluster.rng.getstate(), cluster.version
    try:
        parsed = parse(rest, [*command.flags, HELP_FLAG])
        if parsed.get("help"):
            from app.sim.cluster.kubectl_lab import help_text

            return CommandResult(0, help_text(name, command))
        command.run(cluster, parsed, stdin, out)
    except FlagError as err:
        sub = (
            f"{name} {rest[0]}"
            if name in ("create", "lab") and rest and not rest[0].startswith("-")
            else name
        )
        out.error(f"error: {err}\nSee 'kubectl {sub} --help' for usage.")
    except ClusterError as err:
        out.error(err.message)
    if out.failed and cluster.version == version:
        cluster.rng.setstate(names)
    return out.result()


def run_line(cluster: Cluster, line: str, stdin: str | None = None) -> CommandResult:
    """Run a command line as a shell would split it (`kubectl patch svc web -p '{...}'`).

    Unbalanced quotes are refused with the message bash gives.
    """
    try:
        argv = shlex.split(line)
    except ValueError:
        return CommandResult(2, "", "bash: unexpected EOF while looking for matching quote\n")
    if argv[:1] != ["kubectl"]:
        name = argv[0] if argv else ""
        return CommandResult(127, "", f"bash: {name}: command not found\n")
    return run_kubectl(cluster, argv, stdin)


def _unknown(name: str, known: list[str]) -> str:
    text = f'error: unknown command "{name}" for "kubectl"'
    close = get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        text += "\n\nDid you mean this?\n" + "".join(f"\t{c}\n" for c in close)
    return text + "\n"

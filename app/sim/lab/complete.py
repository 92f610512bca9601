"""Tab completion for the console: `complete(lab, line)` lists the words that can replace
the last (partial) word of `line` — the caller swaps the text after the last space for one
of them. Programs, kubectl sub-commands, resource types and object names, iptables options,
tables, chains and targets, curl destinations and sources, node names for ssh."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.sim.cluster.kubectl import _commands as kubectl_commands
from app.sim.lab.commands import COMMANDS
from app.sim.netfilter.model import TABLE_NAMES

if TYPE_CHECKING:
    from app.sim.lab.lab import Lab

KUBECTL_TYPES = ("pods", "services", "deployments", "replicasets", "endpoints",
                 "endpointslices", "nodes", "events", "namespaces", "all")  # fmt: skip
_TYPE_KIND = {"pod": "pods", "pods": "pods", "po": "pods", "svc": "services",
              "service": "services", "services": "services", "deployment": "deployments",
              "deployments": "deployments", "deploy": "deployments", "node": "nodes",
              "nodes": "nodes", "no": "nodes", "replicaset": "replicasets", "rs": "replicasets",
              "replicasets": "replicasets", "endpoints": "services", "ep": "services"}  # fmt: skip
IPTABLES_OPTIONS = ("-t", "-L", "-S", "-A", "-I", "-D", "-R", "-F", "-Z", "-N", "-X", "-P",
                    "-C", "-n", "-v", "-x", "-j", "-g", "-p", "-s", "-d", "-i", "-o", "-m",
                    "--line-numbers", "--dport", "--sport")  # fmt: skip
_CHAIN_AFTER = {"-L", "-S", "-A", "-I", "-D", "-R", "-F", "-Z", "-X", "-P", "-C", "-N"}
TARGETS = ("ACCEPT", "DROP", "REJECT", "RETURN", "LOG", "MARK", "DNAT", "SNAT", "MASQUERADE")
LAB_SUBCOMMANDS = (
    "set-ready", "advance", "restart", "node-ready", "kill-app", "ipvs-scheduler", "ipvs-modules",
)  # fmt: skip


def complete(lab: Lab, line: str) -> list[str]:
    """Sorted candidates for the last word of `line` (empty when nothing fits)."""
    if not isinstance(line, str) or "\n" in line:
        return []
    words = line.split(" ")
    partial, before = words[-1], [w for w in words[:-1] if w]
    while before and before[0] == "sudo":
        before = before[1:]
    options = _after(lab, before[0], before[1:]) if before else list(COMMANDS)
    return sorted({o for o in options if o.startswith(partial)})


def _after(lab: Lab, program: str, args: list[str]) -> list[str]:
    if program == "kubectl":
        return _kubectl(lab, args)
    if program == "iptables":
        return _iptables(lab, args)
    if program == "iptables-save":
        return ["-t", "-c", *TABLE_NAMES] if not args or args[-1] != "-t" else list(TABLE_NAMES)
    if program == "curl":
        return _curl(lab, args)
    if program == "conntrack":
        return ["-L", "-C", "-F"]
    if program in ("ssh",):
        return list(lab.nodes)
    if program == "help":
        return list(COMMANDS)
    return []


def _names(lab: Lab, plural: str) -> list[str]:
    cluster = lab.cluster
    store = {"pods": cluster.pods, "services": cluster.services,
             "deployments": cluster.deployments, "replicasets": cluster.replicasets}  # fmt: skip
    if plural == "nodes":
        return sorted(cluster.nodes)
    return sorted(name for (ns, name) in store.get(plural, {}) if ns == "default")


def _kubectl(lab: Lab, args: list[str]) -> list[str]:
    words = [a for a in args if not a.startswith("-")]
    if not words:
        return list(kubectl_commands())
    sub = words[0]
    if sub == "lab":
        if len(words) == 1:
            return list(LAB_SUBCOMMANDS)
        if words[1] == "ipvs-scheduler":
            from app.sim.ipvs.schedulers import SCHEDULERS

            return sorted(SCHEDULERS)
        return _slash_names(lab, ("pod", "node"))
    if len(words) == 1:
        types = list(KUBECTL_TYPES)
        if sub in ("scale", "rollout", "set"):
            types = ["deployment", "replicaset"]
        return types + _slash_names(lab, ("deployment", "pod", "svc"))
    kind = _TYPE_KIND.get(words[1])
    return _names(lab, kind) if kind else []


def _slash_names(lab: Lab, kinds: tuple[str, ...]) -> list[str]:
    plural = {"deployment": "deployments", "pod": "pods", "svc": "services", "node": "nodes"}
    return [f"{k}/{n}" for k in kinds for n in _names(lab, plural[k])]


def _iptables(lab: Lab, args: list[str]) -> list[str]:
    last = args[-1] if args else ""
    table = args[args.index("-t") + 1] if "-t" in args[:-1] else "filter"
    if last == "-t":
        return list(TABLE_NAMES)
    found = lab.shell_world().ruleset.tables.get(table)
    chains = list(found.chains) if found is not None else []
    if last in _CHAIN_AFTER:
        return chains
    if last in ("-j", "-g"):
        return [*TARGETS, *chains]
    if last == "-p":
        return ["tcp", "udp", "icmp"]
    if last == "-m":
        return [
            "comment",
            "conntrack",
            "mark",
            "statistic",
            "tcp",
            "udp",
            "addrtype",
            "recent",
            "multiport",
        ]
    return list(IPTABLES_OPTIONS)


def _curl(lab: Lab, args: list[str]) -> list[str]:
    if args and args[-1] == "--from":
        sources = ["external", *_slash_names(lab, ("pod", "node"))]
        return sources
    out = ["--from"]
    for (ns, name), svc in sorted(lab.cluster.services.items()):
        for port in svc.ports:
            if svc.cluster_ip and svc.cluster_ip != "None":
                out.append(f"{svc.cluster_ip}:{port.port}")
            out.append(f"{name if ns == 'default' else f'{name}.{ns}'}:{port.port}")
    return out

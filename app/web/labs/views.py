"""What the /lab page draws, as plain data built from the lab model's own answers: the cluster
(nodes, pods, Services, endpoints, the buttons' commands), the rules tree with the rules the
last request hit, and the notice of what kube-proxy rewrote. Templates only lay it out.
"""

from __future__ import annotations

import shlex
from typing import Any

from app.sim.netfilter.model import Rule, Ruleset
from app.sim.netfilter.render import SAVE_TABLE_ORDER, ordered_chains, rule_line

#: "Show as" formats of the rules view: the lab's fmt name -> the command it mirrors.
SHORT_FORMATS = {"save": "iptables-save", "list": "iptables -L -n -v", "spec": "iptables -S"}
RULE_FORMATS = {
    "save": "iptables-save",
    "list": "iptables -L -n -v --line-numbers",
    "spec": "iptables -S",
}
#: The tables in the order the kernel's hooks run them (raw, mangle, nat, filter, security).
TABLE_ORDER = ("raw", "mangle", "nat", "filter", "security")


def _ns_flag(namespace: str) -> str:
    return "" if namespace in ("", "default") else f" -n {shlex.quote(namespace)}"


def _deployment_of(pod: dict[str, Any]) -> str | None:
    """The Deployment behind a pod: its ReplicaSet's name less the pod-template-hash suffix."""
    owner = str(pod.get("owner", ""))
    template_hash = (pod.get("labels") or {}).get("pod-template-hash")
    if not owner.startswith("ReplicaSet/") or not template_hash:
        return None
    replicaset = owner.split("/", 1)[1]
    suffix = f"-{template_hash}"
    return replicaset[: -len(suffix)] if replicaset.endswith(suffix) else None


def pod_view(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod card: state badges and the commands its buttons run."""
    name, ns = str(pod["name"]), _ns_flag(str(pod.get("namespace", "default")))
    ready = bool(pod.get("ready"))
    return {
        **pod,
        "state": "terminating" if pod.get("terminating") else ("ready" if ready else "notready"),
        "delete": f"kubectl delete pod {shlex.quote(name)}{ns}",
        "toggle": f"kubectl lab set-ready pod/{shlex.quote(name)} {'false' if ready else 'true'}"
        + ns,
    }


def deployments(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deployments with their live replica count and the scale ± commands."""
    found: dict[tuple[str, str], int] = {}
    for pod in pods:
        name = _deployment_of(pod)
        if name is not None:
            key = (str(pod.get("namespace", "default")), name)
            found[key] = found.get(key, 0) + (0 if pod.get("terminating") else 1)
    result = []
    for (ns, name), replicas in sorted(found.items()):
        base = f"kubectl scale deployment/{shlex.quote(name)}{_ns_flag(ns)} --replicas="
        result.append(
            {
                "namespace": ns,
                "name": name,
                "replicas": replicas,
                "up": f"{base}{replicas + 1}",
                "down": f"{base}{max(replicas - 1, 0)}" if replicas > 0 else None,
            }
        )
    return result


def _service_key(svc: dict[str, Any]) -> str:
    return f"{svc.get('namespace', 'default')}/{svc.get('name', '')}"


def cluster_view(summary: dict[str, Any]) -> dict[str, Any]:
    """Nodes with their pod cards, Services with their endpoints, Deployments."""
    pods = {str(p["name"]): pod_view(p) for p in summary.get("pods", [])}
    nodes = []
    for node in summary.get("nodes", []):
        names = [n if isinstance(n, str) else n.get("name") for n in node.get("pods", [])]
        nodes.append({**node, "pod_cards": [pods[n] for n in names if n in pods]})
    endpoints = summary.get("endpoints", {})
    services = [
        {**svc, "endpoint_list": svc.get("endpoints") or endpoints.get(_service_key(svc), [])}
        for svc in summary.get("services", [])
    ]
    return {
        "nodes": nodes,
        "services": services,
        "deployments": deployments(list(pods.values())),
    }


def targets(summary: dict[str, Any]) -> list[str]:
    """Destinations the request form offers: each Service port as `svc/NAME:PORT` and IP:PORT."""
    found = []
    for svc in summary.get("services", []):
        for port in svc.get("ports", []):
            if svc.get("clusterIP") and svc["clusterIP"] != "None":
                found.append(f"{svc['clusterIP']}:{port['port']}")
            found.append(f"svc/{svc['name']}:{port['port']}")
    return found


def sources(summary: dict[str, Any]) -> list[str]:
    """Where a request may come from: outside, each node, each running pod."""
    nodes = [f"node/{n['name']}" for n in summary.get("nodes", [])]
    pods = [f"pod/{p['name']}" for p in summary.get("pods", []) if p.get("ip")]
    return ["external", *nodes, *pods]


def hits(traces: list[dict[str, Any]] | None) -> set[tuple[str, str, int]]:
    """(table, chain, rule number) of every rule the first trace matched."""
    if not traces:
        return set()
    return {
        (str(s["table"]), str(s["chain"]), int(s["rule"]))
        for s in traces[0].get("steps", [])
        if s.get("kind") == "rule" and s.get("matched") and s.get("rule") is not None
    }


def _rule_row(table: str, chain: str, number: int, rule: Rule, hit: set) -> dict[str, Any]:
    text = rule_line(chain, rule)
    return {
        "number": number,
        "text": text,
        "spec": text.split(" ", 2)[2] if text.count(" ") >= 2 else "",
        "packets": rule.packets,
        "bytes": rule.bytes,
        "hit": (table, chain, number) in hit,
    }


def rules_tree(ruleset: Ruleset, hit: set[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """Tables (hook order) -> chains (iptables' order) -> numbered rules with counters."""
    tables = []
    order = [n for n in TABLE_ORDER if n in ruleset.tables]
    order += [n for n in SAVE_TABLE_ORDER if n in ruleset.tables and n not in order]
    for name in order:
        chains = []
        for chain in ordered_chains(ruleset.tables[name]):
            rules = [
                _rule_row(name, chain.name, i, rule, hit)
                for i, rule in enumerate(chain.rules, start=1)
            ]
            chains.append(
                {
                    "name": chain.name,
                    "policy": chain.policy,
                    "rules": rules,
                    "hit": any(r["hit"] for r in rules),
                }
            )
        tables.append({"name": name, "chains": chains})
    return tables


def sync_changes(sync: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The chains kube-proxy rewrote, created or deleted (from ConsoleResult.sync)."""
    if not sync:
        return []
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for change in sync.get("changes", []):
        if isinstance(change, dict) and change.get("chain"):
            key = (str(change.get("table", "")), str(change["chain"]), str(change.get("action")))
            seen.setdefault(key, change)  # one chip per chain, whichever nodes rewrote it
    return list(seen.values())


def changed_chains(sync: dict[str, Any] | None) -> set[tuple[str, str]]:
    return {(str(c.get("table", "nat")), str(c["chain"])) for c in sync_changes(sync)}

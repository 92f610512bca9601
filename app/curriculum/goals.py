"""Goal kinds: what a step asks of the lab, checked against the lab model and its traces.

A goal is a mapping `{kind: NAME, ...params}`. `GOALS[NAME]` holds its checker, the
parameters it needs and a description in both languages (the "show goal" rung of the hint
ladder). Goals that send traffic do it on a copy of the lab, so checking never moves the
learner's conntrack table, clock or random stream.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.sim.lab import Lab
from app.sim.lab.result import LabError
from app.sim.netfilter.commands import run_iptables


@dataclass
class Context:
    """What a goal is checked against: the lab, the learner's choice (concept steps) and the
    first console line of this lesson (command goals look only at lines typed since)."""

    lab: Lab
    answer: int | None = None
    expected: int | None = None
    history_start: int = 0


Checker = Callable[[dict[str, Any], Context], bool]


@dataclass(frozen=True)
class GoalKind:
    check: Checker
    required: tuple[str, ...]
    describe: Callable[[dict[str, Any]], dict[str, str]]


def _copy(lab: Lab) -> Lab:
    return Lab.from_data(lab.to_data())


def _send(goal: dict[str, Any], ctx: Context) -> dict[str, Any] | None:
    """`count` requests (default 12) from `from` to `to` on a copy of the lab."""
    try:
        return _copy(ctx.lab).send(str(goal["from"]), str(goal["to"]), count=goal.get("count", 12))
    except LabError:
        return None


def _pods_reached(out: dict[str, Any]) -> set[str]:
    return {t["pod"] for t in out["traces"] if t.get("pod")}


def _refused(trace: dict[str, Any]) -> bool:
    """The connection reached no application: no pod, or a pod whose port is closed."""
    return not trace.get("pod") or bool(trace.get("port_closed"))


def _endpoints_reached(goal: dict[str, Any], ctx: Context) -> bool:
    out = _send(goal, ctx)
    if out is None or out["failed"] or any(_refused(t) for t in out["traces"]):
        return False
    pods = _pods_reached(out)
    if "only" in goal:
        return pods == set(goal["only"])
    return int(goal.get("min", 1)) <= len(pods) <= int(goal.get("max", len(pods)))


def _request_fails(goal: dict[str, Any], ctx: Context) -> bool:
    out = _send(goal, ctx)
    if out is None or not out["traces"]:
        return False
    verdict = goal.get("verdict")
    failed = sum(out["failed"].values()) if verdict is None else out["failed"].get(verdict, 0)
    return failed == len(out["traces"])


def _requests_refused(goal: dict[str, Any], ctx: Context) -> bool:
    """At least `min` (default 1) of `count` connections are refused (a dead application
    behind a live endpoint: the kernel's DNAT picked it anyway)."""
    out = _send(goal, ctx)
    if out is None:
        return False
    return sum(1 for t in out["traces"] if _refused(t)) >= int(goal.get("min", 1))


def _last_rule(trace: dict[str, Any]) -> dict[str, Any] | None:
    steps = [s for s in trace.get("steps", []) if s.get("kind") in ("rule", "policy")]
    return steps[-1] if steps else None


def _dropped_in(goal: dict[str, Any], ctx: Context) -> bool:
    out = _send(goal | {"count": 1}, ctx)
    if out is None or not out["traces"] or not out["failed"]:
        return False
    last = _last_rule(out["traces"][0])
    return bool(last) and (last["table"], last["chain"]) == (goal["table"], goal["chain"])


def _chain_matches(pattern: str, chain: str) -> bool:
    # "KUBE-SVC-*" stands for any hashed Service chain (names.py hashes them per Service).
    return chain.startswith(pattern[:-1]) if pattern.endswith("*") else chain == pattern


def _trace_path(goal: dict[str, Any], ctx: Context) -> bool:
    out = _send(goal | {"count": 1}, ctx)
    if out is None or not out["traces"]:
        return False
    chains: list[str] = []
    for step in out["traces"][0].get("steps", []):
        if not chains or chains[-1] != step.get("chain"):
            chains.append(str(step.get("chain")))
    want = list(goal["chains"])
    for chain in chains:  # `want` must be a subsequence of the visited chains
        if want and _chain_matches(want[0], chain):
            want.pop(0)
    return not want


def _source_ip(goal: dict[str, Any], ctx: Context) -> bool:
    out = _send(goal | {"count": 1}, ctx)
    if out is None or not out["traces"] or out["failed"]:
        return False
    src = out["traces"][0]["final"]["packet"]["src"]
    return (src == goal["src"]) != bool(goal.get("not", False))


def _service(ctx: Context, name: str) -> dict[str, Any] | None:
    for svc in ctx.lab.summary()["services"]:
        if svc["name"] == name:
            return svc
    return None


def _service_endpoints(goal: dict[str, Any], ctx: Context) -> bool:
    eps = ctx.lab.summary()["endpoints"].get(f"default/{goal['service']}", [])
    return sum(1 for e in eps if e.get("ready")) == int(goal["count"])


def _service_type(goal: dict[str, Any], ctx: Context) -> bool:
    svc = _service(ctx, str(goal["service"]))
    return svc is not None and svc["type"] == goal["type"]


def _service_field(goal: dict[str, Any], ctx: Context) -> bool:
    svc = _service(ctx, str(goal["service"]))
    return svc is not None and svc.get(str(goal["field"])) == goal["value"]


def _ruleset(goal: dict[str, Any], ctx: Context) -> Any:
    try:
        return ctx.lab.ruleset(goal.get("node"))
    except LabError:
        return None


def _rule_exists(goal: dict[str, Any], ctx: Context) -> bool:
    ruleset = _ruleset(goal, ctx)
    if ruleset is None:
        return False
    spec = goal["spec"].split() if isinstance(goal["spec"], str) else list(goal["spec"])
    # iptables -C only reads (iptables(8) "--check"): safe on the learner's own ruleset.
    found = run_iptables(ruleset, ["-t", goal["table"], "-C", goal["chain"], *spec]).ok
    return found != bool(goal.get("absent", False))


def _chain_exists(goal: dict[str, Any], ctx: Context) -> bool:
    ruleset = _ruleset(goal, ctx)
    if ruleset is None:
        return False
    table = ruleset.tables.get(goal["table"])
    found = table is not None and goal["chain"] in table.chains
    return found != bool(goal.get("absent", False))


def _command_ran(goal: dict[str, Any], ctx: Context) -> bool:
    pattern = re.compile(str(goal["pattern"]))
    lines = ctx.lab.console_history[ctx.history_start :]
    return any(pattern.search(line) for line in lines)


def _mode_is(goal: dict[str, Any], ctx: Context) -> bool:
    return ctx.lab.mode == goal["mode"]


def _conntrack_has(goal: dict[str, Any], ctx: Context) -> bool:
    try:
        world = ctx.lab.world(goal.get("node"))
    except LabError:
        return False
    return str(goal["text"]) in world.conntrack.listing(ctx.lab.clock)


def _choice(goal: dict[str, Any], ctx: Context) -> bool:
    return ctx.answer is not None and ctx.answer == ctx.expected


def _all(goal: dict[str, Any], ctx: Context) -> bool:
    return all(check(sub, ctx) for sub in goal["goals"])


def _d(en: str, zh: str) -> Callable[[dict[str, Any]], dict[str, str]]:
    return lambda g: {"en": _fill(en, g), "zh": _fill(zh, g)}


class _Safe(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "?"


GOALS: dict[str, GoalKind] = {
    "endpoints_reached": GoalKind(
        _endpoints_reached,
        ("from", "to"),
        _d(
            "Requests from {from} to {to} are delivered.",
            "从 {from} 发往 {to} 的请求都被送达。",
        ),
    ),
    "request_fails": GoalKind(
        _request_fails,
        ("from", "to"),
        _d("Every request from {from} to {to} fails.", "从 {from} 发往 {to} 的每个请求都失败。"),
    ),
    "requests_refused": GoalKind(
        _requests_refused,
        ("from", "to"),
        _d(
            "Some requests from {from} to {to} are refused (at least {min}).",
            "从 {from} 发往 {to} 的请求中有一部分被拒绝(至少 {min} 个)。",
        ),
    ),
    "dropped_in": GoalKind(
        _dropped_in,
        ("from", "to", "table", "chain"),
        _d(
            "A request from {from} to {to} ends in table {table}, chain {chain}.",
            "从 {from} 发往 {to} 的请求终止于 {table} 表的 {chain} 链。",
        ),
    ),
    "trace_path": GoalKind(
        _trace_path,
        ("from", "to", "chains"),
        _d(
            "A request from {from} to {to} walks the chains {chains} in this order.",
            "从 {from} 发往 {to} 的请求依次经过链 {chains}。",
        ),
    ),
    "source_ip": GoalKind(
        _source_ip,
        ("from", "to", "src"),
        _d(
            "The pod answering {to} (from {from}) sees source IP {src}.",
            "响应 {to} 的 Pod(请求来自 {from})看到的源 IP 是 {src}。",
        ),
    ),
    "service_endpoints": GoalKind(
        _service_endpoints,
        ("service", "count"),
        _d(
            "Service {service} has {count} ready endpoint(s).",
            "Service {service} 有 {count} 个就绪的端点。",
        ),
    ),
    "service_type": GoalKind(
        _service_type,
        ("service", "type"),
        _d("Service {service} exists with type {type}.", "Service {service} 存在,类型为 {type}。"),
    ),
    "service_field": GoalKind(
        _service_field,
        ("service", "field", "value"),
        _d("Service {service} has {field} = {value}.", "Service {service} 的 {field} 为 {value}。"),
    ),
    "rule_exists": GoalKind(
        _rule_exists,
        ("table", "chain", "spec"),
        _d(
            "Table {table}, chain {chain} holds the rule `{spec}`.",
            "{table} 表的 {chain} 链中有规则 `{spec}`。",
        ),
    ),
    "chain_exists": GoalKind(
        _chain_exists,
        ("table", "chain"),
        _d(
            "Table {table} has the chain {chain}.",
            "{table} 表中有链 {chain}。",
        ),
    ),
    "command_ran": GoalKind(
        _command_ran,
        ("pattern",),
        _d(
            "You ran `{pattern}` (or a command like it) in this lesson.",
            "你在本课中运行过 `{pattern}`(或类似的命令)。",
        ),
    ),
    "mode_is": GoalKind(
        _mode_is,
        ("mode",),
        _d("kube-proxy runs in {mode} mode.", "kube-proxy 运行在 {mode} 模式。"),
    ),
    "conntrack_has": GoalKind(
        _conntrack_has,
        ("text",),
        _d(
            "The node's conntrack table lists an entry with `{text}`.",
            "节点的 conntrack 表中有包含 `{text}` 的条目。",
        ),
    ),
    "all": GoalKind(
        _all,
        ("goals",),
        lambda g: {
            lang: " ".join(describe(sub, lang) for sub in g.get("goals", []))
            for lang in ("en", "zh")
        },
    ),
    "choice": GoalKind(
        _choice,
        ("options",),
        _d("Pick the right answer.", "选出正确答案。"),
    ),
}


def check(goal: dict[str, Any], ctx: Context) -> bool:
    """Whether `goal` is met; an unknown kind or a malformed goal is never met."""
    kind = GOALS.get(str(goal.get("kind")))
    if kind is None:
        return False
    try:
        return bool(kind.check(goal, ctx))
    except (KeyError, TypeError, ValueError, LabError):
        return False


_ABSENT = {
    "rule_exists": {
        "en": "Table {table}, chain {chain} no longer holds the rule `{spec}`.",
        "zh": "{table} 表的 {chain} 链中不再有规则 `{spec}`。",
    },
    "chain_exists": {
        "en": "Table {table} no longer has the chain {chain}.",
        "zh": "{table} 表中不再有链 {chain}。",
    },
}
_REACHED = {
    "only": {
        "en": "Every request from {from} to {to} reaches only pod(s) {only}.",
        "zh": "从 {from} 发往 {to} 的请求只到达 Pod {only}。",
    },
    "max": {
        "en": "Every request from {from} to {to} reaches one and the same pod.",
        "zh": "从 {from} 发往 {to} 的请求总是到达同一个 Pod。",
    },
    "min": {
        "en": "Requests from {from} to {to} are delivered, to at least {min} different pods.",
        "zh": "从 {from} 发往 {to} 的请求都被送达,至少到达 {min} 个不同的 Pod。",
    },
}


def _variant(goal: dict[str, Any]) -> dict[str, str] | None:
    """The wording for goals whose parameters change the sentence (absent, only, max)."""
    kind = goal.get("kind")
    if kind in _ABSENT and goal.get("absent"):
        return _ABSENT[str(kind)]
    if kind == "endpoints_reached":
        key = "only" if "only" in goal else "max" if "max" in goal else "min"
        return _REACHED[key]
    return None


def _fill(template: str, goal: dict[str, Any]) -> str:
    values = _Safe(
        {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in goal.items()}
    )
    values.setdefault("min", 1)
    return template.format_map(values)


def readable(pattern: str) -> str:
    """A command_ran pattern as a learner reads it: the first alternative, without regex
    syntax (`kubectl get (svc|services?)\\b` -> `kubectl get svc`)."""
    text = _top_alternative(pattern)
    text = re.sub(r"\(([^()|]*)(\|[^()]*)?\)", r"\1", text)
    for regex, plain in ((r"\\b", ""), (r"\\\.", "."), (r"\.\*", " … "), (r"[\^$]", "")):
        text = re.sub(regex, plain, text)
    text = re.sub(r"(\S)\?", r"\1", text)
    return re.sub(r"\s+", " ", text.replace(" ?", " ")).strip()


def _top_alternative(pattern: str) -> str:
    depth = 0
    for i, char in enumerate(pattern):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            return pattern[:i]
    return pattern


def describe(goal: dict[str, Any], lang: str) -> str:
    """The goal in words (the hint ladder's "show the goal" rung)."""
    kind = GOALS.get(str(goal.get("kind")))
    if kind is None:
        return ""
    if goal.get("kind") == "command_ran":
        goal = goal | {"pattern": readable(str(goal.get("pattern", "")))}
    variant = _variant(goal)
    if variant is not None:
        return _fill(variant["zh" if lang == "zh" else "en"], goal)
    if isinstance(goal.get("describe"), dict):
        return str(goal["describe"].get(lang, ""))
    return kind.describe(goal)["zh" if lang == "zh" else "en"]

"""Compare an engine trace with a kernel trace (CONTRACTS.md "How a trace is compared with
the kernel"), and explain a disagreement so a reader can reproduce it.

The projection is written here from the trace JSON alone, not from engine internals: keep the
`policy` steps and the `rule` steps that matched, drop `return` steps (the kernel does not
report an implicit return), map DNAT/SNAT/MASQUERADE/REDIRECT to ACCEPT and REJECT to DROP
(that is what their targets return to nf_tables), and leave out tables the ruleset does not
declare. Beyond the steps, where the packet ended and with which headers must agree too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .ruleset_text import tables_of

TraceJson = Callable[..., dict]
VERDICT_AS_KERNEL = {"DNAT": "ACCEPT", "SNAT": "ACCEPT", "MASQUERADE": "ACCEPT",
                     "REDIRECT": "ACCEPT", "REJECT": "DROP"}  # fmt: skip
Step = tuple[str, str, "int | None", str, str]


def engine_trace_json() -> TraceJson | None:
    """The engine's `trace_json`, or None while the engine module is not importable."""
    try:
        from app.sim.netfilter.engine import trace_json
    except ImportError:
        return None
    return trace_json


def project(trace: dict[str, Any], tables: set[str]) -> list[Step]:
    """The comparable step list of a trace (engine or kernel)."""
    out: list[Step] = []
    for step in trace["steps"]:
        kind = step["kind"]
        if step["table"] not in tables or kind not in ("rule", "policy"):
            continue
        if kind == "rule" and step.get("matched", True) is False:
            continue
        verdict = VERDICT_AS_KERNEL.get(step["verdict"], step["verdict"])
        rule = step["rule"] if kind == "rule" else None
        out.append((step["table"], step["chain"], rule, kind, verdict))
    return out


def outcome(trace: dict[str, Any], keep_sport: bool) -> dict[str, Any]:
    """Where the packet ended, and its headers when it was delivered or sent out."""
    final = trace["final"]
    result: dict[str, Any] = {"delivered": final.get("delivered")}
    if final.get("delivered") == "out":
        result["out_iface"] = final.get("out_iface")
    packet = final.get("packet") or {}
    if final.get("delivered") in ("local", "out"):
        keys = ("src", "dst", "sport", "dport") if keep_sport else ("src", "dst", "dport")
        result["packet"] = {key: packet.get(key) for key in keys}
    return result


def disagreement(
    ruleset: str, packet: dict, engine: dict, kernel: dict, seed: int | None = None
) -> str | None:
    """None when engine and kernel agree; otherwise a report with everything needed to
    reproduce: ruleset, packet, both projections side by side, both full step lists."""
    tables = set(tables_of(ruleset))
    mine, theirs = project(engine, tables), project(kernel, tables)
    keep_sport = "--random" not in ruleset  # --random(-fully) picks a new source port
    ends = outcome(engine, keep_sport), outcome(kernel, keep_sport)
    if mine == theirs and ends[0] == ends[1]:
        return None
    lines = ["engine and kernel disagree"]
    if seed is not None:
        lines.append(f"generator seed: {seed}")
    lines += ["packet: " + json.dumps(packet), "ruleset:", ruleset.rstrip(), ""]
    lines += side_by_side(mine, theirs)
    lines += ["", f"final  engine: {json.dumps(ends[0])}", f"final  kernel: {json.dumps(ends[1])}"]
    lines += ["", "engine steps (all):", *_full(engine), "kernel steps:", *_full(kernel)]
    return "\n".join(lines)


def side_by_side(mine: list[Step], theirs: list[Step]) -> list[str]:
    """The two projections in columns; `!` marks the rows that differ."""
    width = max([len(_fmt(s)) for s in mine] + [6])
    rows = [f"  {'engine':<{width}}   kernel"]
    for i in range(max(len(mine), len(theirs))):
        left = _fmt(mine[i]) if i < len(mine) else "-"
        right = _fmt(theirs[i]) if i < len(theirs) else "-"
        mark = " " if left == right else "!"
        rows.append(f"{mark} {left:<{width}}   {right}")
    return rows


def _fmt(step: Step) -> str:
    table, chain, rule, kind, verdict = step
    where = f"#{rule}" if rule is not None else kind
    return f"{table}/{chain} {where} {verdict}"


def _full(trace: dict[str, Any]) -> list[str]:
    out = []
    for step in trace["steps"]:
        matched = "" if step.get("matched", True) else " (no match)"
        text = step.get("rule_text") or ""
        out.append(
            f"    {step.get('hook', '?')} {step['table']}/{step['chain']} "
            f"{step['rule'] if step['rule'] is not None else step['kind']} "
            f"{step['verdict']}{matched}  {text}"
        )
    return out

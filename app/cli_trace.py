"""`kube-proxy-lab trace`: one packet through an iptables-save ruleset, as a table or JSON.

    kube-proxy-lab trace --ruleset FILE --packet JSON|@FILE [--json] [--seed N]
                         [--matched-only] [--all-branches] [--lang en|zh]

The JSON is the CONTRACTS.md `trace --json` object (`engine.trace_json`). Bad input prints a
clear message on stderr and exits 2; a ruleset iptables-restore would refuse is reported in
iptables-restore's own words.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.cli import Command, register
from app.sim.netfilter.engine import TraceInputError, trace_json

USAGE_ERROR = 2
LABELS = {
    "en": {
        "head": ("HOOK", "TABLE", "CHAIN", "#", "VERDICT", "RULE"),
        "final": "final",
        "delivered": {"local": "delivered to a local socket", "out": "sent out of {iface}"},
        "dropped": "dropped",
        "conntrack": "conntrack",
        "none": "(no conntrack entry)",
        "branch": "branch",
        "evaluated": "rules evaluated (as the kernel walks them)",
    },
    "zh": {
        "head": ("HOOK", "表 TABLE", "链 CHAIN", "#", "结果 VERDICT", "规则 RULE"),
        "final": "最终",
        "delivered": {"local": "交给本机 socket", "out": "从 {iface} 发出"},
        "dropped": "被丢弃",
        "conntrack": "conntrack",
        "none": "（无 conntrack 条目）",
        "branch": "分支",
        "evaluated": "内核逐条检查的规则数",
    },
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `trace` options (CONTRACTS.md "Set-up and the console script")."""
    parser.add_argument("--ruleset", required=True, metavar="FILE", help="iptables-save text")
    parser.add_argument(
        "--packet", required=True, metavar="JSON|@FILE", help="the packet (CONTRACTS.md keys)"
    )
    parser.add_argument("--json", action="store_true", help="print the trace JSON")
    parser.add_argument("--seed", type=int, default=0, help="seed for -m statistic (default 0)")
    parser.add_argument("--matched-only", action="store_true", help="omit rules that missed")
    parser.add_argument(
        "--all-branches", action="store_true", help="list every statistic branch and its odds"
    )
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="explanations")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `trace` to an argparse sub-parser set (for callers not using the registry)."""
    parser = subparsers.add_parser("trace", help="trace one packet through a ruleset")
    add_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the trace and print it; the exit status."""
    try:
        text = _read(args.ruleset, "ruleset")
        packet = _packet(args.packet)
        result = trace_json(
            text,
            packet,
            seed=args.seed,
            matched_only=args.matched_only,
            all_branches=args.all_branches,
        )
    except TraceInputError as err:
        print(err.message, file=sys.stderr)
        return USAGE_ERROR
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(render_table(result, args.lang))
    return 0


def _read(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise TraceInputError(f"cannot read the {what} file {path}: {err}") from None


def _packet(value: str) -> Any:
    text = _read(value[1:], "packet") if value.startswith("@") else value
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise TraceInputError(f"packet: not valid JSON: {err}") from None


def render_table(result: dict[str, Any], lang: str = "en") -> str:
    """The readable trace: one row per step with its explanation beneath, then the end."""
    labels = LABELS[lang]
    rows = [labels["head"]] + [
        (
            s["hook"],
            s["table"],
            s["chain"],
            "" if s["rule"] is None else str(s["rule"]),
            s["verdict"] if s["matched"] else "-",
            s["rule_text"] or f"({s['kind']})",
        )
        for s in result["steps"]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[5]]).rstrip())
        if n:
            lines.append(" " * (sum(widths) + 10) + "↳ " + result["steps"][n - 1]["explain"][lang])
    lines.append("")
    lines.append(_final_line(result["final"], labels))
    lines.append(f"{labels['evaluated']}: {result['rules_evaluated']}")
    conntrack = result.get("conntrack")
    listing = conntrack.get("listing") if conntrack else None
    lines.append(f"{labels['conntrack']}: {listing or labels['none']}")
    for branch in result.get("branches") or []:
        lines.append(
            f"{labels['branch']} p={branch['probability']:.6f} -> "
            f"{branch['dnat_to'] or '-'} ({branch['verdict']}, {branch['delivered']})"
        )
    return "\n".join(lines)


def _final_line(final: dict[str, Any], labels: dict[str, Any]) -> str:
    packet = final["packet"]
    where = (
        labels["delivered"][final["delivered"]].format(iface=final["out_iface"])
        if final["delivered"]
        else f"{labels['dropped']}" + (f" ({final['reason']})" if final.get("reason") else "")
    )
    return (
        f"{labels['final']}: {final['verdict']}, {where}; "
        f"{packet['src']}:{packet['sport']} -> {packet['dst']}:{packet['dport']}"
    )


COMMAND = register(Command("trace", "trace one packet through a ruleset", add_arguments, run))

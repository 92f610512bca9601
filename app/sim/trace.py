"""Trace and TraceStep: what the engine returns for one packet, and its JSON contract.

`Trace.to_json()` produces exactly the CONTRACTS.md `trace --json` object. Documented keys
keep their names and meaning; the extra keys are:

* step `explain`: `{"zh": ..., "en": ...}`, why the rule did or did not match and what
  happened; step `failed_match`: for a rule that did not match, the arguments of the first
  match that failed (e.g. `["-d", "10.96.0.10/32"]`), else null; step `in_iface` and
  `out_iface`: the devices the hook saw (null before routing or for local packets);
* `chain_visits`: one entry per visit of a chain, in the order visits began:
  `{"hook", "table", "chain", "rules_evaluated", "rules_total"}`. `rules_evaluated` is how
  many rules the kernel walks in that visit (it tests them one by one, up to the rule that
  ended the visit, or all of them when the packet fell off the end) — the cost the UI shows;
* `rules_evaluated`: the sum over all visits;
* `routes`: each routing decision, in order: `{"after": hook or null (the socket's own
  lookup), "dst", "decision": "local"|"out"|"drop", "iface", "gateway", "reason"}` —
  after PREROUTING, or for a local packet before OUTPUT and again when OUTPUT changed the
  destination;
* `final.dropped_by` (`"netfilter"` or `"routing"`) and `final.reason` when not delivered;
* `conntrack.state` (`NEW`, `ESTABLISHED`, ...), `conntrack.snat_port`, and
  `conntrack.listing` (the entry as `conntrack -L` prints it, or null before confirmation);
* `branches` (only when all branches were explored): see engine.explore_branches.

`Trace.kernel_view()` is the projection CONTRACTS.md "How a trace is compared with the
kernel" defines.

On the input side the packet JSON takes a few keys beyond CONTRACTS.md, among them
`pod_iface_ip` (the pod bridge's address, which MASQUERADE picks for hairpin traffic); they
are described in `app/sim/netfilter/packet_input.py`, and all extensions are listed in
docs/contracts-extensions.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.sim.packet import Packet

# Verdicts the kernel reports differently (CONTRACTS.md): NAT targets return NF_ACCEPT,
# REJECT sends its error and returns NF_DROP (ipt_REJECT.c).
KERNEL_VERDICT = {
    "DNAT": "ACCEPT",
    "SNAT": "ACCEPT",
    "MASQUERADE": "ACCEPT",
    "REDIRECT": "ACCEPT",
    "REJECT": "DROP",
}


@dataclass
class TraceStep:
    """One evaluated rule, an applied policy, or an implicit return from a user chain."""

    hook: str
    table: str
    chain: str
    rule: int | None
    kind: str  # "rule", "policy" or "return"
    matched: bool
    verdict: str
    rule_text: str | None
    packet: Packet
    explain: dict[str, str] = field(default_factory=dict)
    failed_match: list[str] | None = None
    in_iface: str | None = None
    out_iface: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "table": self.table,
            "chain": self.chain,
            "rule": self.rule,
            "kind": self.kind,
            "matched": self.matched,
            "verdict": self.verdict,
            "rule_text": self.rule_text,
            "packet": self.packet.headers(),
            "explain": dict(self.explain),
            "failed_match": self.failed_match,
            "in_iface": self.in_iface,
            "out_iface": self.out_iface,
        }


@dataclass
class ChainVisit:
    """One visit of a chain: how many of its rules the kernel evaluated (see module doc)."""

    hook: str
    table: str
    chain: str
    rules_evaluated: int
    rules_total: int

    def to_json(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "table": self.table,
            "chain": self.chain,
            "rules_evaluated": self.rules_evaluated,
            "rules_total": self.rules_total,
        }


@dataclass
class Final:
    """Where the packet ended: `delivered` is "local", "out" or None (dropped/unroutable)."""

    verdict: str
    delivered: str | None
    out_iface: str | None
    packet: Packet
    dropped_by: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        headers = self.packet.headers()
        data: dict[str, Any] = {
            "verdict": self.verdict,
            "delivered": self.delivered,
            "out_iface": self.out_iface,
            "packet": {k: headers[k] for k in ("src", "dst", "sport", "dport")},
        }
        if self.dropped_by:
            data["dropped_by"] = self.dropped_by
            data["reason"] = self.reason
        return data


@dataclass
class Trace:
    """The whole path of one packet (see the module docstring for the JSON)."""

    steps: list[TraceStep] = field(default_factory=list)
    visits: list[ChainVisit] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    final: Final | None = None
    conntrack: dict[str, Any] | None = None
    branches: list[dict[str, Any]] | None = None

    @property
    def rules_evaluated(self) -> int:
        """The rules the kernel evaluates for this packet, over every chain visit."""
        return sum(v.rules_evaluated for v in self.visits)

    def matched_steps(self) -> list[TraceStep]:
        """Policies, implicit returns and matched rules: what `--matched-only` keeps."""
        return [s for s in self.steps if s.matched]

    def to_json(self, *, matched_only: bool = False) -> dict[str, Any]:
        steps = self.matched_steps() if matched_only else self.steps
        data: dict[str, Any] = {
            "steps": [s.to_json() for s in steps],
            "final": self.final.to_json() if self.final else None,
            "conntrack": self.conntrack,
            "chain_visits": [v.to_json() for v in self.visits],
            "rules_evaluated": self.rules_evaluated,
            "routes": [dict(route) for route in self.routes],
        }
        if self.branches is not None:
            data["branches"] = self.branches
        return data

    def kernel_view(self) -> list[tuple[str, str, int | None, str, str]]:
        """(table, chain, rule, kind, verdict) as `xtables-monitor --trace` reports them."""
        return [
            (s.table, s.chain, s.rule, s.kind, KERNEL_VERDICT.get(s.verdict, s.verdict))
            for s in self.steps
            if s.kind == "policy" or (s.kind == "rule" and s.matched)
        ]

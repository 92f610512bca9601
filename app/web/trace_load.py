"""Many requests through one pasted dump: where N connections of the `/trace` packet land.

Each request is a new connection (a fresh conntrack table, so none is mistaken for the
previous one's ESTABLISHED traffic) from the same client on the same node: the node's state,
such as `-m recent` lists behind ClientIP session affinity, carries over from one request to
the next, and one `random.Random(seed)` feeds every `-m statistic` draw in turn, so the same
seed gives the same counts. The expected shares are the probabilities of the trace's
branches (engine.explore_branches).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

from app.sim.conntrack import Conntrack
from app.sim.netfilter.engine import TraceInputError, explore_branches, trace_packet
from app.sim.netfilter.errors import IptablesError
from app.sim.netfilter.packet_input import parse_packet_json
from app.sim.netfilter.parse import parse_restore
from app.sim.netfilter.walk import WalkError
from app.web.i18n import translate
from app.web.metrics import count_traces
from app.web.trace_form import Outcome, check, run

MAX_REQUESTS = 10_000


@dataclass
class Load:
    """The form as checked, and the counts per endpoint ("" when no DNAT chose one)."""

    outcome: Outcome
    count: int = 0
    endpoints: dict[str, int] = field(default_factory=dict)
    expected: dict[str, float] = field(default_factory=dict)


def _count(text: str) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= MAX_REQUESTS else None


def send(fields: dict[str, str], lang: str) -> Load:
    """Check the form like a single trace does, then send `count` requests."""
    count = _count(fields.get("count", "").strip())
    outcome = run(fields, lang)  # the same checks and messages as one trace
    load = Load(outcome, count or 0)
    if count is None:
        limit = f"{MAX_REQUESTS:,}"
        outcome.errors["count"] = translate(lang, "loadchart.error.count", max=limit)
    if outcome.errors:
        return load
    packet, _ = check(fields, lang)
    try:
        _send(load, fields.get("ruleset", ""), packet, int(outcome.values["seed"]))
    except (TraceInputError, IptablesError, WalkError, ValueError) as err:
        outcome.errors["ruleset"] = getattr(err, "message", str(err))
    return load


def _send(load: Load, ruleset_text: str, packet: dict, seed: int) -> None:
    ruleset = parse_restore(ruleset_text)
    request = parse_packet_json(packet)
    node = copy.deepcopy(request.node)
    rng = random.Random(seed)
    where = {"origin": request.origin, "in_iface": request.in_iface}
    for _ in range(load.count):
        # Unrecorded: only where the connection lands counts here, and skipping the steps
        # leaves every decision (draws, counters, `-m recent` lists) as a recorded trace's.
        trace = trace_packet(ruleset, request.packet, node, Conntrack(), rng, record=False, **where)
        key = (trace.conntrack or {}).get("dnat_to") or ""
        load.endpoints[key] = load.endpoints.get(key, 0) + 1
    count_traces("iptables", load.count)
    branches = explore_branches(ruleset, request.packet, request.node, Conntrack(), **where)
    for branch in branches:
        key = branch.dnat_to or ""
        load.expected[key] = load.expected.get(key, 0.0) + float(branch.probability)

"""Turn the kernel's trace events for one probe into a trace dict shaped like the engine's.

Input: the parsed `xtables-monitor --trace` events (monitor.py) of one probe window, ending
with the harness's end-of-trace sentinel. Output:

    {"steps": [{"hook", "table", "chain", "rule", "kind", "verdict", "rule_text", "packet"}],
     "hooks": ["nat:PREROUTING", ...],          # base chains in the order they ran
     "final": {"verdict", "delivered", "out_iface", "packet", "rejected"},
     "trace_ids": [...]}

`rule` is the 1-based position in the chain as loaded (the harness's own TRACE rules are not
counted); `verdict` uses the engine's spelling (`RETURN`, not the raw code).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .monitor import PacketLine, TraceEvent

# The harness's own nf_tables table (harness.py): the sentinel chain ends a trace; the two
# observer chains run after every iptables table (priority 1000 > NF_IP_PRI_NAT_SRC = 100)
# and show where the packet went and with which headers.
HARNESS_TABLE = "kplab_obs"
SENTINEL_CHAIN, DELIVERED_CHAIN, LEAVING_CHAIN = "sentinel", "delivered", "leaving"
PROBE_TAG = "kplab-probe"

IndexOf = Callable[[str, str, int | None, str | None], int | None]


def is_sentinel_end(line: str) -> bool:
    """True for the monitor line that reports the sentinel being dropped."""
    return f"{HARNESS_TABLE}:{SENTINEL_CHAIN}:rule:" in line and ":DROP" in line


def headers(packet: PacketLine | None) -> dict[str, Any]:
    """A PACKET line's headers in the trace JSON's spelling."""
    fields = packet.fields if packet else {}
    port = fields.get("SPORT"), fields.get("DPORT")
    return {
        "src": fields.get("SRC"),
        "dst": fields.get("DST"),
        "sport": int(port[0]) if port[0] else None,
        "dport": int(port[1]) if port[1] else None,
        "mark": fields.get("MARK", "0x0"),
    }


def probe_ids(events: list[TraceEvent], proto: str) -> list[str]:
    """Trace ids of the probe: every id reported before the sentinel's DROP, except the
    sentinel's own. A packet that loops through `lo` (node to itself) is reported under a
    second id, so several ids are normal. A TCP packet that is not a bare SYN is no probe.
    """
    end = next((i for i, e in enumerate(events) if _is_sentinel_drop(e)), len(events))
    ids: list[str] = []
    skip: set[str] = {events[end].trace_id} if end < len(events) else set()
    for event in events[:end]:
        if event.trace_id in ids or event.trace_id in skip:
            continue
        first = event.packet
        if proto == "tcp" and first is not None and first.flags & {"ACK", "RST", "FIN"}:
            skip.add(event.trace_id)
        else:
            ids.append(event.trace_id)
    return ids


def _is_sentinel_drop(event: TraceEvent) -> bool:
    return (event.table, event.chain, event.kind, event.verdict) == (
        HARNESS_TABLE, SENTINEL_CHAIN, "rule", "DROP")  # fmt: skip


def assemble(
    events: list[TraceEvent], proto: str, user_tables: set[str], index_of: IndexOf
) -> dict[str, Any]:
    """Build the trace dict (see the module docstring) from one probe window's events."""
    ids = set(probe_ids(events, proto))
    steps: list[dict[str, Any]] = []
    hooks: list[str] = []
    observed: tuple[str, PacketLine | None] | None = None
    base, packet = "", None
    for event in events:
        if event.trace_id not in ids:
            continue
        if event.packet is not None:  # a PACKET line opens a base-chain evaluation
            base, packet = event.chain, event.packet
            if event.table in user_tables:
                hooks.append(f"{event.table}:{event.chain}")
        if event.table == HARNESS_TABLE:
            if event.kind == "policy" and event.chain in (DELIVERED_CHAIN, LEAVING_CHAIN):
                observed = (event.chain, event.packet)
            continue
        if event.table not in user_tables or PROBE_TAG in (event.rule_text or ""):
            continue  # the raw table the harness created only for its TRACE rule
        rule = None
        if event.kind == "rule":
            rule = index_of(event.table, event.chain, event.handle, event.rule_text)
        steps.append(_step(event, base, rule, packet))
    return {
        "steps": steps,
        "hooks": hooks,
        "final": _final(steps, observed),
        "trace_ids": sorted(ids),
    }


def _step(event: TraceEvent, hook: str, rule: int | None, packet: PacketLine | None) -> dict:
    return {
        "hook": hook,
        "table": event.table,
        "chain": event.chain,
        "rule": rule,
        "kind": event.kind,
        "verdict": event.verdict,
        "rule_text": event.rule_text,
        "packet": headers(packet),
    }


def _final(steps: list[dict], observed: tuple[str, PacketLine | None] | None) -> dict[str, Any]:
    """Where the packet ended. A DROP step ends it (REJECT is reported as DROP: the target
    sends its ICMP/RST and returns NF_DROP, net/ipv4/netfilter/ipt_REJECT.c). Otherwise an
    observer chain saw it go up to a socket (`local`) or out of an interface (`out`); neither
    means routing discarded it (no route, martian), which no netfilter event reports."""
    dropped = next((s for s in steps if s["verdict"] == "DROP"), None)
    if dropped is not None:
        rejected = "-j REJECT" in (dropped["rule_text"] or "")
        return _ended("DROP", None, None, None, rejected)
    if observed is None:
        return _ended("ACCEPT", None, None, None, False)
    chain, packet = observed
    out_iface = (packet.fields.get("OUT") or None) if packet else None
    if chain == DELIVERED_CHAIN:
        return _ended("ACCEPT", "local", None, headers(packet), False)
    return _ended("ACCEPT", "out", out_iface, headers(packet), False)


def _ended(verdict: str, delivered: str | None, out_iface: str | None, packet: dict | None,
           rejected: bool) -> dict[str, Any]:  # fmt: skip
    return {"verdict": verdict, "delivered": delivered, "out_iface": out_iface,
            "packet": packet, "rejected": rejected}  # fmt: skip


def parse_conntrack(line: str) -> dict[str, Any] | None:
    """One `conntrack -L` line -> {"orig", "reply", "dnat_to", "snat_to", "state"}.

    The line holds the original tuple then the reply tuple (conntrack(8)); NAT shows as a
    reply tuple that is not the mirror of the original: a reply source other than the
    original destination is the DNAT target, a reply destination other than the original
    source is the SNAT/MASQUERADE address.
    """
    tokens = line.split()
    tuples: list[dict[str, str]] = [{}]
    for token in tokens:
        key, sep, value = token.partition("=")
        if sep and key in ("src", "dst", "sport", "dport"):
            if key in tuples[-1]:
                tuples.append({})
            tuples[-1][key] = value
    if len(tuples) < 2 or "src" not in tuples[1]:
        return None
    orig, reply = tuples[0], tuples[1]
    state = next((t for t in tokens[3:4] if t.isupper()), None)
    entry: dict[str, Any] = {
        "orig": f"{orig['src']}:{orig.get('sport')} -> {orig['dst']}:{orig.get('dport')}",
        "reply": f"{reply['src']}:{reply.get('sport')} -> {reply['dst']}:{reply.get('dport')}",
        "dnat_to": None,
        "snat_to": None,
        "state": state,
    }
    if (reply["src"], reply.get("sport")) != (orig["dst"], orig.get("dport")):
        entry["dnat_to"] = f"{reply['src']}:{reply.get('sport')}"
    if (reply["dst"], reply.get("dport")) != (orig["src"], orig.get("sport")):
        entry["snat_to"] = reply["dst"]
        entry["snat_port"] = int(reply["dport"]) if reply.get("dport") else None
    return entry

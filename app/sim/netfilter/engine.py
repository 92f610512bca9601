"""The traversal engine: one packet through the hooks, routing, conntrack and NAT of a node.

Public API (stable):

* `trace_json(ruleset_text, packet, *, seed=0, matched_only=False, all_branches=False)`:
  the CONTRACTS.md `trace --json` object for the CONTRACTS.md `--packet` keys. Bad input
  raises `TraceInputError` (a ValueError) whose `message` is fit for the user.
* `trace_packet(ruleset, packet, node, conntrack, rng, ...) -> Trace`: the lower level, with
  state (conntrack, counters, `-m recent` lists) kept by the caller across packets.
* `explore_branches(...)`: every path `-m statistic --mode random` can take, with its
  probability (see `app/sim/netfilter/branches.py`).

The order of events follows kernel-facts §5.3: PREROUTING (raw, conntrack, mangle, nat DST),
the routing decision on the post-DNAT destination, then INPUT or FORWARD + POSTROUTING; a
locally generated packet runs OUTPUT (route chosen by the socket, re-routed when nat OUTPUT
changed the destination) and POSTROUTING, and when it is addressed to the node itself it
comes back in through `lo` (PREROUTING, INPUT).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from ipaddress import ip_address

from app.sim.conntrack import ORIGINAL, Connection, Conntrack
from app.sim.netfilter.branches import Branch, explore, probability_31, summarize
from app.sim.netfilter.context import MatchContext, TargetResult, Verdict
from app.sim.netfilter.errors import IptablesError
from app.sim.netfilter.hooks import NAT_MANIP, PRIORITY, Hook, loads_conntrack, tables_at
from app.sim.netfilter.model import Ruleset
from app.sim.netfilter.packet_input import TraceInputError, parse_packet_json
from app.sim.netfilter.walk import Walker, WalkError
from app.sim.node import LOOPBACK, Node, Route
from app.sim.packet import Packet
from app.sim.trace import Final, Trace

__all__ = [
    "TraceInputError",
    "explore_branches",
    "seeded_chance",
    "trace_json",
    "trace_packet",
]

Chance = Callable[[float], bool]
# A hook function registered beside the tables, as IPVS registers ip_vs_ops (kernel-facts §4):
# called with (hook, packet, trace, conntrack entry); returns None (not its packet: go on),
# a rewritten Packet, or a verdict string ("DROP"/"REJECT") after dropping it itself.
HookFn = Callable[[str, Packet, Trace, "Connection | None"], "Packet | str | None"]
# Where IPVS sits: LOCAL_IN 99 takes the request and re-sends it through LOCAL_OUT (NF_STOLEN);
# LOCAL_OUT -98 rewrites a local process's request and lets it go on (NF_ACCEPT).
IPVS_PRIORITY = {Hook.INPUT: 99, Hook.OUTPUT: -98}


def seeded_chance(rng: random.Random) -> Chance:
    """`ctx.chance` from a seeded generator, as xt_statistic.c draws:
    `(get_random_u32() & 0x7FFFFFFF) < P`."""
    return lambda p: rng.getrandbits(31) < probability_31(p)


def trace_packet(
    ruleset: Ruleset,
    packet: Packet,
    node: Node,
    conntrack: Conntrack | None,
    rng: random.Random,
    *,
    clock: float = 0.0,
    origin: str = "external",
    in_iface: str | None = None,
    chance: Chance | None = None,
    matched_only: bool = False,
    use_index: bool | None = None,
    ipvs: HookFn | None = None,
    record: bool = True,
) -> Trace:
    """Trace one packet. `origin` is "external" (arrives on `in_iface`, default the node's
    uplink) or "local" (sent by a process on the node). `chance` overrides the draws from
    `rng` (explore_branches forces outcomes with it). The chain index is used when only
    matched steps are wanted, unless `use_index` says otherwise. `conntrack` None means the
    node tracks nothing (no NAT happens). `ipvs` is the IPVS director's hook function.
    `record` False builds no steps or visits (only `final`, `conntrack`, `routes`) and takes
    exactly the decisions of a matched-only trace: for bulk requests that only count."""
    matched_only = matched_only or not record
    run = _PacketRun(ruleset, packet, node, conntrack, rng, chance or seeded_chance(rng), clock)
    run.ipvs = ipvs
    index = matched_only if use_index is None else use_index
    run.walker = Walker(run.trace, run.on_nat, matched_only, index, record)
    if origin == "local":
        run.from_local()
    else:
        run.from_outside(in_iface or node.uplink)
    return run.trace


class _PacketRun:
    """The state of one packet on its way through the node."""

    walker: Walker  # set by trace_packet: it needs this run's NAT handler

    def __init__(
        self,
        ruleset: Ruleset,
        packet: Packet,
        node: Node,
        conntrack: Conntrack | None,
        rng: random.Random,
        chance: Chance,
        clock: float,
    ) -> None:
        self.ruleset, self.packet, self.node = ruleset, packet, node
        self.conntrack = conntrack if conntrack is not None and loads_conntrack(ruleset) else None
        self.rng, self.chance, self.clock = rng, chance, clock
        self.trace = Trace()
        self.in_iface: str | None = None
        self.out_iface: str | None = None
        self.next_hop: str | None = None
        self.route: Route | None = None
        self.conn: Connection | None = None
        self.direction = ORIGINAL
        # Before nf_conntrack_in (e.g. in raw) no conntrack is attached: xt_conntrack calls
        # that INVALID. A netns without conntrack keeps it so.
        self.ctstate = "INVALID"
        self.ct_done = False
        self.notrack = False
        self.ipvs: HookFn | None = None
        self.ipvs_seen: set[Hook] = set()

    # -- the paths ---------------------------------------------------------------------
    def from_outside(self, in_iface: str) -> None:
        self.in_iface = in_iface
        if not self.hook(Hook.PREROUTING):
            return
        self.route_and_deliver()

    def route_and_deliver(self) -> None:
        route = self.decide(Hook.PREROUTING, self.in_iface)
        if route.kind == "drop":
            self.finish("DROP", None, dropped_by="routing", reason=route.reason)
        elif route.kind == "local":
            if self.hook(Hook.INPUT):
                self.finish("ACCEPT", "local")
        else:
            self.out_iface, self.next_hop = route.iface, route.gateway or self.packet.dst
            if self.hook(Hook.FORWARD) and self.hook(Hook.POSTROUTING):
                self.finish("ACCEPT", "out")

    def from_local(self) -> None:
        # The socket routed before OUTPUT: `-o` in OUTPUT sees that device even when nat
        # OUTPUT then changes the destination (the hook state is fixed at hook entry).
        self.route = self.decide(None, None)
        self.out_iface = self.route.iface
        if not self.hook(Hook.OUTPUT):
            return
        route = self.route
        self.out_iface, self.next_hop = route.iface, route.gateway or self.packet.dst
        if not self.hook(Hook.POSTROUTING):
            return
        if route.kind != "local":
            self.finish("ACCEPT", "out")
            return
        # Looped back through lo: the skb keeps its conntrack, so no new lookup happens and
        # the nat chains, already bound for this connection, are not traversed again.
        self.in_iface, self.out_iface = "lo", None
        if self.hook(Hook.PREROUTING) and self.hook(Hook.INPUT):
            self.finish("ACCEPT", "local")

    def decide(self, after: Hook | None, in_iface: str | None) -> Route:
        """A routing decision for the packet as it stands, recorded in the trace."""
        route = self.node.route(self.packet.dst, in_iface)
        self.trace.routes.append(
            {
                "after": after.value if after else None,
                "dst": self.packet.dst,
                "decision": route.kind,
                "iface": route.iface,
                "gateway": route.gateway,
                "reason": route.reason,
            }
        )
        return route

    def reroute(self) -> bool:
        """ip_route_me_harder after mangle/nat OUTPUT changed the destination (§5.3).

        A source in 127.0.0.0/8 may only leave through a non-loopback device when that
        device has route_localnet (__mkroute_output returns -EINVAL): the packet is lost.
        """
        route = self.decide(Hook.OUTPUT, None)
        if (
            ip_address(self.packet.src) in LOOPBACK
            and route.iface != "lo"
            and not self.node.route_localnet(route.iface)
        ):
            reason = (
                f"source {self.packet.src} cannot leave through {route.iface} (route_localnet=0)"
            )
            self.finish("DROP", None, dropped_by="routing", reason=reason)
            return False
        self.route = route
        return True

    # -- one hook ----------------------------------------------------------------------
    def hook(self, hook: Hook) -> bool:
        """Run every table registered at `hook`; False when the packet was dropped."""
        for table, priority in tables_at(hook, self.ruleset):
            if priority > IPVS_PRIORITY.get(hook, priority) and self.ipvs_hook(hook):
                return False
            if priority > PRIORITY["conntrack"]:
                self.conntrack_in(hook)
            before = self.packet.dst
            verdict = self.nat_table(hook) if table == "nat" else self.table(table, hook)
            if verdict != "ACCEPT":
                self.finish(verdict, None, dropped_by="netfilter")
                return False
            if hook is Hook.OUTPUT and self.packet.dst != before and not self.reroute():
                return False
        self.conntrack_in(hook)
        # A hook function later than every table runs after them (e.g. IPVS when nat INPUT
        # is absent from the ruleset).
        return not (hook in IPVS_PRIORITY and self.ipvs_hook(hook))

    def ipvs_hook(self, hook: Hook) -> bool:
        """Run the IPVS hook function once per hook; True when the packet left this path.
        At INPUT a rewritten packet is sent through OUTPUT and POSTROUTING from here
        (ip_vs_nat_xmit, NF_STOLEN); at OUTPUT it goes on through the rest of the hook,
        re-routed to its new destination (NF_ACCEPT)."""
        if self.ipvs is None or hook in self.ipvs_seen:
            return False
        self.ipvs_seen.add(hook)
        result = self.ipvs(hook.value, self.packet, self.trace, self.conn)
        if result is None:
            return False
        if isinstance(result, str):
            self.finish(result, None, dropped_by="ipvs")
            return True
        self.packet = result
        if hook is Hook.OUTPUT:
            return not self.reroute()  # continues with the tables after -98
        self.in_iface = None
        self.ipvs_seen.add(Hook.OUTPUT)  # skb->ipvs_property: IPVS lets its own packet pass
        route = self.decide(Hook.OUTPUT, None)
        self.out_iface, self.next_hop = route.iface, route.gateway or self.packet.dst
        if self.hook(Hook.OUTPUT) and self.hook(Hook.POSTROUTING):
            self.finish("ACCEPT", "out")
        return True

    def conntrack_in(self, hook: Hook) -> None:
        """nf_conntrack_in at priority -200 of PREROUTING/OUTPUT (once per packet)."""
        if self.ct_done or hook not in (Hook.PREROUTING, Hook.OUTPUT):
            return
        self.ct_done = True
        if self.notrack:
            self.ctstate = "UNTRACKED"
            return
        if self.conntrack is None:
            return
        found = self.conntrack.lookup(self.packet, self.clock)
        self.conn, self.direction, self.ctstate = found.conn, found.direction, found.ctstate
        if self.conn is not None:
            self.conntrack.update(self.conn, self.direction, self.packet, self.clock)

    def context(self, table: str, hook: Hook) -> MatchContext:
        conn = self.conn
        return MatchContext(
            packet=self.packet,
            hook=hook.value,
            table=table,
            # POSTROUTING keeps the input device of a forwarded packet: ip_output passes
            # skb->dev as indev (the kernel's trace shows IN=eth0 there); None when local.
            in_iface=self.in_iface,
            out_iface=self.out_iface,
            addrtype=self.node.addrtype,
            chance=self.chance,
            ctstate=self.ctstate,
            ctstatus=conn.ctstatus() if conn else frozenset(),
            ctmark=conn.mark if conn else 0,
            clock=self.clock,
            recent=self.node.recent,
            ipsets=self.node.ipsets,
            rule_state=self.node.rule_state,
        )

    def table(self, table: str, hook: Hook) -> str:
        ctx = self.context(table, hook)
        verdict = self.walker.run(self.ruleset.tables[table], hook.value, ctx)
        self.packet = ctx.packet
        if self.conn is not None:
            self.conn.mark = ctx.ctmark
        if ctx.notrack and table == "raw":
            self.notrack = True
        return verdict

    def nat_table(self, hook: Hook) -> str:
        """nf_nat_inet_fn: walk nat only for a connection's first binding of this manip."""
        conn, manip = self.conn, NAT_MANIP[hook]
        if conn is None or self.conntrack is None:
            return "ACCEPT"  # untracked or invalid: no NAT at all
        bound = conn.dst_bound if manip == "DST" else conn.src_bound
        if bound:
            self.packet = Conntrack.translate(conn, self.direction, self.packet, manip)
            return "ACCEPT"
        verdict = self.table("nat", hook)
        if verdict == "ACCEPT" and not (conn.dst_bound if manip == "DST" else conn.src_bound):
            self.conntrack.bind(conn, manip, None, None)  # the null binding
        return verdict

    def on_nat(self, result: TargetResult, ctx: MatchContext) -> Packet | None:
        """Bind a NAT target's translation to the connection; the rewritten packet."""
        nat, packet = result.nat, ctx.packet
        if self.conn is None or self.conntrack is None:
            return packet  # nat chains only run for tracked packets; nothing to bind to
        ip = nat.min_ip if nat else None
        port = nat.min_port if nat else None
        manip = "DST" if result.verdict in (Verdict.DNAT, Verdict.REDIRECT) else "SRC"
        if result.verdict is Verdict.REDIRECT:
            ip = self.redirect_address()
        elif result.verdict is Verdict.MASQUERADE:
            ip = self.node.masquerade_address(self.out_iface or "", self.next_hop or packet.dst)
        if ip is None and result.verdict in (Verdict.REDIRECT, Verdict.MASQUERADE):
            return None  # no address to use: the kernel drops (kernel-facts §5.8)
        # A range picks its first address here; the kernel hashes the tuple over the range
        # (nf_nat_core.c find_best_ips_proto), which no trace can reproduce exactly.
        randomized = nat is not None and (nat.random or nat.random_fully) and manip == "SRC"
        offset = self.rng.getrandbits(16) if randomized else None
        self.conntrack.bind(self.conn, manip, ip, port, port_offset=offset)
        return Conntrack.translate(self.conn, ORIGINAL, packet, manip)

    def redirect_address(self) -> str | None:
        """REDIRECT sends to the incoming interface's primary address, or to 127.0.0.1
        for locally generated packets (ipt_REDIRECT / nf_nat_redirect_ipv4)."""
        if self.in_iface is None:
            return "127.0.0.1"
        addresses = self.node.addresses.get(self.in_iface, [])
        return str(addresses[0].ip) if addresses else None

    # -- the end -----------------------------------------------------------------------
    def finish(
        self,
        verdict: str,
        delivered: str | None,
        *,
        dropped_by: str | None = None,
        reason: str | None = None,
    ) -> None:
        conn = self.conn
        if delivered and conn is not None and self.conntrack is not None:
            self.conntrack.confirm(conn, self.clock)  # confirm hook, INT_MAX
        out = self.out_iface if delivered == "out" else None
        self.trace.final = Final(verdict, delivered, out, self.packet, dropped_by, reason)
        if conn is not None and "CONFIRMED" in conn.status:
            self.trace.conntrack = conn.to_json(self.ctstate, self.clock)


def explore_branches(
    ruleset: Ruleset,
    packet: Packet,
    node: Node,
    conntrack: Conntrack | None,
    *,
    clock: float = 0.0,
    origin: str = "external",
    in_iface: str | None = None,
    matched_only: bool = False,
) -> list[Branch]:
    """Every path the packet can take through `-m statistic --mode random` rules, each with
    its probability (they sum to 1). Each path runs on its own copy of the node and the
    conntrack table, and the rule counters it bumped are taken back afterwards, so the
    caller's state is left as it was (and a big ruleset is not copied per path)."""

    def run(chance: Chance) -> Trace:
        here, table = copy.deepcopy((node, conntrack))
        trace = trace_packet(
            ruleset,
            packet,
            here,
            table,
            random.Random(0),
            clock=clock,
            origin=origin,
            in_iface=in_iface,
            chance=chance,
            matched_only=matched_only,
        )
        _take_back_counters(ruleset, trace)
        return trace

    return explore(run)


def _take_back_counters(ruleset: Ruleset, trace: Trace) -> None:
    """Undo what a trace added to the counters: one packet per matched rule and policy."""
    for step in trace.steps:
        chain = ruleset.tables[step.table].chains[step.chain]
        if step.kind == "policy":
            chain.packets -= 1
            chain.bytes -= step.packet.length
        elif step.kind == "rule" and step.matched and step.rule is not None:
            rule = chain.rules[step.rule - 1]
            rule.packets -= 1
            rule.bytes -= step.packet.length


def trace_json(
    ruleset_text: str,
    packet: dict,
    *,
    seed: int = 0,
    matched_only: bool = False,
    all_branches: bool = False,
) -> dict:
    """The CONTRACTS.md `trace --json` object for one first packet on a fresh node.

    Raises TraceInputError for a packet JSON that breaks CONTRACTS.md `--packet`, and for a
    ruleset iptables-restore would refuse (the message is iptables-restore's own text).
    """
    from app.sim.netfilter.parse import parse_restore  # the rule layer, imported on use

    request = parse_packet_json(packet)
    try:
        ruleset = parse_restore(ruleset_text)
    except (IptablesError, ValueError) as err:
        raise TraceInputError(_iptables_text(err)) from None
    args = (ruleset, request.packet, request.node, Conntrack())
    kwargs = {"origin": request.origin, "in_iface": request.in_iface}
    try:
        branches = explore_branches(*args, **kwargs) if all_branches else None
        trace = trace_packet(*args, random.Random(seed), matched_only=matched_only, **kwargs)
    except WalkError as err:
        raise TraceInputError(str(err)) from None
    data = trace.to_json(matched_only=matched_only)
    if branches is not None:
        data["branches"] = summarize(branches)
    return data


def _iptables_text(err: Exception) -> str:
    text = getattr(err, "text", None)
    if callable(text):
        return str(text("iptables-restore")).rstrip("\n")
    return str(err)

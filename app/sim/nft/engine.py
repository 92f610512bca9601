"""The nftables packet engine: one packet through the hooks, routing, conntrack and NAT.

Public API:
* `trace_packet(ruleset, packet, node, conntrack, rng, ...) -> Trace` — the same `Trace` (and
  so the same CONTRACTS.md trace JSON) as the iptables engine, with nft's rule text and the
  extra step keys `handle` and `lookup` (see walk.py);
* `explore_branches(...)` — every path `numgen random mod N` can take, each 1/N per draw;
* `trace_json(ruleset_text, packet, *, seed, matched_only, all_branches)` for a ruleset in
  knftables `add ...` lines or nft's block syntax, and a CONTRACTS.md `--packet`.

Each hook runs the base chains registered on it, of every table, in priority order
(nf_hook_entries are sorted by priority); conntrack runs at -200 (NF_IP_PRI_CONNTRACK), so
chains at a higher number see `ct state`. A `type nat` chain runs only for a connection's
first packet, once per manip (nf_nat_inet_fn); its end without NAT is the null binding.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from app.sim.conntrack import ORIGINAL, Connection, Conntrack
from app.sim.netfilter.packet_input import TraceInputError, parse_packet_json
from app.sim.nft.model import NftChain, NftError, Ruleset, Table
from app.sim.nft.walk import ChainWalker, WalkError
from app.sim.node import Node, Route
from app.sim.packet import Packet
from app.sim.trace import Final, Trace

CONNTRACK_PRIORITY = -200
_DST_HOOKS = ("prerouting", "output")  # nat chains there choose the destination
MAX_BRANCHES = 4096


def base_chains(ruleset: Ruleset, hook: str) -> list[tuple[Table, NftChain]]:
    """The base chains at `hook`, in the order the kernel runs them."""
    found = [(table, chain) for table in ruleset.tables.values() for chain in _bases(table)]
    return sorted((item for item in found if item[1].hook == hook), key=lambda i: i[1].priority)


def _bases(table: Table) -> list[NftChain]:
    """A table's base chains, remembered on the table until a chain is added (a new handle)
    or deleted: a kube-proxy table has tens of thousands of regular chains."""
    stamp = (table.next_handle, len(table.chains))
    cached = table.base_cache
    if cached is None or cached[0] != stamp:
        cached = (stamp, [c for c in table.chains.values() if c.is_base])
        table.base_cache = cached
    return cached[1]


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
    numgen: Callable[[int], int] | None = None,
    matched_only: bool = False,
) -> Trace:
    """Trace one packet (`origin` "external" arrives on `in_iface`, "local" is sent by a
    process on the node). `numgen` overrides the seeded draws (explore_branches)."""
    run = _Run(ruleset, packet, node, conntrack, rng, clock, matched_only)
    run.numgen = numgen or (lambda n: rng.randrange(n))
    if origin == "local":
        run.from_local()
    else:
        run.from_outside(in_iface or node.uplink)
    return run.trace


class _Run:
    """The state of one packet on its way through the node."""

    def __init__(
        self,
        ruleset: Ruleset,
        packet: Packet,
        node: Node,
        conntrack: Conntrack | None,
        rng: random.Random,
        clock: float,
        matched_only: bool,
    ) -> None:
        self.ruleset, self.packet, self.node = ruleset, packet, node
        self.conntrack, self.rng, self.clock = conntrack, rng, clock
        self.matched_only = matched_only
        self.numgen: Callable[[int], int] = lambda n: 0
        self.trace = Trace()
        self.in_iface: str | None = None
        self.out_iface: str | None = None
        self.next_hop: str | None = None
        self.conn: Connection | None = None
        self.direction = ORIGINAL
        self.ctstate = "INVALID"
        self.ct_done = False

    # -- the paths ---------------------------------------------------------------------
    def from_outside(self, in_iface: str) -> None:
        self.in_iface = in_iface
        if not self.hook("prerouting"):
            return
        route = self.decide("PREROUTING", in_iface)
        if route.kind == "drop":
            self.finish("DROP", None, dropped_by="routing", reason=route.reason)
        elif route.kind == "local":
            if self.hook("input"):
                self.finish("ACCEPT", "local")
        else:
            self.out_iface, self.next_hop = route.iface, route.gateway or self.packet.dst
            if self.hook("forward") and self.hook("postrouting"):
                self.finish("ACCEPT", "out")

    def from_local(self) -> None:
        route = self.decide(None, None)
        self.out_iface = route.iface
        before = self.packet.dst
        if not self.hook("output"):
            return
        if self.packet.dst != before:
            route = self.decide("OUTPUT", None)  # ip_route_me_harder after nat output
        if route.kind == "drop":
            self.finish("DROP", None, dropped_by="routing", reason=route.reason)
            return
        self.out_iface, self.next_hop = route.iface, route.gateway or self.packet.dst
        if not self.hook("postrouting"):
            return
        if route.kind != "local":
            self.finish("ACCEPT", "out")
            return
        # Looped back through lo: the conntrack entry is kept, nat chains do not run again.
        self.in_iface, self.out_iface = "lo", None
        if self.hook("prerouting") and self.hook("input"):
            self.finish("ACCEPT", "local")

    def decide(self, after: str | None, in_iface: str | None) -> Route:
        route = self.node.route(self.packet.dst, in_iface)
        self.trace.routes.append(
            {
                "after": after,
                "dst": self.packet.dst,
                "decision": route.kind,
                "iface": route.iface,
                "gateway": route.gateway,
                "reason": route.reason,
            }
        )
        return route

    # -- one hook ----------------------------------------------------------------------
    def hook(self, hook: str) -> bool:
        for table, chain in base_chains(self.ruleset, hook):
            if chain.priority > CONNTRACK_PRIORITY:
                self.conntrack_in(hook)
            if chain.type == "nat":
                verdict = self.nat_chain(table, chain, hook)
            else:
                verdict = self.walk(table, chain, hook)
            if verdict != "ACCEPT":
                self.finish(verdict, None, dropped_by="netfilter")
                return False
        self.conntrack_in(hook)
        return True

    def conntrack_in(self, hook: str) -> None:
        if self.ct_done or hook not in _DST_HOOKS or self.conntrack is None:
            return
        self.ct_done = True
        found = self.conntrack.lookup(self.packet, self.clock)
        self.conn, self.direction, self.ctstate = found.conn, found.direction, found.ctstate
        if self.conn is not None:
            self.conntrack.update(self.conn, self.direction, self.packet, self.clock)

    def walk(self, table: Table, chain: NftChain, hook: str) -> str:
        walker = ChainWalker(
            table,
            self.trace,
            hook.upper(),
            self.packet,
            ctstate=self.ctstate,
            clock=self.clock,
            fib_type=self.fib_type,
            numgen=self.numgen,
            on_nat=self.on_nat,
            matched_only=self.matched_only,
            ifaces=(self.in_iface, self.out_iface),
        )
        verdict = walker.run(chain)
        self.packet = walker.packet
        return verdict

    def nat_chain(self, table: Table, chain: NftChain, hook: str) -> str:
        conn, manip = self.conn, "DST" if hook in _DST_HOOKS else "SRC"
        if conn is None or self.conntrack is None:
            return "ACCEPT"
        if conn.dst_bound if manip == "DST" else conn.src_bound:
            self.packet = Conntrack.translate(conn, self.direction, self.packet, manip)
            return "ACCEPT"
        verdict = self.walk(table, chain, hook)
        if verdict == "ACCEPT" and not (conn.dst_bound if manip == "DST" else conn.src_bound):
            self.conntrack.bind(conn, manip, None, None)  # the null binding
        return verdict

    def on_nat(self, verb: str, ip: str | None, port: int | None, packet: Packet) -> Packet | None:
        if self.conn is None or self.conntrack is None:
            return None
        manip = "DST" if verb == "DNAT" else "SRC"
        offset = None
        if verb == "MASQUERADE":
            ip = self.node.masquerade_address(self.out_iface or "", self.next_hop or "")
            if ip is None:
                return None
            offset = self.rng.getrandbits(16)  # fully-random: a random source port
        self.conntrack.bind(self.conn, manip, ip, port, port_offset=offset)
        return Conntrack.translate(self.conn, ORIGINAL, packet, manip)

    def fib_type(self, address: str) -> str:
        """`fib ... type` (nft(8), FIB EXPRESSIONS): the route type of an address."""
        return self.node.addrtype(address).value.lower()

    def finish(self, verdict: str, delivered: str | None, **why: Any) -> None:
        conn = self.conn
        if delivered and conn is not None and self.conntrack is not None:
            self.conntrack.confirm(conn, self.clock)
        out = self.out_iface if delivered == "out" else None
        self.trace.final = Final(verdict, delivered, out, self.packet, **why)
        if conn is not None and "CONFIRMED" in conn.status:
            self.trace.conntrack = conn.to_json(self.ctstate, self.clock)


@dataclass
class Branch:
    """One path through the `numgen` draws: the choices, its probability and its trace."""

    draws: tuple[int, ...]
    probability: Fraction
    trace: Trace

    @property
    def dnat_to(self) -> str | None:
        return self.trace.conntrack.get("dnat_to") if self.trace.conntrack else None


def explore_branches(
    ruleset: Ruleset,
    packet: Packet,
    node: Node,
    conntrack: Conntrack | None,
    **kwargs: Any,
) -> list[Branch]:
    """Every path the packet can take, each draw of `numgen random mod N` giving 1/N to
    each value. Each path runs on copies of the node, the conntrack table and the sets."""
    branches: list[Branch] = []
    pending: list[tuple[int, ...]] = [()]
    while pending and len(branches) < MAX_BRANCHES:
        forced = pending.pop()
        made: list[tuple[int, int]] = []

        def draw(n: int, forced: tuple[int, ...] = forced, made: list = made) -> int:
            choice = forced[len(made)] if len(made) < len(forced) else 0
            made.append((n, choice))
            return choice

        here = copy.deepcopy((ruleset, node, conntrack))
        trace = trace_packet(
            *here[:1], packet, here[1], here[2], random.Random(0), numgen=draw, **kwargs
        )
        for i in range(len(forced), len(made)):
            for other in range(made[i][0] - 1, 0, -1):
                pending.append((*(c for _, c in made[:i]), other))
        probability = Fraction(1)
        for n, _ in made:
            probability /= n
        branches.append(Branch(tuple(c for _, c in made), probability, trace))
    return sorted(branches, key=lambda b: b.draws)


def summarize(branches: list[Branch]) -> list[dict[str, Any]]:
    """The trace JSON's `branches`: one object per path (as the iptables engine's)."""
    return [
        {
            "probability": float(b.probability),
            "draws": list(b.draws),
            "dnat_to": b.dnat_to,
            "verdict": b.trace.final.verdict if b.trace.final else None,
            "delivered": b.trace.final.delivered if b.trace.final else None,
            "path": [f"{v.hook}/{v.table}/{v.chain}" for v in b.trace.visits],
        }
        for b in branches
    ]


_NFT_VERDICTS = {"DNAT": "accept", "MASQUERADE": "accept", "REJECT": "drop"}


def kernel_view(trace: Trace) -> list[tuple[str, int | None, str, str]]:
    """(chain, rule position, kind, verdict) as `nft monitor trace` reports them: matched
    rules and policies; NAT statements accept and `reject` drops (nft_reject sets NF_DROP);
    the end of a regular chain is not reported."""
    view = []
    for step in trace.steps:
        if step.kind == "policy":
            view.append((step.chain, None, "policy", step.verdict.lower()))
        elif step.kind == "rule" and step.matched:
            word, _, target = step.verdict.partition(":")
            verdict = f"{word.lower()} {target}" if target else word.lower()
            view.append((step.chain, step.rule, "rule", _NFT_VERDICTS.get(word, verdict)))
    return view


def trace_json(
    ruleset_text: str,
    packet: dict,
    *,
    seed: int = 0,
    matched_only: bool = False,
    all_branches: bool = False,
) -> dict:
    """The CONTRACTS.md trace JSON for one first packet on a fresh node, over an nftables
    ruleset. Raises TraceInputError (message fit for the user) for bad input."""
    from app.sim.nft.parse import parse_ruleset  # the text layer, imported on use

    request = parse_packet_json(packet)
    try:
        ruleset = parse_ruleset(ruleset_text)
    except NftError as err:
        raise TraceInputError(str(err)) from None
    args = (ruleset, request.packet, request.node, Conntrack())
    kwargs = {"origin": request.origin, "in_iface": request.in_iface}
    try:
        branches = explore_branches(*args, **kwargs) if all_branches else None
        trace = trace_packet(*args, random.Random(seed), matched_only=matched_only, **kwargs)
    except (WalkError, NftError) as err:
        raise TraceInputError(str(err)) from None
    data = trace.to_json(matched_only=matched_only)
    if branches is not None:
        data["branches"] = summarize(branches)
    return data

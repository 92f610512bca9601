"""The upstream nftables packet tracer's semantics (corpus README §4.2), over the model.

kube-proxy's nftables unit tests do not run a kernel: their tracer walks the base chains a
packet from outside meets — filter prerouting (the firewall), nat prerouting, then, with the
destination DNAT picked, filter input (local destination) or forward — following every
branch of `numgen ... vmap` and collecting each DNAT target in rule order. `ct state new`
matches (every traced packet is a first packet); "local" means the tracer's node IPs.
`trace_flow` returns the upstream `output` string and whether the packet was marked for
masquerade on any path.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.sim.nft.exprs import matches, vmap_verdict
from app.sim.nft.model import NftChain, Stmt, Table

MARK_MASQ_CHAIN = "mark-for-masquerade"
_TERMINAL = ("ACCEPT", "DROP", "REJECT")


@dataclass(frozen=True)
class FlowResult:
    output: str
    masq: bool


@dataclass
class _FlowEnv:
    src: str
    dst: str
    proto: str
    sport: int
    dport: int
    local_ips: frozenset[str]
    mark: int = 0
    ctstate: str = "new"
    now: float = 0.0

    def fib_type(self, address: str) -> str:
        return "local" if address in self.local_ips else "unicast"

    def numgen(self, modulus: int) -> int:  # every branch is followed instead
        return 0


class _Tracer:
    def __init__(self, table: Table, env: _FlowEnv) -> None:
        self.table, self.env = table, env
        self.outputs: list[str] = []
        self.masq = False

    def base(self, kind: str, hook: str) -> str | None:
        chains = [c for c in self.table.chains.values() if c.hook == hook and c.type == kind]
        for chain in sorted(chains, key=lambda c: c.priority):
            verdict = self.run(chain)
            if verdict in ("DROP", "REJECT"):
                return verdict
        return None

    def run(self, chain: NftChain) -> str | None:
        if chain.name == MARK_MASQ_CHAIN:
            self.masq = True
        for rule in chain.rules:
            verdict = self.rule(rule.stmts)
            if verdict == "NEXT":
                continue
            if verdict is not None:
                return verdict if verdict != "RETURN" else None
        return None

    def rule(self, stmts: tuple[Stmt, ...]) -> str | None:
        """The rule's verdict; "NEXT" when it did not match or only continued."""
        for stmt in stmts:
            if stmt.op == "match" and not matches(stmt, self.env, self.table):
                return "NEXT"
            if stmt.op == "vmap":
                outcome = self.vmap(stmt)
                if outcome != "NEXT":
                    return outcome
                return "NEXT"
            if stmt.op == "verdict":
                return self.verdict(stmt.verdict)
            if stmt.op == "dnat":
                address, port = stmt.value
                where = f"[{address}]" if ":" in address else address
                self.outputs.append(f"{where}:{port}" if port else where)
                return "ACCEPT"
            if stmt.op == "masquerade":
                return "ACCEPT"
        return "NEXT"

    def vmap(self, stmt: Stmt) -> str | None:
        if stmt.mapping and stmt.key[0].startswith("numgen"):
            results = [self.verdict(verdict) for _, verdict in stmt.mapping]
            return next((r for r in results if r in ("DROP", "REJECT")), "ACCEPT")
        verdict = vmap_verdict(stmt, self.env, self.table)
        return "NEXT" if verdict is None else self.verdict(verdict)

    def verdict(self, verdict: str) -> str | None:
        word, _, target = verdict.partition(" ")
        if word in ("jump", "goto"):
            outcome = self.run(self.table.chain(target))
            if word == "goto" or outcome in _TERMINAL:
                return outcome if outcome is not None else ("RETURN" if word == "goto" else None)
            return "NEXT"
        return {"return": "RETURN", "continue": "NEXT"}.get(word, word.upper())


def trace_flow(
    table: Table, *, src: str, dst: str, proto: str, dport: int, local_ips: list[str]
) -> FlowResult:
    """One upstream-style flow (see the module docstring)."""
    env = _FlowEnv(src, dst, proto, 40000, dport, frozenset(local_ips))
    tracer = _Tracer(table, env)
    verdict = tracer.base("filter", "prerouting")
    if verdict:
        return FlowResult(verdict, tracer.masq)
    tracer.base("nat", "prerouting")
    if tracer.outputs:
        first = tracer.outputs[0]
        env.dst = first[1:].split("]")[0] if first.startswith("[") else first.split(":")[0]
    verdict = tracer.base("filter", "input" if env.dst in env.local_ips else "forward")
    if verdict:
        return FlowResult(verdict, tracer.masq)
    return FlowResult(", ".join(tracer.outputs), tracer.masq)

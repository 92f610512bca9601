"""Walking one base chain of an nftables table: rules, verdicts, jumps and lookups -> steps.

Follows nft_do_chain (net/netfilter/nf_tables_core.c): the statements of a rule run left to
right and the first that does not match ends the rule (NFT_BREAK); a verdict map whose key is
absent also breaks. `jump` pushes a return point, `goto` does not; `return` or the end of a
chain pops one, and with nothing left the base chain's policy applies. NAT statements
(`dnat`, `masquerade`) end the chain with accept, `reject` with drop.

Steps use the CONTRACTS.md shape; `rule` is the 1-based position in the chain (what
`nft -a list` shows as a handle is in the step's `handle`), and a rule that looked something up
says so in `lookup`: `{"kind": "vmap"|"numgen"|"set", "name", "key", "result"}`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.sim.nft.exprs import key_of, matches, set_lookup
from app.sim.nft.model import Element, NftChain, Rule, Stmt, Table
from app.sim.nft.syntax import list_rule, list_stmt
from app.sim.packet import Packet
from app.sim.trace import ChainVisit, Trace, TraceStep

# (verdict word, address, port, packet) -> the rewritten packet, None when NAT is impossible
NatHandler = Callable[[str, str | None, int | None, Packet], Packet | None]
_TERMINAL = {"accept": "ACCEPT", "drop": "DROP", "reject": "REJECT"}


class WalkError(ValueError):
    """A ruleset the kernel would not run (e.g. a jump to a missing chain)."""


@dataclass
class NftStep(TraceStep):
    """A trace step with nft's own details: the rule `handle` and the `lookup` it made."""

    handle: int | None = None
    lookup: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["handle"] = self.handle
        data["lookup"] = dict(self.lookup) if self.lookup else None
        return data


@dataclass
class _Frame:
    chain: NftChain
    cursor: int
    visit: ChainVisit


class Env:
    """What the expressions read, taken from the walker's current packet."""

    def __init__(self, walker: ChainWalker) -> None:
        self._walker = walker

    @property
    def _packet(self) -> Packet:
        return self._walker.packet

    src = property(lambda self: self._packet.src)
    dst = property(lambda self: self._packet.dst)
    proto = property(lambda self: self._packet.proto)
    sport = property(lambda self: self._packet.sport)
    dport = property(lambda self: self._packet.dport)
    mark = property(lambda self: self._packet.mark)
    ctstate = property(lambda self: self._walker.ctstate)
    now = property(lambda self: self._walker.clock)

    def fib_type(self, address: str) -> str:
        return self._walker.fib_type(address)

    def numgen(self, modulus: int) -> int:
        return self._walker.numgen(modulus)


class ChainWalker:
    """Runs the base chains of one hook for one packet, appending steps to `trace`."""

    def __init__(
        self,
        table: Table,
        trace: Trace,
        hook: str,
        packet: Packet,
        *,
        ctstate: str,
        clock: float,
        fib_type: Callable[[str], str],
        numgen: Callable[[int], int],
        on_nat: NatHandler,
        matched_only: bool = False,
        ifaces: tuple[str | None, str | None] = (None, None),
    ) -> None:
        self.table, self.trace, self.hook, self.packet = table, trace, hook, packet
        self.ctstate, self.clock, self.fib_type, self.numgen = ctstate, clock, fib_type, numgen
        self.on_nat, self.matched_only, self.ifaces = on_nat, matched_only, ifaces
        self.env = Env(self)
        self.lookup: dict[str, Any] | None = None
        self.base: NftChain = NftChain("")

    def run(self, base: NftChain) -> str:
        """Traverse `base`; ACCEPT (incl. NAT), DROP or REJECT."""
        self.base = base
        frames = [self._enter(base)]
        while frames:
            frame = frames[-1]
            if frame.cursor >= len(frame.chain.rules):
                frames.pop()
                if not frames:
                    break
                self._step(frame.chain.name, None, "return", "RETURN", None, True)
                continue
            position = frame.cursor
            frame.cursor += 1
            frame.visit.rules_evaluated = position + 1
            verdict = self._rule(frame.chain, position)
            if verdict is None or verdict == "CONTINUE":
                continue
            if verdict in ("ACCEPT", "DROP", "REJECT", "DNAT", "MASQUERADE"):
                return "ACCEPT" if verdict in ("DNAT", "MASQUERADE") else verdict
            word, _, target = verdict.partition(":")
            if word == "RETURN":
                frames.pop()
                if not frames:
                    break
            elif word in ("JUMP", "GOTO"):
                if word == "GOTO":
                    frames.pop()
                frames.append(self._enter(self._chain(target)))
        self._step(base.name, None, "policy", base.policy.upper(), None, True)
        return base.policy.upper()

    def _chain(self, name: str) -> NftChain:
        chain = self.table.chains.get(name)
        if chain is None:
            raise WalkError(f"Error: No such file or directory; chain {name}")
        return chain

    def _enter(self, chain: NftChain) -> _Frame:
        visit = ChainVisit(self.hook, self.table.name, chain.name, 0, len(chain.rules))
        self.trace.visits.append(visit)
        return _Frame(chain, 0, visit)

    def _rule(self, chain: NftChain, position: int) -> str | None:
        """Run one rule; its verdict when it matched, None when it broke off."""
        rule = chain.rules[position]
        self.lookup = None
        verdict = "CONTINUE"
        for stmt in rule.stmts:
            outcome = self._stmt(stmt)
            if outcome is False:
                if not self.matched_only:
                    self._step(chain.name, position, "rule", "CONTINUE", rule, False, stmt)
                return None
            if isinstance(outcome, str):
                verdict = outcome
                break
        if rule.counts:
            rule.packets += 1
            rule.bytes += self.packet.length
        self._step(chain.name, position, "rule", verdict, rule, True)
        return verdict

    def _stmt(self, stmt: Stmt) -> bool | str:
        """True: go on with the rule; False: the rule broke off; str: its verdict."""
        if stmt.op == "match":
            if stmt.ref:
                self.lookup = {"kind": "set", "name": stmt.ref, "key": self._key(stmt)}
            return matches(stmt, self.env, self.table)
        if stmt.op == "vmap":
            return self._vmap(stmt)
        if stmt.op == "verdict":
            return _verdict(stmt.verdict)
        if stmt.op == "mark":
            self.packet = self.packet.with_(mark=_mark(stmt, self.packet.mark))
            return True
        if stmt.op == "update":
            self._update(stmt)
            return True
        if stmt.op in ("dnat", "masquerade"):
            return self._nat(stmt)
        return True  # counter

    def _key(self, stmt: Stmt) -> str | None:
        key = key_of(stmt, self.env)
        return " . ".join(key) if key is not None else None

    def _vmap(self, stmt: Stmt) -> bool | str:
        key = key_of(stmt, self.env)
        if key is None:
            return False
        if stmt.ref:
            element = set_lookup(self.table.set(stmt.ref), key, stmt.key, self.clock)
            result = element.verdict if element is not None else None
            kind, name = "vmap", stmt.ref
        else:
            joined = ".".join(key)
            result = next((v for k, v in stmt.mapping if k == joined), None)
            kind, name = ("numgen" if stmt.key[0].startswith("numgen") else "vmap"), None
        self.lookup = {"kind": kind, "name": name, "key": " . ".join(key), "result": result}
        return False if result is None else _verdict(result)

    def _update(self, stmt: Stmt) -> None:
        target = self.table.set(stmt.ref)
        key = key_of(stmt, self.env)
        if key is None:
            return
        target.elements.setdefault(key, Element(key))
        if target.timeout is not None:
            target.expires[key] = self.clock + target.timeout

    def _nat(self, stmt: Stmt) -> bool | str:
        # NAT expressions only work in nat chains, dnat before routing and masquerade after
        # it (nft_nat_validate, nft_masq_validate): the kernel refuses the ruleset otherwise.
        hooks = ("PREROUTING", "OUTPUT") if stmt.op == "dnat" else ("POSTROUTING",)
        if self.base.type != "nat" or self.hook not in hooks:
            raise WalkError(
                f"Error: Could not process rule: Operation not supported ({stmt.op} in a "
                f"{self.base.type} chain at {self.hook.lower()})"
            )
        if stmt.op == "dnat":
            address, port = stmt.value
            packet = self.on_nat("DNAT", address, int(port) if port else None, self.packet)
        else:
            packet = self.on_nat("MASQUERADE", None, None, self.packet)
        if packet is None:
            return "DROP"  # no address to translate to: the kernel drops (nf_nat_masquerade)
        self.packet = packet
        return "DNAT" if stmt.op == "dnat" else "MASQUERADE"

    def _step(
        self,
        chain: str,
        position: int | None,
        kind: str,
        verdict: str,
        rule: Rule | None,
        matched: bool,
        failed: Stmt | None = None,
    ) -> None:
        text = list_rule(rule.stmts, rule.comment) if rule is not None else None
        step = NftStep(
            hook=self.hook,
            table=self.table.name,
            chain=chain,
            rule=position + 1 if position is not None else None,
            kind=kind,
            matched=matched,
            verdict=verdict,
            rule_text=text,
            packet=self.packet,
            explain=_explain(chain, kind, verdict, matched, failed),
            failed_match=[list_stmt(failed)] if failed is not None else None,
            in_iface=self.ifaces[0],
            out_iface=self.ifaces[1],
            handle=rule.handle if rule is not None else None,
            lookup=self.lookup if rule is not None else None,
        )
        self.trace.steps.append(step)


def _verdict(text: str) -> str:
    word, _, target = text.partition(" ")
    if word in ("jump", "goto"):
        return f"{word.upper()}:{target}"
    return _TERMINAL.get(word) or word.upper()


def _mark(stmt: Stmt, mark: int) -> int:
    value = int(stmt.value[0], 0)
    ops = {"|": mark | value, "^": mark ^ value, "&": mark & value, "=": value}
    return ops[stmt.mark_op] & 0xFFFFFFFF


def _explain(
    chain: str, kind: str, verdict: str, matched: bool, failed: Stmt | None
) -> dict[str, str]:
    if kind == "policy":
        return {
            "en": f"end of base chain {chain}: its policy {verdict.lower()} applies",
            "zh": f"基础链 {chain} 走到末尾：执行其策略（policy）{verdict.lower()}",
        }
    if kind == "return":
        return {
            "en": f"end of chain {chain}: back to the chain that jumped here",
            "zh": f"链 {chain} 走到末尾：返回跳转（jump）过来的链",
        }
    if not matched:
        what = list_stmt(failed) if failed is not None else ""
        return {"en": f"no match: {what}", "zh": f"不匹配：{what}"}
    return {"en": f"matched: verdict {verdict}", "zh": f"匹配：裁决（verdict）{verdict}"}

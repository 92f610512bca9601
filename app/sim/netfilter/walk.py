"""Walking one table's base chain at one hook, rule by rule (ip_tables.c ipt_do_table,
nf_tables_core.c nft_do_chain).

* Matches of a rule run left to right and stop at the first that fails.
* `-j CHAIN` pushes a return point, `-g CHAIN` does not; `-j RETURN` or falling off the end
  of a user chain pops back to the caller; falling off a builtin chain, or `RETURN` in one,
  applies the chain's policy.
* ACCEPT (and the NAT targets, which return NF_ACCEPT) ends this table's traversal at this
  hook only; DROP and REJECT end the packet.
* Counters: a matched rule counts the packet (`iptables -L -v` pkts/bytes); an applied
  policy counts on the chain.

Every evaluated rule becomes a TraceStep (unless only matched steps are wanted, in which case
the chain index skips rules that cannot match), and every chain visit records how many rules
the kernel evaluated in it. With `record` off (bulk requests: the load chart's thousands of
connections) no step, chain visit, rule text or explanation is built, but every decision is taken
exactly as when recording: the same matches run in the same order (so the same `-m statistic`
draws, `-m recent` and `-m nth` updates), the same counters move, the same NAT is bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.sim.netfilter import explain
from app.sim.netfilter.context import MatchContext, TargetResult, Verdict
from app.sim.netfilter.index import chain_index
from app.sim.netfilter.model import Chain, Rule, Table
from app.sim.packet import Packet
from app.sim.trace import ChainVisit, Trace, TraceStep

# nf_tables refuses rulesets whose jumps nest deeper than NFT_JUMP_STACK_SIZE (16) at load
# time (nf_tables_api.c, -EMLINK), so a deeper walk can only be a loop.
MAX_JUMP_DEPTH = 16
NAT_VERDICTS = {Verdict.DNAT, Verdict.SNAT, Verdict.MASQUERADE, Verdict.REDIRECT}


class WalkError(ValueError):
    """The ruleset cannot be walked: jumps nest deeper than the kernel allows (a chain
    loop), or a jump names a chain that does not exist."""


# Called for a NAT target: binds the translation and returns the rewritten packet, or None
# when the translation is impossible (MASQUERADE without an address) and the packet drops.
NatHandler = Callable[[TargetResult, MatchContext], Packet | None]


# Where an unrecorded walk's chain visits count their rules: written, never read.
_UNRECORDED = ChainVisit("", "", "", 0, 0)


@dataclass(slots=True)
class _Frame:
    """One chain being walked: the rule positions still to test and its visit record."""

    chain: Chain
    positions: list[int] | range
    cursor: int
    visit: ChainVisit


@dataclass
class Walker:
    """Walks chains for one packet, appending steps and visits to `trace`."""

    trace: Trace
    on_nat: NatHandler
    matched_only: bool = False
    use_index: bool = False
    record: bool = True  # False: decide only, build no steps (see the module docstring)

    def run(self, table: Table, hook: str, ctx: MatchContext) -> str:
        """Traverse `table`'s base chain for `hook`; return ACCEPT, DROP or REJECT."""
        base = table.chains[hook]
        frames = [self._enter(base, ctx)]
        while frames:
            frame = frames[-1]
            if frame.cursor >= len(frame.positions):
                frame.visit.rules_evaluated = len(frame.chain.rules)
                frames.pop()
                if frame.chain.builtin:
                    return self._policy(frame.chain, ctx)
                if not self.record:
                    continue
                self._step(
                    ctx,
                    frame.chain.name,
                    None,
                    "return",
                    "RETURN",
                    None,
                    explain.fell_off(frame.chain.name),
                )
                continue
            position = frame.positions[frame.cursor]
            frame.cursor += 1
            frame.visit.rules_evaluated = position + 1
            outcome = self._evaluate(frame, position, table, ctx, frames)
            if outcome is not None:
                return outcome
        # A user chain entered with -g from the base chain ended: the base policy decides.
        return self._policy(base, ctx)

    def _enter(self, chain: Chain, ctx: MatchContext) -> _Frame:
        if self.record:
            visit = ChainVisit(ctx.hook, ctx.table, chain.name, 0, len(chain.rules))
            self.trace.visits.append(visit)
        else:
            visit = _UNRECORDED
        index = chain_index(chain) if self.use_index else None
        positions = index.candidates(ctx.packet) if index else range(len(chain.rules))
        return _Frame(chain, positions, 0, visit)

    def _evaluate(
        self, frame: _Frame, position: int, table: Table, ctx: MatchContext, frames: list[_Frame]
    ) -> str | None:
        """Test one rule and act on its target; a str is the table's final verdict."""
        chain, rule = frame.chain, frame.chain.rules[position]
        ctx.rule_uid = rule.uid
        failed = _first_failure(rule, ctx)
        if failed is not None:
            if self.record and not self.matched_only:
                self._miss(ctx, chain.name, position, rule, rule.matches[failed].save_args())
            return None
        rule.packets += 1
        rule.bytes += ctx.packet.length
        result = rule.target.apply(ctx) if rule.target else TargetResult(Verdict.CONTINUE)
        if ctx.notrack:
            # CT --notrack attaches the untracked conntrack at once (xt_CT.c,
            # nf_ct_set(skb, NULL, IP_CT_UNTRACKED)): the next rules already see UNTRACKED.
            ctx.ctstate = "UNTRACKED"
        return self._act(result, frame, position, table, ctx, frames)

    def _act(
        self,
        result: TargetResult,
        frame: _Frame,
        position: int,
        table: Table,
        ctx: MatchContext,
        frames: list[_Frame],
    ) -> str | None:
        """Record the matched rule and follow its verdict."""
        chain, rule, verdict = frame.chain, frame.chain.rules[position], result.verdict
        if verdict in NAT_VERDICTS:
            packet = self.on_nat(result, ctx)
            ctx.packet = packet or ctx.packet
            self._hit(ctx, chain.name, position, rule, verdict.value if packet else "DROP")
            return "ACCEPT" if packet else "DROP"
        if self.record:
            shown = f"{verdict.value}:{result.chain}" if result.chain else verdict.value
            self._hit(ctx, chain.name, position, rule, shown, _detail(rule, result, chain.builtin))
        if verdict in (Verdict.ACCEPT, Verdict.DROP, Verdict.REJECT):
            return verdict.value
        if verdict is Verdict.RETURN:
            frames.pop()
            return self._policy(chain, ctx, after_return=True) if chain.builtin else None
        if verdict in (Verdict.JUMP, Verdict.GOTO):
            self._jump(result, chain, table, ctx, frames)
        return None

    def _jump(
        self,
        result: TargetResult,
        chain: Chain,
        table: Table,
        ctx: MatchContext,
        frames: list[_Frame],
    ) -> None:
        if result.verdict is Verdict.GOTO:
            frames.pop()  # -g: no return point here
        if len(frames) >= MAX_JUMP_DEPTH:
            raise WalkError(
                f"jumps nest deeper than {MAX_JUMP_DEPTH} chains at {chain.name} -> "
                f"{result.chain} (a chain loop; the kernel refuses such a ruleset)"
            )
        target = table.chains.get(result.chain or "")
        if target is None:
            raise WalkError(f"iptables: No chain/target/match by that name. ({result.chain})")
        frames.append(self._enter(target, ctx))

    def _policy(self, chain: Chain, ctx: MatchContext, after_return: bool = False) -> str:
        policy = chain.policy or "ACCEPT"
        chain.packets += 1
        chain.bytes += ctx.packet.length
        if not self.record:
            return policy
        words = explain.policy(chain.name, policy, after_return)
        self._step(ctx, chain.name, None, "policy", policy, None, words)
        return policy

    def _miss(
        self, ctx: MatchContext, chain: str, position: int, rule: Rule, failed: list[str]
    ) -> None:
        words = explain.miss(failed, ctx.packet, ctx.in_iface, ctx.out_iface)
        text = rule_text(chain, rule)
        self._step(
            ctx, chain, position + 1, "rule", "CONTINUE", text, words, matched=False, failed=failed
        )

    def _hit(
        self,
        ctx: MatchContext,
        chain: str,
        position: int,
        rule: Rule,
        verdict: str,
        detail: str | None = None,
    ) -> None:
        if not self.record:
            return
        args = [token for match in rule.matches for token in match.save_args()]
        words = explain.hit(args, verdict, ctx.packet, detail)
        self._step(ctx, chain, position + 1, "rule", verdict, rule_text(chain, rule), words)

    def _step(
        self,
        ctx: MatchContext,
        chain: str,
        rule: int | None,
        kind: str,
        verdict: str,
        text: str | None,
        words: dict[str, str],
        *,
        matched: bool = True,
        failed: list[str] | None = None,
    ) -> None:
        self.trace.steps.append(
            TraceStep(
                ctx.hook,
                ctx.table,
                chain,
                rule,
                kind,
                matched,
                verdict,
                text,
                ctx.packet,
                words,
                failed,
                ctx.in_iface,
                ctx.out_iface,
            )
        )


def _first_failure(rule: Rule, ctx: MatchContext) -> int | None:
    """Index of the first match that fails, or None when the rule matches."""
    for i, match in enumerate(rule.matches):
        if not match.matches(ctx):
            return i
    return None


def _detail(rule: Rule, result: TargetResult, builtin: bool) -> str | None:
    """What the explanation names besides the verdict: the REJECT type or the target name."""
    if result.verdict is Verdict.REJECT:
        return result.reject_with or "icmp-port-unreachable"
    if result.verdict is Verdict.RETURN:
        return "builtin" if builtin else None
    if result.verdict is Verdict.CONTINUE and rule.target is not None:
        return " ".join(rule.target.save_args()[1:]) or rule.target.name
    return None


def rule_text(chain: str, rule: Rule) -> str:
    """The rule as iptables-save prints it (`-A CHAIN matches -j TARGET ...`)."""
    args = [token for match in rule.matches for token in match.save_args()]
    if rule.target is not None:
        args += rule.target.save_args()
    return " ".join(["-A", chain, *args])

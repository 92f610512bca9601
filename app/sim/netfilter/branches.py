"""Explore all branches: every outcome the random draws of one trace can produce.

`-m statistic --mode random` asks `ctx.chance(p)`. To list every path a packet can take,
the trace is re-run with forced outcomes: the first run answers True to every new draw;
for each draw it made, a later run replays the same earlier answers and answers False
there (depth first). A path's probability is the product of `P/2^31` for each True and
`1 - P/2^31` for each False, with `P = lround(p * 2^31)` as the kernel compares
(xt_statistic.c), so kube-proxy's 0.3333333333 counts as 0.33333333349. A draw that can
only go one way (p = 0 or 1) is not branched. The probabilities of all paths sum to 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from app.sim.trace import Trace

SCALE = 1 << 31
# A bound on the paths of one exploration: a cascade of n endpoints has n paths, so
# this is far above any Service, and it stops a pathological ruleset from running away.
MAX_BRANCHES = 4096


def probability_31(p: float) -> int:
    """iptables' 31-bit threshold for a probability: `lround(p * 2^31)` (libxt_statistic.c)."""
    return max(0, min(SCALE, math.floor(p * SCALE + 0.5)))


@dataclass
class Branch:
    """One path: the forced outcomes in draw order, its probability and its trace."""

    draws: tuple[bool, ...]
    probability: Fraction
    trace: Trace

    @property
    def dnat_to(self) -> str | None:
        return self.trace.conntrack.get("dnat_to") if self.trace.conntrack else None


def explore(run: Callable[[Callable[[float], bool]], Trace]) -> list[Branch]:
    """Run `run(chance)` once per path (see the module docstring); paths in DFS order."""
    branches: list[Branch] = []
    pending: list[tuple[bool, ...]] = [()]
    while pending and len(branches) < MAX_BRANCHES:
        forced = pending.pop()
        made: list[tuple[int, bool]] = []  # (P, outcome) of each draw of this run

        def chance(p: float, forced: tuple[bool, ...] = forced, made: list = made) -> bool:
            threshold = probability_31(p)
            # Replay the forced outcomes; past them, try True first unless it cannot happen.
            outcome = forced[len(made)] if len(made) < len(forced) else threshold > 0
            made.append((threshold, outcome))
            return outcome

        trace = run(chance)
        for i in range(len(forced), len(made)):  # the deepest alternative is popped first
            threshold, outcome = made[i]
            if outcome and threshold < SCALE:  # the other way is possible too
                pending.append((*(o for _, o in made[:i]), False))
        probability = Fraction(1)
        for threshold, outcome in made:
            share = Fraction(threshold, SCALE)
            probability *= share if outcome else 1 - share
        branches.append(Branch(tuple(o for _, o in made), probability, trace))
    return branches


def endpoint_shares(branches: list[Branch]) -> dict[str | None, Fraction]:
    """The probability of each DNAT destination (None: no DNAT happened)."""
    shares: dict[str | None, Fraction] = {}
    for branch in branches:
        shares[branch.dnat_to] = shares.get(branch.dnat_to, Fraction(0)) + branch.probability
    return shares


def summarize(branches: list[Branch]) -> list[dict[str, object]]:
    """The `branches` key of the trace JSON: one object per path."""
    out = []
    for branch in branches:
        final = branch.trace.final
        out.append(
            {
                "probability": float(branch.probability),
                "draws": list(branch.draws),
                "dnat_to": branch.dnat_to,
                "verdict": final.verdict if final else None,
                "delivered": final.delivered if final else None,
                "path": _path(branch.trace),
            }
        )
    return out


def _path(trace: Trace) -> list[str]:
    """The chains the path visited, in order (e.g. KUBE-SERVICES, KUBE-SVC-..., KUBE-SEP-...)."""
    return [f"{v.hook}/{v.table}/{v.chain}" for v in trace.visits]

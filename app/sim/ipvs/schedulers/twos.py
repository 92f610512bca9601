"""twos, weighted random twos choice (ip_vs_twos.c): draw two random numbers in
[0, total weight] (`% (total + 1)`, so the first usable dest is slightly favoured), walk the
list subtracting weights to find choice1 and choice2, then keep the one with the lower
overhead/weight (choice2 iff `w2 * overhead1 > w1 * overhead2`)."""

from __future__ import annotations

from app.sim.ipvs.model import Dest, VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, no_dest, text


class TwosChoice(Scheduler):
    name = "twos"

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        usable = [d for d in svc.dests if d.usable()]
        if not usable:
            return no_dest(self.name)
        total = sum(d.weight for d in usable) + 1
        r1 = req.rng.getrandbits(32) % total
        r2 = req.rng.getrandbits(32) % total
        choice1, choice2 = _walk(usable, r1, r2)
        pick = choice1
        if choice2 is not None and choice2.weight * choice1.overhead() > (
            choice1.weight * choice2.overhead()
        ):
            pick = choice2
        second = choice2.addr if choice2 is not None else "-"
        return Pick(
            pick,
            text(
                f"twos: random choices {choice1.addr} and {second}; "
                f"{pick.addr} has the lower overhead/weight",
                f"twos：随机选出 {choice1.addr} 与 {second}；{pick.addr} 的开销/权重更低",
            ),
        )


def _walk(usable: list[Dest], r1: int, r2: int) -> tuple[Dest, Dest | None]:
    """Subtract weights along the list; each choice is the dest where its number reaches
    <= 0. Defaults as in the kernel: choice1 = the last usable dest, choice2 none."""
    choice1: Dest = usable[-1]
    choice2: Dest | None = None
    found1 = found2 = False
    for d in usable:
        r1 -= d.weight
        r2 -= d.weight
        if r1 <= 0 and not found1:
            choice1, found1 = d, True
        if r2 <= 0 and not found2:
            choice2, found2 = d, True
        if found1 and found2:
            break
    return choice1, choice2

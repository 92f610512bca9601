"""sed, shortest expected delay (ip_vs_sed.c): as wlc, but the overhead is
`activeconns + 1` -- inactive connections (and so every UDP flow) are ignored."""

from __future__ import annotations

from app.sim.ipvs.model import Dest, VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, no_dest, text, weighted_least


def expected_delay(d: Dest) -> int:
    """ip_vs_sed_dest_overhead: activeconns + 1."""
    return d.activeconns + 1


class ShortestExpectedDelay(Scheduler):
    name = "sed"

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        least = weighted_least(svc.dests, expected_delay)
        if least is None:
            return no_dest(self.name)
        oh = expected_delay(least)
        return Pick(
            least,
            text(
                f"sed: {least.addr} has (active+1)/weight = {oh}/{least.weight}, lowest",
                f"sed：{least.addr} 的 (active+1)/权重 = {oh}/{least.weight}，最低",
            ),
        )

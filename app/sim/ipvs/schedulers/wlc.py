"""wlc, weighted least connection (ip_vs_wlc.c), ipvsadm's default scheduler: the dest with
the lowest overhead/weight, compared as `overhead(least) * w(d) > overhead(d) * w(least)`
so the earliest in list order wins ties."""

from __future__ import annotations

from app.sim.ipvs.model import Dest, VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, no_dest, text, weighted_least


class WeightedLeastConnection(Scheduler):
    name = "wlc"

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        least = weighted_least(svc.dests, Dest.overhead)
        if least is None:
            return no_dest(self.name)
        oh = least.overhead()
        return Pick(
            least,
            text(
                f"wlc: {least.addr} has overhead {oh} / weight {least.weight}, lowest",
                f"wlc：{least.addr} 的开销 {oh} / 权重 {least.weight}，最低",
            ),
        )

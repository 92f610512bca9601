"""fo, weighted failover (ip_vs_fo.c): the non-overloaded dest with the highest weight
(strict `>` starting from 0, so never weight 0; the first of equal highest wins)."""

from __future__ import annotations

from app.sim.ipvs.model import VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, no_dest, text


class WeightedFailover(Scheduler):
    name = "fo"

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        best, hw = None, 0
        for d in svc.dests:
            if not d.overloaded and d.weight > hw:
                best, hw = d, d.weight
        if best is None:
            return no_dest(self.name)
        return Pick(
            best,
            text(
                f"fo: {best.addr} has the highest weight ({hw}) among servers not overloaded",
                f"fo：{best.addr} 在未过载的服务器中权重最高（{hw}）",
            ),
        )

"""ovf, weighted overflow (ip_vs_ovf.c): the highest-weight dest that is not overloaded,
has weight != 0 and `activeconns <= weight`; the first of equals wins. Only active
connections count."""

from __future__ import annotations

from app.sim.ipvs.model import VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, no_dest, text


class WeightedOverflow(Scheduler):
    name = "ovf"

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        best = None
        for d in svc.dests:
            if d.overloaded or d.weight == 0 or d.activeconns > d.weight:
                continue
            if best is None or d.weight > best.weight:
                best = d
        if best is None:
            return no_dest(self.name)
        return Pick(
            best,
            text(
                f"ovf: {best.addr} has the highest weight ({best.weight}) with active "
                f"connections ({best.activeconns}) not above it",
                f"ovf：{best.addr} 权重最高（{best.weight}），活动连接数（{best.activeconns}）"
                "未超过权重",
            ),
        )

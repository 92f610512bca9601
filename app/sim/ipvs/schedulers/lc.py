"""lc, least connection (ip_vs_lc.c): the usable dest with the lowest overhead
(active x 256 + inactive); strict `<`, so the first in list order wins ties. Weights other
than 0 are ignored."""

from __future__ import annotations

from app.sim.ipvs.model import VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, no_dest, text


class LeastConnection(Scheduler):
    name = "lc"

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        least = None
        for d in svc.dests:
            if d.usable() and (least is None or d.overhead() < least.overhead()):
                least = d
        if least is None:
            return no_dest(self.name)
        oh = least.overhead()
        return Pick(
            least,
            text(
                f"lc: {least.addr} has overhead {oh}, lowest",
                f"lc：{least.addr} 的开销为 {oh}，最低",
            ),
        )

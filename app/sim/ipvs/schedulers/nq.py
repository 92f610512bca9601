"""nq, never queue (ip_vs_nq.c): the first usable dest with no active connection is taken at
once, whatever its weight; otherwise sed's rule ((active+1)/weight, earliest wins ties)."""

from __future__ import annotations

from app.sim.ipvs.model import Dest, VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, no_dest, text
from app.sim.ipvs.schedulers.sed import expected_delay


class NeverQueue(Scheduler):
    name = "nq"

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        least: Dest | None = None
        for d in svc.dests:
            if not d.usable():
                continue
            if d.activeconns == 0:
                return Pick(
                    d,
                    text(
                        f"nq: {d.addr} is idle (no active connection), taken at once",
                        f"nq：{d.addr} 空闲（没有活动连接），直接选中",
                    ),
                )
            if least is None or expected_delay(least) * d.weight > expected_delay(d) * least.weight:
                least = d
        if least is None:
            return no_dest(self.name)
        oh = expected_delay(least)
        return Pick(
            least,
            text(
                f"nq: no idle server; {least.addr} has (active+1)/weight = "
                f"{oh}/{least.weight}, lowest",
                f"nq：没有空闲的服务器；{least.addr} 的 (active+1)/权重 = "
                f"{oh}/{least.weight}，最低",
            ),
        )

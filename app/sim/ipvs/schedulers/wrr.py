"""wrr, weighted round robin (ip_vs_wrr.c, the rewrite with last_pass/restarted).

State: `cl` (current dest, None = head), `cw` (current weight), `mw`, `di`, where
`di` = gcd of the weights > 0 (1 if none) and `mw` = max weight - (di - 1). A pick continues
after `cl`: the first non-overloaded dest with weight >= cw wins. At the end of the list
cw -= di; when cw <= 0 it restarts at mw. Every add/delete/edit (`dest_changed`) resets cl
to the head and keeps cw unless it is 0 or above mw -- so a service built dest by dest starts
with one plain rr round at cw = 1 before the weighted cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

from app.sim.ipvs.model import Dest, VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, no_dest, text


@dataclass
class WRRState:
    cl: Dest | None = None
    cw: int = 0
    mw: int = 0
    di: int = 1


def _gcd_weight(svc: VirtualService) -> int:
    g = 0
    for d in svc.dests:
        if d.weight > 0:
            g = gcd(g, d.weight)
    return g or 1


def _max_weight(svc: VirtualService) -> int:
    return max((d.weight for d in svc.dests), default=0)


class WeightedRoundRobin(Scheduler):
    name = "wrr"

    def init_service(self, svc: VirtualService) -> WRRState:
        di = _gcd_weight(svc)
        mw = _max_weight(svc) - (di - 1)
        return WRRState(None, mw, mw, di)

    def changed(self, svc: VirtualService) -> None:
        s: WRRState = svc.sched_state
        s.cl = None
        s.di = _gcd_weight(svc)
        s.mw = _max_weight(svc) - (s.di - 1)
        if s.cw > s.mw or s.cw == 0:
            s.cw = s.mw
        elif s.di > 1:
            s.cw = (s.cw // s.di) * s.di + 1

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        s: WRRState = svc.sched_state
        dest = self._scan(svc, s) if s.mw > 0 else None
        if dest is None:
            return no_dest(self.name)
        s.cl = dest
        return Pick(
            dest,
            text(
                f"wrr: {dest.key} has weight {dest.weight} >= current weight {s.cw}",
                f"wrr：{dest.key} 的权重 {dest.weight} >= 当前权重 {s.cw}",
            ),
        )

    def _scan(self, svc: VirtualService, s: WRRState) -> Dest | None:
        dests = svc.dests
        last = s.cl
        i = 0 if last is None else dests.index(last) + 1
        stop: Dest | None = None
        last_pass = restarted = False
        while True:
            for d in dests[i:]:
                if not d.overloaded and d.weight >= s.cw:
                    return d
                if d is stop:
                    return None
            i = 0
            s.cw -= s.di
            if s.cw <= 0:
                s.cw = s.mw
                # A full sweep at the lowest weight found nothing: all overloaded.
                if last_pass or last is None:
                    return None
                restarted = True
            last_pass = s.cw <= s.di
            if last_pass and restarted and last is not None:
                stop = last

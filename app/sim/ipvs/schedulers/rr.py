"""rr, round robin (net/netfilter/ipvs/ip_vs_rr.c).

State: a pointer to the last chosen dest, initially the list head. Adding dests does not
move it, so the first pick is list[0] -- the most recently added server. A pick scans from
the entry after the pointer to the end, then (unless the pointer is the head) from the start
up to and including the pointer; the first usable dest wins and becomes the pointer.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.sim.ipvs.model import Dest, VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, no_dest, text


@dataclass
class RRState:
    pointer: Dest | None = None  # None: the list head


class RoundRobin(Scheduler):
    name = "rr"

    def init_service(self, svc: VirtualService) -> RRState:
        return RRState()

    def del_dest(self, svc: VirtualService, dest: Dest) -> None:
        # ip_vs_rr_del_dest: a pointer at the removed dest moves to its predecessor.
        state: RRState = svc.sched_state
        if state.pointer is dest:
            i = svc.dests.index(dest)
            state.pointer = svc.dests[i - 1] if i > 0 else None

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        state: RRState = svc.sched_state
        dests = svc.dests
        start = 0 if state.pointer is None else dests.index(state.pointer) + 1
        order = dests[start:]
        if state.pointer is not None:
            order += dests[:start]  # second pass, up to and including the pointer
        for d in order:
            if d.usable():
                state.pointer = d
                return Pick(d, _reason(d, start, state, dests))
        return no_dest(self.name)


def _reason(d: Dest, start: int, state: RRState, dests: list[Dest]) -> dict[str, str]:
    if start == 0 and d is dests[0]:
        return text(
            f"rr: {d.key} is first in the kernel list (the most recently added)",
            f"rr：{d.key} 在内核列表的第一位（最后添加的）",
        )
    return text(
        f"rr: {d.key} is the next usable real server after the last pick",
        f"rr：{d.key} 是上次选择之后的下一个可用 real server",
    )

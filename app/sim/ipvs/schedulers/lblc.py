"""lblc, locality-based least connection (ip_vs_lblc.c).

A cache keyed by the packet's destination IP remembers a dest. The cached dest is used when
it is still available, has weight > 0 and is not "lblc-overloaded" (activeconns > weight
while some dest of the service has activeconns * 2 < weight). Otherwise the wlc rule picks
(seeded with the first non-overloaded dest of weight > 0) and the cache entry is replaced.
Entries unused for `lblc_expiration` (24 h) are collected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.sim.ipvs.model import Dest, VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, no_dest, text, weighted_least

EXPIRATION = 24 * 60 * 60  # sysctl lblc_expiration default (seconds)


@dataclass
class CacheEntry:
    dest: Dest
    lastuse: float


@dataclass
class LocalityCache:
    entries: dict[str, CacheEntry] = field(default_factory=dict)


def lblc_overloaded(dest: Dest, svc: VirtualService) -> bool:
    """is_overloaded(): busier than its weight while another dest is under half of its own."""
    if dest.activeconns > dest.weight:
        return any(d.activeconns * 2 < d.weight for d in svc.dests)
    return False


class LocalityLeastConnection(Scheduler):
    name = "lblc"

    def init_service(self, svc: VirtualService) -> LocalityCache:
        return LocalityCache()

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        cache: LocalityCache = svc.sched_state
        entry = cache.entries.get(req.dst)
        if entry is not None and req.now - entry.lastuse > EXPIRATION:
            del cache.entries[req.dst]  # the garbage collector got there first
            entry = None
        if entry is not None:
            entry.lastuse = req.now
            d = entry.dest
            if d.available and d.weight > 0 and not lblc_overloaded(d, svc):
                return Pick(
                    d,
                    text(
                        f"lblc: destination {req.dst} is cached on {d.addr}, not overloaded",
                        f"lblc：目的地址 {req.dst} 缓存在 {d.addr} 上，且未过载",
                    ),
                )
        least = weighted_least(svc.dests, Dest.overhead)
        if least is None:
            return no_dest(self.name)
        cache.entries[req.dst] = CacheEntry(least, req.now)
        return Pick(
            least,
            text(
                f"lblc: no valid cache entry for {req.dst}; {least.addr} has the lowest "
                "overhead/weight and is cached",
                f"lblc：{req.dst} 没有有效缓存；{least.addr} 的开销/权重最低，写入缓存",
            ),
        )

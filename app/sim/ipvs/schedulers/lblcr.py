"""lblcr, locality-based least connection with replication (ip_vs_lblcr.c).

The cache maps a destination IP to a *set* of dests (newest first). The set's
weighted-least-loaded available member is used unless it is lblc-overloaded; then wlc picks
over the whole service and the winner joins the set. A set of more than one member that was
not modified for `lblcr_expiration` (24 h) loses its weighted-most-loaded member.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.sim.ipvs.model import Dest, VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, no_dest, text, weighted_least
from app.sim.ipvs.schedulers.lblc import EXPIRATION, lblc_overloaded


@dataclass
class DestSet:
    members: list[Dest] = field(default_factory=list)
    lastmod: float = 0.0
    lastuse: float = 0.0


@dataclass
class ReplicaCache:
    entries: dict[str, DestSet] = field(default_factory=dict)


def set_min(members: list[Dest]) -> Dest | None:
    """ip_vs_dest_set_min: weighted least loaded, available, not overloaded, weight > 0."""
    least: Dest | None = None
    for d in members:
        if d.overloaded:
            continue
        if least is None:
            if d.weight > 0 and d.available:
                least = d
            continue
        if d.overhead() * least.weight < least.overhead() * d.weight and d.available:
            least = d
    return least


def set_max(members: list[Dest]) -> Dest | None:
    """ip_vs_dest_set_max: weighted most loaded among members of weight > 0."""
    most: Dest | None = None
    for d in members:
        if most is None:
            most = d if d.weight > 0 else None
            continue
        if most.overhead() * d.weight < d.overhead() * most.weight and d.weight > 0:
            most = d
    return most


class LocalityReplication(Scheduler):
    name = "lblcr"

    def init_service(self, svc: VirtualService) -> ReplicaCache:
        return ReplicaCache()

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        cache: ReplicaCache = svc.sched_state
        entry = cache.entries.get(req.dst)
        if entry is not None and req.now - entry.lastuse > EXPIRATION:
            del cache.entries[req.dst]
            entry = None
        if entry is None:
            least = weighted_least(svc.dests, Dest.overhead)
            if least is None:
                return no_dest(self.name)
            cache.entries[req.dst] = DestSet([least], req.now, req.now)
            return Pick(least, _new_reason(req.dst, least, "new"))
        entry.lastuse = req.now
        dest = set_min(entry.members)
        _shrink(entry, req.now)
        if dest is not None and not lblc_overloaded(dest, svc):
            return Pick(
                dest,
                text(
                    f"lblcr: {dest.addr} is the least loaded server cached for {req.dst}",
                    f"lblcr：{dest.addr} 是 {req.dst} 缓存集合中负载最低的服务器",
                ),
            )
        least = weighted_least(svc.dests, Dest.overhead)
        if least is None:
            return no_dest(self.name)
        if least not in entry.members:
            entry.members.insert(0, least)
            entry.lastmod = req.now
        return Pick(least, _new_reason(req.dst, least, "grow"))


def _shrink(entry: DestSet, now: float) -> None:
    """A set of several members not modified for lblcr_expiration loses its most loaded one."""
    if len(entry.members) > 1 and now > entry.lastmod + EXPIRATION:
        most = set_max(entry.members)
        if most is not None:
            entry.members.remove(most)
            entry.lastmod = now


def _new_reason(dst: str, dest: Dest, how: str) -> dict[str, str]:
    if how == "new":
        return text(
            f"lblcr: no cached set for {dst}; {dest.addr} has the lowest overhead/weight",
            f"lblcr：{dst} 没有缓存集合；{dest.addr} 的开销/权重最低",
        )
    return text(
        f"lblcr: the cached set for {dst} is overloaded; {dest.addr} is added to it",
        f"lblcr：{dst} 的缓存集合已过载；把 {dest.addr} 加入集合",
    )

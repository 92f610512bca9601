"""dh, destination hashing (ip_vs_dh.c): 256 buckets filled round robin over the list
(weights ignored), keyed by the packet's destination address -- so for a normal VIP:port
service every client lands in the same bucket. Weight 0, overloaded or deleted: no
destination (no fallback)."""

from __future__ import annotations

from app.sim.ipvs.hashing import addr_fold, hash_32, legacy_hash
from app.sim.ipvs.model import VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, text
from app.sim.ipvs.schedulers.sh import TAB_BITS, TAB_SIZE, HashTable, _refused, fill_weighted


class DestinationHashing(Scheduler):
    name = "dh"
    legacy = False

    def init_service(self, svc: VirtualService) -> HashTable:
        return HashTable(fill_weighted(svc.dests, TAB_SIZE, False))

    def changed(self, svc: VirtualService) -> None:
        svc.sched_state.buckets = fill_weighted(svc.dests, TAB_SIZE, False)

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        value = addr_fold(req.dst)
        index = legacy_hash(value, TAB_SIZE) if self.legacy else hash_32(value, TAB_BITS)
        dest = svc.sched_state.buckets[index]
        if dest is None or not dest.usable() or not dest.available:
            return _refused("dh", req.dst, index, dest)
        return Pick(
            dest,
            text(
                f"dh: destination {req.dst} hashes to bucket {index}, owned by {dest.addr}",
                f"dh：目的地址 {req.dst} 哈希到第 {index} 个桶，属于 {dest.addr}",
            ),
        )

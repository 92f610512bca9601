"""sh, source hashing (ip_vs_sh.c).

Table: 256 buckets, rebuilt on every add/delete/edit by walking the dest list circularly;
the walk moves on after a dest received `weight` consecutive buckets (`++count >= weight`),
so a weight-0 dest still owns one bucket per cycle. Key: the client address (plus the client
port with the `sh-port` flag). Current kernels take the top byte of `hash_32`; older ones
`v * 2654435761 & 255` (`legacy=True`). A bucket whose dest has weight 0 or is overloaded
answers "no destination" unless `sh-fallback` probes the other offsets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from app.sim.ipvs.hashing import addr_fold, hash_32, legacy_hash
from app.sim.ipvs.model import F_SCHED1, F_SCHED2, Dest, VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, text

TAB_BITS = 8  # CONFIG_IP_VS_SH_TAB_BITS
TAB_SIZE = 1 << TAB_BITS


@dataclass
class HashTable:
    buckets: list[Dest | None] = field(default_factory=lambda: [None] * TAB_SIZE)


def fill_weighted(dests: list[Dest], size: int, use_weight: bool) -> list[Dest | None]:
    """Fill `size` buckets walking `dests` circularly; with `use_weight` each dest gets
    max(weight, 1) consecutive buckets (sh), else one each (dh)."""
    if not dests:
        return [None] * size
    out: list[Dest | None] = []
    i = count = 0
    for _ in range(size):
        d = dests[i]
        out.append(d)
        count += 1
        if not use_weight or count >= d.weight:
            i = (i + 1) % len(dests)
            count = 0
    return out


class SourceHashing(Scheduler):
    name = "sh"
    legacy = False  # a subclass reproduces kernels before the hash_32 switch

    def init_service(self, svc: VirtualService) -> HashTable:
        return HashTable(fill_weighted(svc.dests, TAB_SIZE, True))

    def changed(self, svc: VirtualService) -> None:
        svc.sched_state.buckets = fill_weighted(svc.dests, TAB_SIZE, True)

    def bucket(self, value: int, offset: int = 0) -> int:
        if self.legacy:
            return (offset + legacy_hash(value, TAB_SIZE)) & (TAB_SIZE - 1)
        return (offset + hash_32(value, TAB_BITS)) & (TAB_SIZE - 1)

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        port = req.sport if svc.flags & F_SCHED2 else 0
        value = (addr_fold(req.src) + port) & 0xFFFFFFFF
        buckets = svc.sched_state.buckets
        index = self.bucket(value)
        dest = buckets[index]
        if dest is not None and not dest.usable() and svc.flags & F_SCHED1:
            dest = probe(buckets, index, TAB_SIZE, lambda off: self.bucket(value, off))
            if dest is not None:
                return Pick(dest, _fallback_reason("sh", req.src, dest))
        if dest is None or not dest.usable():
            return _refused("sh", req.src, index, dest)
        return Pick(
            dest,
            text(
                f"sh: client {req.src} hashes to bucket {index}, owned by {dest.addr}",
                f"sh：客户端 {req.src} 哈希到第 {index} 个桶，属于 {dest.addr}",
            ),
        )


class LegacySourceHashing(SourceHashing):
    """sh of older kernels (`v * 2654435761 & 255`): not registered; for comparison."""

    legacy = True


def probe(
    table: list[Dest | None], first: int, size: int, slot: Callable[[int], int]
) -> Dest | None:
    """The `*-fallback` walk: offsets 0..size-1, `roffset = (offset + first) % size`,
    the first usable dest found (stops at an empty slot)."""
    for offset in range(size):
        d = table[slot((offset + first) % size)]
        if d is None:
            return None
        if d.usable():
            return d
    return None


def _fallback_reason(name: str, client: str, dest: Dest) -> dict[str, str]:
    return text(
        f"{name}: the hashed server for {client} is unavailable; fallback found {dest.addr}",
        f"{name}：{client} 哈希到的服务器不可用；fallback 找到 {dest.addr}",
    )


def _refused(name: str, client: str, index: int, dest: Dest | None) -> Pick:
    owner = dest.addr if dest is not None else "-"
    return Pick(
        None,
        text(
            f"{name}: client {client} hashes to slot {index}, owned by {owner}, which has "
            "weight 0 or is overloaded: no destination",
            f"{name}：客户端 {client} 哈希到第 {index} 个槽，属于 {owner}，其权重为 0 或已过载："
            "没有可用目的地",
        ),
    )

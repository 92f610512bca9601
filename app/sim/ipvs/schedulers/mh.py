"""mh, Maglev hashing (ip_vs_mh.c, kernel >= 4.18).

Lookup table of M = 4093 slots. Each dest hashes its own address+port with two fixed
SipHash-1-3 keys into a preferred `offset` and a `skip`; population runs rounds over the
dest list, each dest making `turns` consecutive claims per round (its weight / gcd, shifted
right so the largest fits in 6 bits), each claim taking its next free preferred slot.
Weights come from `last_weight`, so a dest set to weight 0 keeps its slots and its clients
are refused (not redistributed) unless the `mh-fallback` flag is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import gcd

from app.sim.ipvs.hashing import addr_fold, hsiphash_u32
from app.sim.ipvs.model import F_SCHED1, F_SCHED2, Dest, VirtualService
from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler, text
from app.sim.ipvs.schedulers.sh import _fallback_reason, _refused, probe

TAB_SIZE = 4093  # primes[CONFIG_IP_VS_MH_TAB_INDEX - 8], default index 12
TAB_BITS = 6  # IP_VS_MH_TAB_BITS: weights are shifted to fit this many bits
KEY1 = (2654435761, 2654435761)  # generate_hash_secret(): constants, not random
KEY2 = (2654446892, 2654446892)


@dataclass
class MaglevTable:
    lookup: list[Dest | None] = field(default_factory=lambda: [None] * TAB_SIZE)


def mh_hash(addr: str, port: int, key: tuple[int, int], offset: int = 0) -> int:
    """ip_vs_mh_hashkey: hsiphash of the u32 `offset + port + addr`."""
    return hsiphash_u32((offset + port + addr_fold(addr)) & 0xFFFFFFFF, key)


def _turns(dests: list[Dest]) -> list[int]:
    g = 0
    for d in dests:
        if d.last_weight > 0:
            g = gcd(g, d.last_weight)
    if g < 1:
        return [0] * len(dests)
    mw = max(d.last_weight for d in dests) // g
    rshift = max(0, mw.bit_length() - TAB_BITS)  # fls(mw) - IP_VS_MH_TAB_BITS
    return [((d.last_weight // g) >> rshift) or int(d.last_weight != 0) for d in dests]


def populate(dests: list[Dest]) -> list[Dest | None]:
    """ip_vs_mh_permutate + ip_vs_mh_populate."""
    turns = _turns(dests)
    if not any(turns):
        return [None] * TAB_SIZE
    perm = [mh_hash(d.addr, d.port, KEY1) % TAB_SIZE for d in dests]
    skip = [mh_hash(d.addr, d.port, KEY2) % (TAB_SIZE - 1) + 1 for d in dests]
    table: list[Dest | None] = [None] * TAB_SIZE
    n = 0
    while True:
        for i, d in enumerate(dests):
            for _ in range(turns[i]):
                c = perm[i]
                while table[c] is not None:
                    c = (c + skip[i]) % TAB_SIZE
                perm[i] = c
                table[c] = d
                n += 1
                if n == TAB_SIZE:
                    return table


class MaglevHashing(Scheduler):
    name = "mh"

    def init_service(self, svc: VirtualService) -> MaglevTable:
        return MaglevTable(populate(svc.dests))

    def changed(self, svc: VirtualService) -> None:
        svc.sched_state.lookup = populate(svc.dests)

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        port = req.sport if svc.flags & F_SCHED2 else 0
        lookup = svc.sched_state.lookup
        index = mh_hash(req.src, port, KEY1) % TAB_SIZE
        dest = lookup[index]
        if dest is not None and not dest.usable() and svc.flags & F_SCHED1:
            dest = probe(
                lookup, index, TAB_SIZE, lambda off: mh_hash(req.src, port, KEY1, off) % TAB_SIZE
            )
            if dest is not None:
                return Pick(dest, _fallback_reason("mh", req.src, dest))
        if dest is None or not dest.usable():
            return _refused("mh", req.src, index, dest)
        return Pick(
            dest,
            text(
                f"mh: client {req.src} hashes to slot {index} of {TAB_SIZE}, owned by {dest.addr}",
                f"mh：客户端 {req.src} 哈希到 {TAB_SIZE} 个槽中的第 {index} 个，属于 {dest.addr}",
            ),
        )

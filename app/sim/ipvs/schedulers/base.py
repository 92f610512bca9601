"""What every IPVS scheduler shares: the request it decides for, the pick it returns (a real
server or none, with a reason in both languages), and the hooks the service calls.

A scheduler object is stateless; whatever it remembers (rr's pointer, wrr's current weight,
sh's buckets, lblc's cache) lives in `VirtualService.sched_state`, created by
`init_service` and updated by the `add_dest`/`upd_dest`/`del_dest` hooks, as the kernel's
`struct ip_vs_scheduler` callbacks do (include/net/ip_vs.h).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from app.sim.ipvs.model import Dest, Text, VirtualService


@dataclass(frozen=True)
class Request:
    """The packet the scheduler decides for: client address/port, virtual address/port.
    `rng` is the only source of randomness (twos); `now` is the logical clock in seconds."""

    src: str
    sport: int
    dst: str
    dport: int
    rng: random.Random = field(default_factory=lambda: random.Random(0), compare=False)
    now: float = 0.0


@dataclass(frozen=True)
class Pick:
    """A scheduler's decision: `dest` None means "no destination available"."""

    dest: Dest | None
    reason: Text


def text(en: str, zh: str) -> Text:
    return {"zh": zh, "en": en}


def no_dest(name: str) -> Pick:
    return Pick(
        None,
        text(
            f"{name}: no usable real server (all have weight 0 or are overloaded)",
            f"{name}：没有可用的 real server（权重都为 0 或已过载）",
        ),
    )


class Scheduler:
    """Base: no state, no table. Subclasses set `name` and implement `schedule`."""

    name = ""

    def init_service(self, svc: VirtualService) -> Any:
        return None

    def add_dest(self, svc: VirtualService, dest: Dest) -> None:
        self.changed(svc)

    def upd_dest(self, svc: VirtualService, dest: Dest) -> None:
        self.changed(svc)

    def del_dest(self, svc: VirtualService, dest: Dest) -> None:
        """Called while `dest` is still in the list (before it is unlinked)."""

    def dest_removed(self, svc: VirtualService, dest: Dest) -> None:
        """Called after `dest` was unlinked."""
        self.changed(svc)

    def changed(self, svc: VirtualService) -> None:
        """Rebuild whatever the scheduler derives from the dest list."""

    def schedule(self, svc: VirtualService, req: Request) -> Pick:
        raise NotImplementedError


def weighted_least(dests: list[Dest], overhead: Any) -> Dest | None:
    """The wlc rule (ip_vs_wlc.c): seed = first usable dest, then replace `least` iff
    `overhead(least) * w(d) > overhead(d) * w(least)` for every later non-overloaded d.
    Strict `>`, so the earliest in list order wins ties; a weight-0 dest after the seed is
    compared but can never win."""
    least: Dest | None = None
    loh = 0
    for d in dests:
        if least is None:
            if d.usable():
                least, loh = d, overhead(d)
            continue
        if d.overloaded:
            continue
        doh = overhead(d)
        if loh * d.weight > doh * least.weight:
            least, loh = d, doh
    return least

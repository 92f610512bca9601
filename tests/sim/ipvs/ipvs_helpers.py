"""Builders shared by the IPVS tests: a service whose kernel list order is given."""

from __future__ import annotations

from app.sim.ipvs.director import Ipvs
from app.sim.ipvs.model import VirtualService
from app.sim.ipvs.schedulers.base import Request

VIP = "10.96.0.100"


def service(
    scheduler: str, weights: list[tuple[str, int]], ipvs: Ipvs | None = None, **kw: int
) -> tuple[VirtualService, dict[str, str]]:
    """A TCP service on VIP:80 whose kernel list order is `weights` (first = list[0]).

    Servers are added in reverse order, as ipvsadm would add them one by one, since the
    kernel inserts each new one at the front. Returns the service and address -> letter."""
    ipvs = ipvs or Ipvs()
    svc = ipvs.add_service("TCP", VIP, 80, scheduler, **kw)
    letters = {}
    for letter, weight in reversed(weights):
        addr = f"10.244.0.{ord(letter) - 64}"
        ipvs.add_dest(svc, addr, 8080, weight=weight, fwd="Masq")
        letters[addr] = letter
    return svc, letters


def req(src: str = "192.168.49.100", sport: int = 40000, **kw: object) -> Request:
    return Request(src, sport, VIP, 80, **kw)  # type: ignore[arg-type]


def picks(svc: VirtualService, letters: dict[str, str], n: int, **kw: object) -> str:
    """`n` scheduler picks as letters ('-' for no destination)."""
    out = []
    for _ in range(n):
        pick = svc.scheduler.schedule(svc, req(**kw))
        out.append(letters[pick.dest.addr] if pick.dest else "-")
    return "".join(out)

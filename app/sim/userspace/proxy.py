"""The userspace proxier's process: for each accepted connection it picks an endpoint with
its round-robin load balancer and dials it, retrying another endpoint when the dial fails.

Transcribed from pkg/proxy/userspace (2017):
* roundrobin.go LoadBalancerRR.NextEndpoint: with sessionAffinity ClientIP, a client seen
  within the affinity timeout goes to the same endpoint (unless the previous attempt failed:
  `sessionAffinityReset`); otherwise `endpoints[index]`, then index = (index + 1) % n.
  OnEndpointsUpdate: a changed endpoint list is shuffled, the index reset and the affinity
  map cleared.
* proxysocket.go tryConnectTCP: up to four attempts (dial timeouts 250 ms, 500 ms, 1 s, 2 s);
  a refused dial resets affinity and asks NextEndpoint again. When every attempt fails the
  proxy closes the client's connection.

The state is plain data (`to_data` / `from_data`) so a stored lab continues where it stopped.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DIAL_TIMEOUTS = (0.25, 0.5, 1.0, 2.0)  # endpointDialTimeouts in proxysocket.go


@dataclass(frozen=True)
class Attempt:
    endpoint: str
    ok: bool
    via: str  # "round-robin" or "affinity"


@dataclass(frozen=True)
class Choice:
    """The outcome of one accepted connection: the endpoint reached (or None) and every
    attempt in order."""

    endpoint: str | None
    attempts: tuple[Attempt, ...]


@dataclass
class _Balancer:
    endpoints: list[str]
    index: int = 0
    affinity: dict[str, list[Any]] = field(default_factory=dict)  # client -> [endpoint, last]


class ProxyProcess:
    """The load balancer state of every service port (keyed by Portal.key)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.balancers: dict[str, _Balancer] = {}

    def update(self, key: str, endpoints: tuple[str, ...]) -> None:
        """OnEndpointsUpdate: a different endpoint set is shuffled and starts over."""
        current = self.balancers.get(key)
        if current is not None and sorted(current.endpoints) == sorted(endpoints):
            return
        shuffled = sorted(endpoints)
        random.Random(f"{self.seed}:{key}:{len(shuffled)}").shuffle(shuffled)
        self.balancers[key] = _Balancer(shuffled)

    def forget(self, keep: set[str]) -> None:
        for key in set(self.balancers) - keep:
            del self.balancers[key]

    def next_endpoint(
        self, key: str, client: str, affinity: int, now: float, reset: bool
    ) -> tuple[str, str] | None:
        """NextEndpoint: (endpoint, "affinity"|"round-robin"), or None without endpoints."""
        lb = self.balancers.get(key)
        if lb is None or not lb.endpoints:
            return None
        if affinity and not reset:
            held = lb.affinity.get(client)
            if held is not None and now - held[1] < affinity and held[0] in lb.endpoints:
                held[1] = now
                return held[0], "affinity"
        endpoint = lb.endpoints[lb.index]
        lb.index = (lb.index + 1) % len(lb.endpoints)
        if affinity:
            lb.affinity[client] = [endpoint, now]
        return endpoint, "round-robin"

    def connect(
        self,
        key: str,
        client: str,
        affinity: int,
        now: float,
        dial: Callable[[str], bool],
    ) -> Choice:
        """tryConnectTCP: dial endpoints until one accepts, at most len(DIAL_TIMEOUTS) times."""
        attempts: list[Attempt] = []
        reset = False
        for _timeout in DIAL_TIMEOUTS:
            picked = self.next_endpoint(key, client, affinity, now, reset)
            if picked is None:
                break
            endpoint, via = picked
            ok = dial(endpoint)
            attempts.append(Attempt(endpoint, ok, via))
            if ok:
                return Choice(endpoint, tuple(attempts))
            reset = True
        return Choice(None, tuple(attempts))

    # -- storage -------------------------------------------------------------------------
    def to_data(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "balancers": {
                k: {"endpoints": b.endpoints, "index": b.index, "affinity": b.affinity}
                for k, b in self.balancers.items()
            },
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ProxyProcess:
        proc = cls(int(data.get("seed", 0)))
        for key, b in (data.get("balancers") or {}).items():
            affinity = {c: [str(v[0]), float(v[1])] for c, v in b.get("affinity", {}).items()}
            proc.balancers[key] = _Balancer(list(b["endpoints"]), int(b["index"]), affinity)
        return proc

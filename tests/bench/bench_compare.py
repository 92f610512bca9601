"""Benchmark: the kube-proxy modes in the lab and the /compare page's data.

Figures (medians over repeated runs):
  lab_requests_<mode>_per_s        connections per second through a lab in each mode (seed
                                   scenario, 1,000 connections from a pod to the Service:
                                   netfilter walk, IPVS director or userspace proxy included)
  lab_ipvs_scheduler_<name>_per_s  the same through IPVS mode with each scheduler
  userspace_connect_retry_per_s    userspace proxy accepts per second with one of three
                                   endpoints refusing (round robin + retry)
  compare_modes_ms                 one request traced on a fresh lab in all four modes
  scale_measure_1000_s             the scale study's point at 1,000 Services (four modes
                                   rendered, traced, re-synced after an endpoint change)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from app.sim.compare import compare_modes, measure
from app.sim.ipvs.schedulers import SCHEDULERS
from app.sim.lab import MODES, Lab
from app.sim.userspace.proxy import ProxyProcess

REPEATS = 5
CONNECTIONS = 1000
SRC, DST = "pod/my-first-deploy-785c6c79d9-7bgf5", "svc/my-first-deploy:8080"


def _median(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _lab_rate(mode: str, scheduler: str | None = None) -> float:
    def once() -> None:
        lab = Lab.new("seed", mode, 1)
        if scheduler:
            lab.run(f"kubectl lab ipvs-scheduler {scheduler}")
        lab.request(SRC, DST, count=CONNECTIONS)

    setup = _median(lambda: Lab.new("seed", mode, 1), 3)
    return CONNECTIONS / max(_median(once, 3) - setup, 1e-9)


def _userspace_rate() -> float:
    endpoints = ("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")

    def once() -> None:
        proc = ProxyProcess(1)
        proc.update("ns/a/tcp", endpoints)
        for i in range(10_000):
            proc.connect("ns/a/tcp", f"c{i}", 0, 0.0, lambda ep: ep != "10.0.0.2:80")

    return 10_000 / _median(once)


def run() -> list[tuple[str, float, str]]:
    figures: list[tuple[str, float, str]] = []
    for mode in sorted(MODES):
        figures.append((f"lab_requests_{mode}_per_s", _lab_rate(mode), "conn/s"))
    if "ipvs" in MODES:
        for name in sorted(SCHEDULERS):
            figures.append((f"lab_ipvs_scheduler_{name}_per_s", _lab_rate("ipvs", name), "conn/s"))
    figures.append(("userspace_connect_retry_per_s", _userspace_rate(), "conn/s"))
    figures.append(("compare_modes_ms", _median(compare_modes, 3) * 1000, "ms"))
    start = time.perf_counter()
    measure.__wrapped__(1000)  # uncached
    figures.append(("scale_measure_1000_s", time.perf_counter() - start, "s"))
    return figures


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"{name}: {value:.6g} {unit}")

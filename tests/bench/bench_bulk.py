"""Benchmark: bulk requests (the load chart's 10,000 connections) walk without recording steps,
against the same walk recording every matched step, measured in the same run.

Figures:
  lab_requests_10000_s                        seed lab, `curl` x 10,000 from a pod to the Service
                                              (Lab.request: the first trace recorded, the rest not)
  lab_requests_recorded_10000_s               the same 10,000 connections, every one recorded
  lab_requests_speedup_10000                  recorded / unrecorded
  trace_count_only_10000_services_ms          one unrecorded packet through 10,000 Services
                                              (median; chain index on in both variants)
  trace_recorded_10000_services_ms            the same packet, matched steps recorded
  trace_count_only_speedup_10000_services     recorded / unrecorded
"""

from __future__ import annotations

import random
import statistics
import time

from bench_trace import build_ruleset, kube_ruleset_text, probe

from app.sim.conntrack import Conntrack
from app.sim.lab import Lab, traffic
from app.sim.netfilter.engine import trace_packet
from app.sim.node import Node

REQUESTS = 10_000
REPEATS = 25
SERVICE = "svc/my-first-deploy:8080"


def _source(lab: Lab) -> str:
    pod = sorted(p.name for p in lab.cluster.pods.values() if p.phase == "Running")[0]
    return f"pod/{pod}"


def time_lab_requests() -> float:
    """Seconds for one Lab.request of 10,000 connections on a fresh seed lab."""
    lab = Lab.new(scenario="seed", mode="iptables", seed=1)
    started = time.perf_counter()
    out = lab.request(_source(lab), SERVICE, count=REQUESTS)
    elapsed = time.perf_counter() - started
    if sum(out["endpoints"].values()) != REQUESTS:
        raise RuntimeError(f"not every request reached a pod: {out['failed']}")
    return elapsed


def time_lab_recorded() -> float:
    """The same connections, each walked with its matched steps recorded (the former way)."""
    lab = Lab.new(scenario="seed", mode="iptables", seed=1)
    planned = traffic.plan(lab, _source(lab), SERVICE, "tcp")
    world = lab.nodes[planned.node]
    node = world.kernel_node()
    parsed = traffic._parse(planned.packet)
    started = time.perf_counter()
    for _ in range(REQUESTS):
        traffic._one(lab, world, node, planned, parsed, record=True)
    return time.perf_counter() - started


def time_trace(services: int, *, record: bool) -> float:
    """Median milliseconds of one packet through `services` Services."""
    ruleset = build_ruleset(kube_ruleset_text(services))
    packet = probe(services)
    samples = []
    for n in range(REPEATS + 1):
        started = time.perf_counter()
        trace = trace_packet(
            ruleset, packet, Node(), Conntrack(), random.Random(n), matched_only=True, record=record
        )
        elapsed = (time.perf_counter() - started) * 1000
        if trace.final is None or trace.final.delivered != "out":
            raise RuntimeError("the probe packet did not reach an endpoint")
        if n:  # the first run builds the chain index: not part of the steady state
            samples.append(elapsed)
    return statistics.median(samples)


def run() -> list[tuple[str, float, str]]:
    bulk = min(time_lab_requests() for _ in range(3))
    recorded = min(time_lab_recorded() for _ in range(3))
    count_only = time_trace(10_000, record=False)
    traced = time_trace(10_000, record=True)
    return [
        ("lab_requests_10000_s", bulk, "s"),
        ("lab_requests_recorded_10000_s", recorded, "s"),
        ("lab_requests_speedup_10000", recorded / bulk, "x"),
        ("trace_count_only_10000_services_ms", count_only, "ms"),
        ("trace_recorded_10000_services_ms", traced, "ms"),
        ("trace_count_only_speedup_10000_services", traced / count_only, "x"),
    ]


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"{name}: {value:.6g} {unit}")

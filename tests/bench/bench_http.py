"""Benchmark: the JSON API's packet endpoint against a bare FastAPI endpoint, same server, same
run, loopback only (CONTRACTS.md "Benchmarks").

Figures:
  http_bare_rps             requests/s of GET /healthz (no database, no engine): the ceiling
  http_trace_rps            requests/s of POST /api/labs/{id}/requests, count 1: read the lab's
                            row (its version; the lab itself comes from the worker's cache of
                            parsed labs when cached at that version, see app/web/labs/cache.py),
                            trace one packet, save the lab and count the request in one UPDATE
  http_trace_vs_bare_ratio  http_trace_rps / http_bare_rps
  http_trace_p95_ms         95th percentile latency of that endpoint under 64 concurrent clients
  http_bare_p95_ms          the same for the bare endpoint
  http_trace_busy_503       answers 503 "database busy, retry" (SQLite locked past its timeout)
  http_trace_uncached_rps   the same endpoint when the worker never has the lab cached: each
                            client cycles through 5 labs of its own, 320 in all, more than the
                            worker's cache keeps (256), so every request rebuilds its lab from
                            the row (what a request costs after another worker saved the lab)
  http_trace_uncached_p95_ms  its p95

One uvicorn worker on 127.0.0.1 with a fresh SQLite file. Each client owns its own lab (the
per-lab limit is 120 actions a minute; every client stays far below it). Bounded: 64 clients,
12 requests each per phase, every request with a 30 s timeout, the server stopped at the end.
"""

from __future__ import annotations

import itertools
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from live_server import live_server

CLIENTS = 64
PER_CLIENT = 12
TIMEOUT = 30.0
BODY = {"from": "external", "to": "svc/my-first-deploy:8080", "proto": "tcp", "count": 1}
SPREAD = 5  # labs per client in the uncached phase: 320 labs, over the cache's 256


def _phase(clients: list[httpx.Client], call) -> tuple[float, list[float], int]:
    """Every client makes PER_CLIENT calls at once; (successful requests/s, latencies in ms of
    the successful ones, answers 503 "database busy"). Any other failure stops the benchmark."""
    busy = 0

    def one(index: int) -> list[float]:
        nonlocal busy
        took = []
        for _ in range(PER_CLIENT):
            start = time.perf_counter()
            reply = call(clients[index], index)
            if reply.status_code == 503:
                busy += 1
                continue
            reply.raise_for_status()
            took.append((time.perf_counter() - start) * 1000)
        return took

    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        latencies = [ms for batch in pool.map(one, range(CLIENTS)) for ms in batch]
    return len(latencies) / (time.perf_counter() - start), latencies, busy


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def _create(base: str) -> dict[str, str]:
    """A lab and its bearer token, made by a script with no session (so no CSRF token)."""
    with httpx.Client(base_url=base, timeout=TIMEOUT) as script:
        made = script.post("/api/labs", json={"scenario": "seed", "mode": "iptables"})
        made.raise_for_status()
        return made.json()


def _send(client: httpx.Client, lab: dict[str, str]) -> httpx.Response:
    auth = {"Authorization": f"Bearer {lab['token']}"}
    return client.post(f"/api/labs/{lab['id']}/requests", json=BODY, headers=auth)


def run() -> list[tuple[str, float, str]]:
    with live_server(workers=1) as base:
        clients = [httpx.Client(base_url=base, timeout=TIMEOUT) for _ in range(CLIENTS)]
        try:
            labs = [_create(base) for _ in clients]
            bare_rps, bare, _ = _phase(clients, lambda c, i: c.get("/healthz"))
            trace_rps, traced, busy = _phase(clients, lambda c, i: _send(c, labs[i]))
            with ThreadPoolExecutor(CLIENTS) as pool:
                spread = list(pool.map(lambda _: [_create(base) for _ in range(SPREAD)], clients))
            turns = [itertools.count() for _ in clients]
            cold_rps, cold, _ = _phase(
                clients, lambda c, i: _send(c, spread[i][next(turns[i]) % SPREAD])
            )
        finally:
            for client in clients:
                client.close()
    return [
        ("http_bare_rps", round(bare_rps, 1), "req/s"),
        ("http_trace_rps", round(trace_rps, 1), "req/s"),
        ("http_trace_vs_bare_ratio", round(trace_rps / bare_rps, 3), "x"),
        ("http_trace_p95_ms", round(_p95(traced), 1), "ms"),
        ("http_bare_p95_ms", round(_p95(bare), 1), "ms"),
        ("http_trace_busy_503", busy, "answers"),
        ("http_trace_uncached_rps", round(cold_rps, 1), "req/s"),
        ("http_trace_uncached_p95_ms", round(_p95(cold), 1), "ms"),
    ]

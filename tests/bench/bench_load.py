"""Benchmark: a class of learners working in their labs at once, against a real server with two
workers on PostgreSQL (a fresh database for the run; SQLite, with a note, if PostgreSQL cannot
start), loopback only.

Each simulated learner does what a browser on /lab does: opens the page (which starts a session
and a lab, and carries the CSRF token), then, after a think time drawn from a seeded generator,
one thing at a time: a console line (`kubectl get pods`, `iptables -t nat -L -n`, `kubectl
scale`, `iptables -A`/`-D`), packets from the player's form, the rules panel, a page reload. Every
form carries the lab version the last answer showed, as the page does. One asyncio process
drives all learners (httpx, one connection each); its own CPU use is reported so a starved
server would show.

Figures:
  load_learners, load_seconds   the class and how long it worked (env KPL_LOAD_LEARNERS,
                                KPL_LOAD_SECONDS; 200 and 120 by default)
  load_requests, load_rps       answers received during the run, and per second
  load_errors                   answers other than 200, and timeouts or connection errors;
                                load_errors_<cause> per cause (e.g. 503, 409, timeout)
  load_p50_ms ... load_p99_ms   latency of every request; load_<kind>_p95_ms per kind
  load_ceiling_rps              GET /healthz (no database, no engine) on the same server right
                                after, 64 at a time: what the server setup can answer at most
  load_vs_ceiling_ratio         load_rps / load_ceiling_rps
  load_client_cpu_pct           the load generator's CPU, percent of one core (and
                                load_ceiling_client_cpu_pct during the ceiling phase: near 100
                                means the client, not the server, set the ceiling)
  load_server_cpu_pct           the server's workers' CPU during the run, percent of one core,
                                and load_server_cpu_ms_per_request: that CPU per answer
  load_host_loadavg             the machine's 1-minute load average at the end (other work
                                competing for the same cores makes every figure worse)
  load_postgresql               1 on PostgreSQL, 0 on the SQLite fallback

Bounded: the learners stop by themselves after the run time, every request has a 30 s timeout,
the ceiling phase lasts 10 s, the server is stopped and the database dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from live_server import ROOT, start
from pg_admin import create_database, drop_database

LEARNERS = int(os.environ.get("KPL_LOAD_LEARNERS", "200"))
SECONDS = float(os.environ.get("KPL_LOAD_SECONDS", "120"))
SEED = 20261126
# A learner reads an answer and types or clicks the next thing: 2-6 s between actions is quick
# for a beginner reading iptables output, and never the 10 clicks a second of a robot.
THINK = (2.0, 6.0)
RAMP = 10.0  # learners arrive over the first seconds, not all in one instant
TIMEOUT = 30.0
CEILING_SECONDS = 10.0
CEILING_CONCURRENCY = 64
TO = "svc/my-first-deploy:8080"

LAB_ID = re.compile(r'hx-post="/lab/([^/"]+)/run"')
VERSION = re.compile(r'id="lab-version" name="version" value="(\d+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Tally:
    """Latencies of the answers that were fine, and causes of the ones that were not."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)

    def count(self) -> int:
        return sum(len(values) for values in self.latencies.values()) + sum(self.errors.values())


@dataclass
class Learner:
    """One browser tab on /lab: its cookie jar, lab, version and CSRF token."""

    client: httpx.AsyncClient
    rng: random.Random
    index: int
    lab_id: str = ""
    version: str = ""
    csrf: dict[str, str] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)  # sources this learner has dropped
    replicas: int = 1

    def read_page(self, html: str) -> None:
        """What the browser keeps from a full page: the lab, its version, the CSRF token.
        The token is taken here and only here (the meta tag htmx and scripts read)."""
        found = LAB_ID.search(html)
        if found:
            self.lab_id = found.group(1)
        self.read_version(html)
        token = CSRF_META.search(html)
        self.csrf = {"X-CSRF-Token": token.group(1)} if token else {}

    def read_version(self, html: str) -> None:
        found = VERSION.search(html)
        if found:
            self.version = found.group(1)

    def next_action(self) -> tuple[str, str, str, dict[str, str] | None]:
        """(kind, method, path, form) of the next thing this learner does."""
        run = f"/lab/{self.lab_id}/run"
        roll = self.rng.random()
        if roll < 0.15:
            return "console_read", "POST", run, {"command": "kubectl get pods"}
        if roll < 0.30:
            return "console_read", "POST", run, {"command": "iptables -t nat -L -n"}
        if roll < 0.40:
            self.replicas = self.rng.choice([r for r in range(1, 6) if r != self.replicas])
            line = f"kubectl scale deployment/my-first-deploy --replicas={self.replicas}"
            return "console_edit", "POST", run, {"command": line}
        if roll < 0.50:
            if self.rules and self.rng.random() < 0.5:
                line = f"iptables -D INPUT -s {self.rules.pop()} -j DROP"
            else:
                self.rules.append(
                    f"10.{self.index % 250}.{len(self.rules)}.{self.rng.randint(1, 254)}"
                )
                line = f"iptables -A INPUT -s {self.rules[-1]} -j DROP"
            return "console_edit", "POST", run, {"command": line}
        if roll < 0.70:
            count = self.rng.choice(["1", "1", "1", "10", "100"])
            form = {"source": "external", "to": TO, "proto": "tcp", "count": count}
            return "packets", "POST", f"/lab/{self.lab_id}/request", form
        if roll < 0.90:
            fmt = self.rng.choice(["tree", "save"])
            return "rules", "GET", f"/lab/{self.lab_id}/rules?fmt={fmt}", None
        return "page", "GET", "/lab", None


async def _request(
    learner: Learner, tally: Tally, kind: str, method: str, path: str, form: dict[str, str] | None
) -> str | None:
    """Send one request as the browser would; the body if it answered 200, else None."""
    headers = {"HX-Request": "true"} if kind != "page" else {}
    if method == "POST":
        headers.update(learner.csrf)
        form = {**(form or {}), "version": learner.version} if learner.version else form
    start = time.perf_counter()
    try:
        reply = await learner.client.request(method, path, data=form, headers=headers)
    except httpx.TimeoutException:
        tally.errors["timeout"] += 1
        return None
    except httpx.HTTPError as error:
        tally.errors[type(error).__name__] += 1
        return None
    took = (time.perf_counter() - start) * 1000
    if reply.status_code != 200:
        tally.errors[str(reply.status_code)] += 1
        return None
    tally.latencies[kind].append(took)
    return reply.text


async def _learner(base: str, index: int, until: float, tally: Tally) -> None:
    rng = random.Random(SEED * 1000 + index)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT, limits=limits) as client:
        learner = Learner(client, rng, index)
        await asyncio.sleep(rng.uniform(0, min(RAMP, SECONDS / 4)))
        while time.monotonic() < until and not learner.lab_id:
            page = await _request(learner, tally, "page", "GET", "/lab", None)
            if page is not None:
                learner.read_page(page)
            else:
                await asyncio.sleep(rng.uniform(*THINK))
        while True:
            await asyncio.sleep(rng.uniform(*THINK))
            if time.monotonic() >= until:
                return
            kind, method, path, form = learner.next_action()
            body = await _request(learner, tally, kind, method, path, form)
            if body is None:
                continue
            if kind == "page":
                learner.read_page(body)
            elif method == "POST":
                learner.read_version(body)


async def _ceiling(base: str) -> float:
    """Requests/s of GET /healthz, CEILING_CONCURRENCY at a time for CEILING_SECONDS."""
    done = 0
    limits = httpx.Limits(max_connections=CEILING_CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT, limits=limits) as client:
        until = time.monotonic() + CEILING_SECONDS

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < until:
                (await client.get("/healthz")).raise_for_status()
                done += 1

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CEILING_CONCURRENCY)))
        return done / (time.monotonic() - start)


def _cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _group_cpu_seconds(group: int) -> float:
    """CPU seconds (user + system) of the live processes in one process group (/proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # After the command name: state ppid pgrp ... utime (11) stime (12), 0-based here.
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def _postgres() -> str | None:
    """The URL of the loopback PostgreSQL, or None (saying why on stderr). `make bench` has
    started it and exports its URL or the reason it failed; run alone, start it here."""
    url = os.environ.get("KPL_TEST_POSTGRES_URL", "")
    reason = os.environ.get("KPL_TEST_POSTGRES_SKIP", "")
    if not url and not reason:
        script = ROOT / "scripts" / "postgres.sh"
        try:
            subprocess.run([script, "start"], check=True, capture_output=True, timeout=300)
            url = subprocess.run(
                [script, "url"], check=True, capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError) as error:
            stderr = getattr(error, "stderr", None)
            said = stderr.decode(errors="replace").strip() if isinstance(stderr, bytes) else ""
            reason = said or str(error)
    if not url:
        print(f"bench_load: PostgreSQL unavailable ({reason}); running on SQLite", file=sys.stderr)
        return None
    return url


@contextmanager
def _database() -> Iterator[tuple[str, bool]]:
    """A fresh PostgreSQL database from scripts/postgres.sh (dropped afterwards), or an SQLite
    file when PostgreSQL cannot start; yields (url, on PostgreSQL)."""
    base = _postgres()
    if base is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'load.sqlite3'}", False
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    name = f"kpl_load_{secrets.token_hex(4)}"
    admin = create_engine(make_url(base), isolation_level="AUTOCOMMIT")
    create_database(admin, name)
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False), True
    finally:
        try:
            drop_database(admin, name)
        except DBAPIError as error:  # reported, never allowed to throw away the run's figures
            print(f"note: database {name} left behind: {error.orig}", file=sys.stderr)
        admin.dispose()


def _quantile(values: list[float], q: int) -> float:
    """The q-th percentile (1-99)."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def _load(base: str) -> tuple[Tally, float]:
    tally = Tally()
    start = time.monotonic()
    until = start + SECONDS
    await asyncio.gather(*(_learner(base, i, until, tally) for i in range(LEARNERS)))
    return tally, time.monotonic() - start


def run() -> list[tuple[str, float, str]]:
    with _database() as (url, on_postgresql), tempfile.TemporaryDirectory() as tmp:
        server = start(url, workers=2, log=Path(tmp) / "server.log")
        try:
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            server_before = _group_cpu_seconds(server.process.pid)
            tally, elapsed = asyncio.run(_load(server.base))
            server_cpu = _group_cpu_seconds(server.process.pid) - server_before
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            ceiling = asyncio.run(_ceiling(server.base))
            ceiling_cpu = _cpu_seconds(resource.getrusage(resource.RUSAGE_SELF)) - _cpu_seconds(
                cpu_after
            )
        finally:
            server.stop()
    client_cpu = _cpu_seconds(cpu_after) - _cpu_seconds(cpu_before)
    every = [ms for values in tally.latencies.values() for ms in values]
    rps = tally.count() / elapsed
    figures: list[tuple[str, float, str]] = [
        ("load_learners", LEARNERS, "learners"),
        ("load_seconds", round(elapsed, 1), "s"),
        ("load_requests", tally.count(), "requests"),
        ("load_errors", sum(tally.errors.values()), "requests"),
        *((f"load_errors_{cause}", n, "requests") for cause, n in sorted(tally.errors.items())),
        ("load_rps", round(rps, 1), "req/s"),
        ("load_p50_ms", round(_quantile(every, 50), 1), "ms"),
        ("load_p95_ms", round(_quantile(every, 95), 1), "ms"),
        ("load_p99_ms", round(_quantile(every, 99), 1), "ms"),
        *(
            (f"load_{kind}_p95_ms", round(_quantile(values, 95), 1), "ms")
            for kind, values in sorted(tally.latencies.items())
        ),
        ("load_ceiling_rps", round(ceiling, 1), "req/s"),
        ("load_vs_ceiling_ratio", round(rps / ceiling, 3), "x"),
        ("load_client_cpu_pct", round(100 * client_cpu / elapsed, 1), "%"),
        ("load_ceiling_client_cpu_pct", round(100 * ceiling_cpu / CEILING_SECONDS, 1), "%"),
        ("load_server_cpu_pct", round(100 * server_cpu / elapsed, 1), "%"),
        ("load_server_cpu_ms_per_request", round(1000 * server_cpu / tally.count(), 1), "ms"),
        # Other work on the machine shares its cores with the server: read the figures with it.
        ("load_host_loadavg", round(os.getloadavg()[0], 2), "runnable"),
        ("load_postgresql", int(on_postgresql), "flag"),
    ]
    return figures

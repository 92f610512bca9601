"""Prometheus metrics: what the server counts, and the `/metrics` page that exposes them.

Counters and the histogram live in this process. With several uvicorn workers,
`kube-proxy-lab serve` sets `PROMETHEUS_MULTIPROC_DIR` before any worker starts, so each
worker writes its values to files there and `/metrics`, whichever worker answers, sums them
all (prometheus_client's multiprocess mode). Gauges that describe shared state
(`kpl_active_labs`) are read from the database at scrape time instead, which is right across
workers by construction. Labels hold route templates and fixed words only, never user data.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Engine, func, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select
from starlette.responses import Response

from app.store.models import Lab as LabRow

log = logging.getLogger(__name__)

#: A lab counts as active when it was created, saved or given a command this recently.
ACTIVE_LAB_MINUTES = 15
# Latency buckets in seconds: a page answers in milliseconds, a 10,000-packet load in seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_LABELS = ("method", "route", "status")

# registry=None: each scrape builds its own registry (see `exposition`), so the module can be
# imported by any number of apps in one process (the tests) without duplicate registrations.
REQUESTS = Counter(
    "kpl_http_requests",
    "HTTP requests answered, by method, route template and status class",
    HTTP_LABELS,
    registry=None,
)
DURATION = Histogram(
    "kpl_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status class",
    HTTP_LABELS,
    buckets=BUCKETS,
    registry=None,
)
TRACES = Counter(
    "kpl_traces",
    "Packets traced through the simulated rules, by kube-proxy mode",
    ("mode",),
    registry=None,
)


def count_traces(mode: str, packets: int) -> None:
    """Add `packets` traced packets in `mode` (one call per request, so it stays cheap)."""
    TRACES.labels(mode).inc(packets)


# The labelled children per (method, route, status class): a bounded set (fixed methods, the
# app's routes), looked up here without the lock `labels()` takes, a third of its cost.
_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    labels = (method, route, f"{status // 100}xx")
    children = _children.get(labels)
    if children is None:
        children = _children[labels] = (REQUESTS.labels(*labels), DURATION.labels(*labels))
    children[0].inc()
    children[1].observe(seconds)


def _package_version() -> str:
    try:
        return version("kube-proxy-lab")
    except PackageNotFoundError:
        return "unknown"


class AppCollector:
    """Metrics computed when scraped: build information and labs active in the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "kpl_build_info",
            "Always 1; the labels say which version of the app and of Python run",
            labels=["version", "python"],
        )
        info.add_metric([_package_version(), platform.python_version()], 1)
        yield info
        active = active_labs(self.engine)
        if active is not None:  # a database that is down gives no figure, not a wrong one
            yield GaugeMetricFamily(
                "kpl_active_labs",
                f"Labs created, changed or given a command in the last {ACTIVE_LAB_MINUTES} min",
                value=active,
            )


def active_labs(engine: Engine, now: float | None = None) -> int | None:
    """How many labs were touched in the last `ACTIVE_LAB_MINUTES` (None if the database
    cannot answer). `updated` moves when the lab is created or saved; `rate_minute` is the
    minute of its last console command or request, so a learner who only runs `kubectl get`
    still counts."""
    now = time.time() if now is None else now
    cutoff = datetime.fromtimestamp(now, UTC) - timedelta(minutes=ACTIVE_LAB_MINUTES)
    first_minute = int(now // 60) - ACTIVE_LAB_MINUTES
    query = select(func.count()).where(
        or_(col(LabRow.updated) >= cutoff, col(LabRow.rate_minute) >= first_minute)
    )
    try:
        with Session(engine) as session:
            return int(session.exec(query).one())
    except SQLAlchemyError as error:
        log.warning("kpl_active_labs left out of /metrics: %s", type(error).__name__)
        return None


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(engine: Engine) -> bytes:
    """The text exposition of every metric: this process's, or all workers' in multiprocess
    mode, plus the ones computed from the database."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        for metric in (REQUESTS, DURATION, TRACES):
            registry.register(metric)
    registry.register(AppCollector(engine))
    return generate_latest(registry)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format; a plain GET with no cookie or token, so nothing to protect."""
    return Response(exposition(request.app.state.engine), media_type=CONTENT_TYPE_LATEST)

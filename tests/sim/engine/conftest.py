"""Fixtures of the engine tests: the seed ruleset, a one-call trace, a stateful node."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import CLIENT, Lab

from app.sim.netfilter.engine import trace_json

HERE = Path(__file__).parent


@pytest.fixture
def seed_rules() -> str:
    """kube-proxy's rules for the seed's my-first-deploy (ClusterIP 10.97.139.74:8080 over
    10.244.1.137/138:8080), a NodePort Service `web` (30080 -> 10.244.2.6:80) and a Service
    without endpoints (10.96.0.99:80, REJECT)."""
    return (HERE / "seed_rules.txt").read_text()


@pytest.fixture
def trace() -> Callable[..., dict[str, Any]]:
    """trace(ruleset_text, seed=0, matched_only=False, **packet keys) -> the trace JSON."""

    def run(text: str, *, seed: int = 0, matched_only: bool = False, **packet: Any):
        packet.setdefault("origin", "external")
        packet.setdefault("src", CLIENT)
        packet.setdefault("proto", "tcp")
        packet.setdefault("sport", 40000)
        return trace_json(text, packet, seed=seed, matched_only=matched_only)

    return run


@pytest.fixture
def lab() -> type[Lab]:
    """Lab(ruleset_text, **node) keeps conntrack, counters and lists across packets."""
    return Lab

"""Properties every scheduler keeps, over random services (hypothesis): no new decision goes
to a weight-0 or overloaded real server; wrr hands out picks in proportion to the weights over
a full period; rr visits every usable server once per round."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from app.sim.ipvs.director import Ipvs
from app.sim.ipvs.schedulers import SCHEDULERS
from app.sim.ipvs.schedulers.base import Request
from tests.sim.ipvs.ipvs_helpers import VIP

servers = st.lists(
    st.tuples(st.integers(0, 5), st.booleans(), st.integers(0, 3), st.integers(0, 3)),
    min_size=1,
    max_size=8,
)


def _build(name: str, spec: list[tuple[int, bool, int, int]]):
    ipvs = Ipvs()
    svc = ipvs.add_service("TCP", VIP, 80, name)
    for i, (weight, overloaded, active, inactive) in enumerate(spec):
        d = ipvs.add_dest(svc, f"10.244.0.{i + 1}", 8080, weight=weight)
        d.overloaded, d.activeconns, d.inactconns = overloaded, active, inactive
    svc.scheduler.changed(svc)
    return svc


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(SCHEDULERS)), spec=servers, seed=st.integers(0, 1000))
def test_no_new_decision_goes_to_a_quiesced_or_overloaded_server(name, spec, seed) -> None:
    svc = _build(name, spec)
    rng = random.Random(seed)
    for i in range(12):
        req = Request(f"192.168.{i}.{seed % 250 + 1}", 1024 + i, VIP, 80, rng)
        pick = svc.scheduler.schedule(svc, req)
        if pick.dest is not None:
            assert pick.dest.weight > 0 and not pick.dest.overloaded
        assert pick.reason["en"] and pick.reason["zh"]


@settings(max_examples=40, deadline=None)
@given(weights=st.lists(st.integers(1, 6), min_size=1, max_size=6))
def test_wrr_period_is_proportional_to_weights(weights: list[int]) -> None:
    svc = _build("wrr", [(w, False, 0, 0) for w in weights])
    n = len(weights)
    rng = random.Random(0)
    for _ in range(n):  # the plain round after servers were added one by one
        svc.scheduler.schedule(svc, Request("1.1.1.1", 1, VIP, 80, rng))
    period = sum(weights)
    got = Counter(svc.scheduler.schedule(svc, Request("1.1.1.1", 1, VIP, 80, rng)).dest.addr
                  for _ in range(period))  # fmt: skip
    # di divides every weight, so a full sweep of cw hands each server weight/di picks per
    # period of sum/di; over `sum` picks that is exactly `weight` each.
    assert got == {d.addr: d.weight for d in svc.dests}


@settings(max_examples=40, deadline=None)
@given(weights=st.lists(st.integers(0, 3), min_size=1, max_size=8))
def test_rr_round_visits_every_usable_server_once(weights: list[int]) -> None:
    svc = _build("rr", [(w, False, 0, 0) for w in weights])
    usable = [d for d in svc.dests if d.weight > 0]
    rng = random.Random(0)
    picks = [svc.scheduler.schedule(svc, Request("1.1.1.1", 1, VIP, 80, rng)).dest
             for _ in range(len(usable))]  # fmt: skip
    assert picks == usable  # in kernel list order, starting at the front

"""The userspace proxy process: round robin, ClientIP affinity, retry of a refused endpoint
(pkg/proxy/userspace roundrobin.go and proxysocket.go), and its state as data."""

from __future__ import annotations

import json

from app.sim.userspace.proxy import DIAL_TIMEOUTS, ProxyProcess

EPS = ("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")


def _proc() -> ProxyProcess:
    proc = ProxyProcess(seed=3)
    proc.update("ns/a/tcp", EPS)
    return proc


def test_round_robin_visits_every_endpoint_once_per_round():
    proc = _proc()
    picks = [proc.connect("ns/a/tcp", "c", 0, 0.0, lambda ep: True).endpoint for _ in range(6)]
    assert sorted(picks[:3]) == sorted(EPS)
    assert picks[3:] == picks[:3]


def test_refused_endpoint_is_skipped_and_listed():
    proc = _proc()
    dead = proc.balancers["ns/a/tcp"].endpoints[0]
    choice = proc.connect("ns/a/tcp", "c", 0, 0.0, lambda ep: ep != dead)
    assert choice.endpoint is not None and choice.endpoint != dead
    assert [(a.endpoint, a.ok) for a in choice.attempts] == [(dead, False), (choice.endpoint, True)]


def test_every_endpoint_refused_gives_up_after_four_attempts():
    proc = _proc()
    choice = proc.connect("ns/a/tcp", "c", 0, 0.0, lambda ep: False)
    assert choice.endpoint is None
    assert len(choice.attempts) == len(DIAL_TIMEOUTS) == 4


def test_no_endpoints_means_no_attempt():
    proc = ProxyProcess()
    proc.update("ns/b/tcp", ())
    choice = proc.connect("ns/b/tcp", "c", 0, 0.0, lambda ep: True)
    assert choice.endpoint is None and choice.attempts == ()


def test_client_ip_affinity_sticks_within_the_timeout_then_expires():
    proc = _proc()
    first = proc.connect("ns/a/tcp", "1.1.1.1", 10, 0.0, lambda ep: True)
    again = [proc.connect("ns/a/tcp", "1.1.1.1", 10, t, lambda ep: True) for t in (1, 5, 9)]
    assert {c.endpoint for c in again} == {first.endpoint}
    assert all(c.attempts[0].via == "affinity" for c in again)
    other = proc.connect("ns/a/tcp", "2.2.2.2", 10, 9.5, lambda ep: True)
    assert other.endpoint != first.endpoint  # a new client takes the next in the round
    late = proc.connect("ns/a/tcp", "1.1.1.1", 10, 30.0, lambda ep: True)
    assert late.attempts[0].via == "round-robin"


def test_affinity_is_reset_when_the_sticky_endpoint_refuses():
    proc = _proc()
    first = proc.connect("ns/a/tcp", "1.1.1.1", 60, 0.0, lambda ep: True).endpoint
    choice = proc.connect("ns/a/tcp", "1.1.1.1", 60, 1.0, lambda ep: ep != first)
    assert choice.attempts[0].endpoint == first and not choice.attempts[0].ok
    assert choice.endpoint != first and choice.attempts[1].via == "round-robin"


def test_same_endpoints_keep_the_position_a_change_starts_over():
    proc = _proc()
    proc.connect("ns/a/tcp", "c", 0, 0.0, lambda ep: True)
    proc.update("ns/a/tcp", tuple(reversed(EPS)))  # the same set: nothing changes
    assert proc.balancers["ns/a/tcp"].index == 1
    proc.update("ns/a/tcp", EPS[:2])
    assert proc.balancers["ns/a/tcp"].index == 0
    assert sorted(proc.balancers["ns/a/tcp"].endpoints) == sorted(EPS[:2])


def test_state_survives_storage():
    proc = _proc()
    proc.connect("ns/a/tcp", "1.1.1.1", 60, 0.0, lambda ep: True)
    copy = ProxyProcess.from_data(json.loads(json.dumps(proc.to_data())))
    picks = [
        p.connect("ns/a/tcp", "9.9.9.9", 0, 1.0, lambda ep: True).endpoint for p in (proc, copy)
    ]
    assert picks[0] == picks[1]
    sticky = [p.connect("ns/a/tcp", "1.1.1.1", 60, 2.0, lambda ep: True) for p in (proc, copy)]
    assert sticky[0] == sticky[1]

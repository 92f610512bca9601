"""IPVS state stored as data and read back continues exactly where it stopped."""

from __future__ import annotations

import json
import random

import pytest

from app.sim.ipvs.director import Ipvs
from app.sim.ipvs.ipvsadm import list_connections, list_services
from app.sim.ipvs.store import from_data, to_data
from tests.sim.ipvs.ipvs_helpers import VIP, service
from tests.sim.ipvs.test_ipvs_schedulers import KERNEL_NAMES


def _traffic(ipvs: Ipvs, start: int, n: int, rng: random.Random) -> list[str]:
    out = []
    for i in range(start, start + n):
        d = ipvs.process("TCP", f"192.168.1.{i % 7}", 40000 + i, VIP, 80, now=float(i), rng=rng)
        out.append(d.dest.key if d.dest else d.verdict)
        if d.conn is not None and i % 3 == 0:
            ipvs.tcp_event(d.conn, "ESTABLISHED", float(i))
    return out


@pytest.mark.parametrize("name", KERNEL_NAMES)
@pytest.mark.parametrize("timeout", [0, 30])
def test_round_trip_continues_identically(name: str, timeout: int) -> None:
    ipvs = Ipvs()
    service(name, [("A", 3), ("B", 1), ("C", 2), ("D", 0)], ipvs, timeout=timeout)
    _traffic(ipvs, 0, 10, random.Random(1))
    copy = from_data(json.loads(json.dumps(to_data(ipvs))))
    assert list_services(copy) == list_services(ipvs)
    assert list_connections(copy, 10.0) == list_connections(ipvs, 10.0)
    assert _traffic(copy, 10, 20, random.Random(2)) == _traffic(ipvs, 10, 20, random.Random(2))


def test_deleted_real_server_survives_in_its_connections() -> None:
    ipvs = Ipvs()
    svc, _ = service("rr", [("A", 1), ("B", 1)], ipvs)
    d = ipvs.process("TCP", "1.1.1.1", 1, VIP, 80)
    svc.del_dest(d.dest)
    copy = from_data(to_data(ipvs))
    again = copy.process("TCP", "1.1.1.1", 1, VIP, 80, syn=False)
    assert again.verdict == "DROP" and again.dest.key == d.dest.key

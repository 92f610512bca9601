"""Bulk requests walk without recording (no steps, no explanations) and must decide exactly as
a recorded trace does: on random kube-proxy-like and random filter rulesets, the same packets
with the same seed give the same verdicts, endpoints, conntrack entries, counters, `-m recent`
lists, `-m statistic --mode nth` state and the same position in the random generator."""

from __future__ import annotations

import random
from typing import Any

import pytest
from engine_helpers import Lab
from test_engine_index import packets as filter_packets
from test_engine_index import random_ruleset as random_filter_ruleset

from app.sim.netfilter.branches import probability_31
from app.sim.packet import Packet

CLIENTS = ["192.168.49.100", "192.168.49.101", "10.244.0.7"]


def _service(rng: random.Random, i: int) -> tuple[list[str], list[str]]:
    """Chains and rules of one Service: a statistic cascade (random or nth), sometimes
    ClientIP affinity through `-m recent`, endpoints that DNAT and mark for masquerade."""
    n = rng.randint(1, 4)
    affinity = rng.random() < 0.4
    nth = rng.random() < 0.2
    svc, seps = f"SVC{i}", [f"SEP{i}-{j}" for j in range(n)]
    rules = [f"-A KUBE-SERVICES -d 10.96.0.{i + 1}/32 -p tcp -m tcp --dport 80 -j {svc}"]
    if rng.random() < 0.5:
        rules.append(f"-A {svc} ! -s 10.244.0.0/16 -p tcp -j KUBE-MARK-MASQ")
    if affinity:
        rules += [
            f"-A {svc} -m recent --name {sep} --rcheck --seconds 10800 --reap --rsource -j {sep}"
            for sep in seps
        ]
    for j, sep in enumerate(seps[:-1]):
        pick = (
            f"-m statistic --mode nth --every {n - j} --packet 0"
            if nth
            else f"-m statistic --mode random --probability {1 / (n - j):.11f}"
        )
        rules.append(f"-A {svc} {pick} -j {sep}")
    rules.append(f"-A {svc} -j {seps[-1]}")
    for j, sep in enumerate(seps):
        ip = f"10.244.{i % 200 + 1}.{j + 2}"
        rules.append(f"-A {sep} -s {ip}/32 -j KUBE-MARK-MASQ")
        recent = f"-m recent --name {sep} --rsource --set " if affinity else ""
        rules.append(f"-A {sep} -p tcp {recent}-m tcp -j DNAT --to-destination {ip}:8080")
    return [svc, *seps], rules


def random_nat_ruleset(seed: int, services: int = 6) -> str:
    """A kube-proxy-shaped ruleset with random cascades, affinity and filter drops."""
    rng = random.Random(seed)
    chains = ["KUBE-SERVICES", "KUBE-MARK-MASQ", "KUBE-POSTROUTING"]
    rules = [
        "-A PREROUTING -j KUBE-SERVICES",
        "-A OUTPUT -j KUBE-SERVICES",
        "-A POSTROUTING -j KUBE-POSTROUTING",
        "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MASQUERADE --random-fully",
    ]
    for i in range(services):
        declared, more = _service(rng, i)
        chains += declared
        rules += more
    drop = f"{rng.uniform(0.05, 0.3):.11f}"
    return "\n".join(
        [
            "*filter",
            ":INPUT ACCEPT [0:0]",
            ":FORWARD ACCEPT [0:0]",
            ":OUTPUT ACCEPT [0:0]",
            "-A FORWARD -m conntrack --ctstate INVALID -j DROP",
            f"-A FORWARD -m statistic --mode random --probability {drop} -j REJECT",
            "COMMIT",
            "*nat",
            *(f":{hook} ACCEPT [0:0]" for hook in ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")),
            *(f":{chain} - [0:0]" for chain in chains),
            *rules,
            "COMMIT",
            "",
        ]
    )


def nat_packets(seed: int, count: int = 80, services: int = 6) -> list[Packet]:
    """New connections to the Services (and one address no rule knows), with some packets
    of a connection already seen (conntrack then decides, not the rules)."""
    rng = random.Random(seed + 1)
    out: list[Packet] = []
    for n in range(count):
        if out and rng.random() < 0.15:
            out.append(rng.choice(out))
            continue
        dst = f"10.96.0.{rng.randint(1, services + 1)}"
        out.append(Packet(rng.choice(CLIENTS), dst, "tcp", 40000 + n, 80))
    return out


def _outcome(lab: Lab, packet: Packet, *, record: bool, full: bool = False) -> Any:
    lab.clock += 1.0
    kwargs = {"matched_only": False, "use_index": False} if full else {"matched_only": True}
    trace = lab.send(packet, record=record, **kwargs)
    assert trace.final is not None
    return trace.final.to_json(), trace.conntrack, trace.routes


def _state(lab: Lab) -> Any:
    """Everything a later packet or a listing could see."""
    counters = [
        (
            table.name,
            chain.name,
            chain.packets,
            chain.bytes,
            [(r.packets, r.bytes) for r in chain.rules],
        )
        for table in lab.ruleset.tables.values()
        for chain in table.chains.values()
    ]
    recent = {name: repr(entries) for name, entries in lab.node.recent.items()}
    nth = sorted(repr(value) for value in lab.node.rule_state.values())
    return counters, lab.conntrack.to_data(), recent, nth, lab.rng.getstate()


def _compare(text: str, sent: list[Packet], *, full: bool = False) -> None:
    recorded, bulk = Lab(text), Lab(text)
    recorded.rng.seed(7)
    bulk.rng.seed(7)
    for packet in sent:
        expected = _outcome(recorded, packet, record=True, full=full)
        assert _outcome(bulk, packet, record=False) == expected
    assert _state(bulk) == _state(recorded)


@pytest.mark.parametrize("seed", range(40))
def test_unrecorded_walk_decides_as_the_recorded_one_on_kube_rulesets(seed: int) -> None:
    _compare(random_nat_ruleset(seed), nat_packets(seed))


@pytest.mark.parametrize("seed", range(10))
def test_unrecorded_walk_decides_as_the_full_trace(seed: int) -> None:
    _compare(random_nat_ruleset(seed), nat_packets(seed), full=True)


@pytest.mark.parametrize("seed", range(30))
def test_unrecorded_walk_decides_as_the_recorded_one_on_filter_rulesets(seed: int) -> None:
    _compare(random_filter_ruleset(seed), filter_packets(seed) * 3)


def test_unrecorded_walk_builds_no_steps_but_keeps_the_outcome() -> None:
    lab = Lab(random_nat_ruleset(3))
    trace = lab.send(Packet(CLIENTS[0], "10.96.0.1", "tcp", 40000, 80), record=False)
    assert trace.steps == [] and trace.visits == []
    assert trace.final is not None and trace.final.verdict in ("ACCEPT", "REJECT")
    assert trace.conntrack is not None and trace.conntrack["dnat_to"]  # the load chart's key


def test_unrecorded_walk_draws_exactly_once_per_statistic_rule() -> None:
    """Every `-m statistic --mode random` rule reached draws one 31-bit number, in rule order,
    recorded or not (xt_statistic.c): a second generator fed the same seed predicts each
    endpoint, so one extra or missing draw in either mode shows at once."""
    cascade = "\n".join(
        [
            "*nat",
            ":PREROUTING ACCEPT [0:0]",
            ":INPUT ACCEPT [0:0]",
            ":OUTPUT ACCEPT [0:0]",
            ":POSTROUTING ACCEPT [0:0]",
            "-A PREROUTING -d 10.96.0.1/32 -p tcp -m statistic --mode random"
            " --probability 0.33333333349 -j DNAT --to-destination 10.244.1.2:80",
            "-A PREROUTING -d 10.96.0.1/32 -p tcp -m statistic --mode random"
            " --probability 0.50000000000 -j DNAT --to-destination 10.244.1.3:80",
            "-A PREROUTING -d 10.96.0.1/32 -p tcp -j DNAT --to-destination 10.244.1.4:80",
            "COMMIT",
            "",
        ]
    )
    model = random.Random(11)

    def predicted() -> str:
        if model.getrandbits(31) < probability_31(0.33333333349):
            return "10.244.1.2"
        return "10.244.1.3" if model.getrandbits(31) < probability_31(0.5) else "10.244.1.4"

    for record in (True, False):
        lab = Lab(cascade)
        lab.rng.seed(11)
        model.seed(11)
        for n in range(300):
            trace = lab.send(Packet(CLIENTS[0], "10.96.0.1", "tcp", 40000 + n, 80), record=record)
            assert trace.final is not None
            assert trace.final.packet.dst == predicted(), (record, n)

"""The chain index must not change a trace: on random rulesets the indexed walk gives the same
matched steps, counters, rule counts and per-rule state as walking every rule."""

from __future__ import annotations

import random

import pytest
from engine_helpers import Lab

from app.sim.netfilter.index import INDEX_MIN_RULES, chain_index, rule_key
from app.sim.netfilter.parse import parse_rule_args
from app.sim.packet import Packet

ADDRESSES = ["10.96.0.1", "10.96.0.2", "10.96.0.3", "192.168.49.2", "10.244.1.5"]
PORTS = [53, 80, 443, 8080]


# Condition families; a rule takes at most one of each (iptables refuses a repeated -d).
CONDITIONS = {
    "dst": lambda rng: rng.choice(
        [
            ["-d", f"{rng.choice(ADDRESSES)}/32"],
            ["!", "-d", f"{rng.choice(ADDRESSES)}/32"],
            ["-d", "10.96.0.0/16"],
        ]
    ),
    "src": lambda rng: ["-s", "10.244.0.0/16"],
    "comment": lambda rng: ["-m", "comment", "--comment", "svc"],
    "mark": lambda rng: ["-m", "mark", "--mark", "0x1/0x1"],
    "nth": lambda rng: ["-m", "statistic", "--mode", "nth", "--every", "3", "--packet", "0"],
    "random": lambda rng: ["-m", "statistic", "--mode", "random", "--probability", "0.5"],
    "recent": lambda rng: ["-m", "recent", "--name", "R", "--set"],
    "ctstate": lambda rng: ["-m", "conntrack", "--ctstate", "NEW"],
}


def _rule(rng: random.Random, chains: list[str]) -> str:
    families = rng.sample(sorted(CONDITIONS), rng.randint(0, 3))
    split = rng.randint(0, len(families))
    args: list[str] = []
    for family in families[:split]:
        args += CONDITIONS[family](rng)
    if rng.random() < 0.7:
        proto = rng.choice(["tcp", "udp"])
        args += ["-p", proto]
        if rng.random() < 0.8:
            port = str(rng.choice(PORTS)) if rng.random() < 0.9 else "1000:2000"
            args += ["-m", proto, "--dport", port]
    for family in families[split:]:
        args += CONDITIONS[family](rng)
    target = rng.choice(["ACCEPT", "DROP", "RETURN", "MARK", "JUMP", "JUMP", "NONE", "NONE"])
    if target == "MARK":
        args += ["-j", "MARK", "--or-mark", "0x1"]
    elif target == "JUMP" and chains:
        args += ["-j", rng.choice(chains)]
    elif target not in ("NONE", "JUMP"):
        args += ["-j", target]
    return " ".join(args)


def random_ruleset(seed: int) -> str:
    rng = random.Random(seed)
    users = [f"U{i}" for i in range(3)]
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines += [f":{name} - [0:0]" for name in users]
    for position, chain in enumerate(["FORWARD", "INPUT", *users]):
        callees = users[position - 1 :] if position >= 2 else users  # no loops: jump forward
        callees = [c for c in callees if c != chain]
        for _ in range(rng.randint(INDEX_MIN_RULES, 40)):
            lines.append(f"-A {chain} {_rule(rng, callees)}".rstrip())
    return "\n".join([*lines, "COMMIT", ""])


def packets(seed: int) -> list[Packet]:
    rng = random.Random(seed)
    return [
        Packet(
            "192.168.49.100",
            rng.choice(ADDRESSES),
            rng.choice(["tcp", "udp"]),
            40000 + n,
            rng.choice([*PORTS, 1500]),
        )
        for n in range(12)
    ]


@pytest.mark.parametrize("seed", range(60))
def test_indexed_walk_equals_linear_walk(seed):
    text = random_ruleset(seed)
    indexed, linear = Lab(text), Lab(text)
    for packet in packets(seed):
        a = indexed.send(packet, matched_only=True, use_index=True).to_json(matched_only=True)
        b = linear.send(packet, matched_only=True, use_index=False).to_json(matched_only=True)
        assert a == b
    for name, chain in indexed.ruleset.tables["filter"].chains.items():
        other = linear.ruleset.tables["filter"].chains[name]
        assert [(r.packets, r.bytes) for r in chain.rules] == [
            (r.packets, r.bytes) for r in other.rules
        ]
    assert indexed.node.recent.keys() == linear.node.recent.keys()
    assert sorted(indexed.node.rule_state.values()) == sorted(linear.node.rule_state.values())


def test_indexed_walk_skips_rules_yet_reports_the_linear_count():
    lines = [f"-A FORWARD -d 10.96.0.{i}/32 -p tcp -m tcp --dport 80 -j DROP" for i in range(1, 40)]
    text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    lab = Lab(text + "\n".join(lines) + "\nCOMMIT\n")
    chain = lab.ruleset.tables["filter"].chains["FORWARD"]
    probe = Packet("192.168.49.100", "10.96.0.30", "tcp", 40000, 80)
    assert chain_index(chain).candidates(probe) == [29]
    trace = lab.send(probe, matched_only=True)
    assert [s.rule for s in trace.steps] == [30]
    assert trace.rules_evaluated == 30


def test_index_follows_edits_of_the_chain():
    lines = [f"-A FORWARD -d 10.96.0.{i}/32 -p tcp -m tcp --dport 80 -j DROP" for i in range(1, 20)]
    text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    lab = Lab(text + "\n".join(lines) + "\nCOMMIT\n")
    chain = lab.ruleset.tables["filter"].chains["FORWARD"]
    probe = Packet("192.168.49.100", "10.96.0.50", "tcp", 40000, 80)
    assert lab.send(probe, matched_only=True).final.verdict == "ACCEPT"
    chain.rules[3] = parse_rule_args(["-d", "10.96.0.50/32", "-j", "DROP"])  # replace in place
    assert lab.send(probe.with_(sport=40001), matched_only=True).final.verdict == "DROP"
    del chain.rules[3]
    chain.rules.insert(0, parse_rule_args(["-p", "tcp", "-j", "REJECT"]))
    trace = lab.send(probe.with_(sport=40002), matched_only=True)
    assert [(s.rule, s.verdict) for s in trace.steps] == [(1, "REJECT")]


def test_rule_keys_come_only_from_the_side_effect_free_prefix():
    def key(*argv: str):
        return rule_key(parse_rule_args(list(argv)))

    assert key("-d", "10.96.0.1/32", "-p", "tcp", "-m", "tcp", "--dport", "80") == (
        "10.96.0.1",
        "tcp",
        80,
    )
    assert key("!", "-d", "10.96.0.1/32", "-p", "udp") == (None, "udp", None)
    assert key("-d", "10.96.0.0/24", "-p", "tcp", "-m", "tcp", "--dport", "1:1024") == (
        None,
        "tcp",
        None,
    )
    # nth counts every evaluation: a key found after it would skip a counted evaluation.
    # (-s/-d/-p are the IP header part, always tested before any -m module.)
    nth = ["-m", "statistic", "--mode", "nth", "--every", "2", "--packet", "0"]
    tcp80 = ["-m", "tcp", "--dport", "80"]
    assert key("-p", "tcp", *nth, *tcp80) == (None, "tcp", None)
    assert key("-p", "tcp", *tcp80, *nth) == (None, "tcp", 80)

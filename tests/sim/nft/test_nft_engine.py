"""The nftables packet engine: hooks and priorities, verdict maps, numgen, conntrack and NAT,
jump/goto/return, counters, affinity sets, and the trace JSON it returns."""

from __future__ import annotations

import random

import pytest

from app.sim.conntrack import Conntrack
from app.sim.netfilter.packet_input import TraceInputError
from app.sim.nft.engine import explore_branches, kernel_view, trace_json, trace_packet
from app.sim.nft.parse import parse_commands
from app.sim.node import Node
from app.sim.packet import Packet

BASE = """\
add table ip kp
add map ip kp service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ip kp no-endpoints { type ipv4_addr . inet_proto . inet_service : verdict ; }
add set ip kp affinity-a { type ipv4_addr ; flags dynamic,timeout ; timeout 10s ; }
add chain ip kp nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kp nat-output { type nat hook output priority -100 ; }
add chain ip kp nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kp filter-forward { type filter hook forward priority 0 ; }
add chain ip kp services
add chain ip kp masquerading
add chain ip kp mark-for-masquerade
add chain ip kp reject-chain
add chain ip kp svc
add chain ip kp ep-a
add chain ip kp ep-b
add chain ip kp ep-c
add element ip kp service-ips { 10.96.0.10 . tcp . 80 : goto svc }
add element ip kp no-endpoints { 10.96.0.11 . tcp . 80 : goto reject-chain }
add rule ip kp nat-prerouting jump services
add rule ip kp nat-output jump services
add rule ip kp nat-postrouting jump masquerading
add rule ip kp filter-forward ct state new ip daddr . meta l4proto . th dport vmap @no-endpoints
add rule ip kp services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kp masquerading mark and 0x4000 == 0 return
add rule ip kp masquerading mark set mark xor 0x4000
add rule ip kp masquerading masquerade fully-random
add rule ip kp mark-for-masquerade counter mark set mark or 0x4000
add rule ip kp reject-chain reject
add rule ip kp svc ip daddr 10.96.0.10 ip saddr != 10.244.0.0/16 jump mark-for-masquerade
add rule ip kp svc ip saddr @affinity-a goto ep-a
add rule ip kp svc numgen random mod 3 vmap { 0 : goto ep-a , 1 : goto ep-b , 2 : goto ep-c }
add rule ip kp ep-a update @affinity-a { ip saddr }
add rule ip kp ep-a meta l4proto tcp dnat to 10.244.1.2:8080
add rule ip kp ep-b meta l4proto tcp dnat to 10.244.1.3:8080
add rule ip kp ep-c meta l4proto tcp dnat to 10.244.2.4:8080
"""
CLIENT = {"origin": "external", "src": "192.168.49.100", "proto": "tcp", "sport": 40000}


def _packet(dst: str, src: str = "192.168.49.100", sport: int = 40000) -> Packet:
    return Packet(src=src, dst=dst, proto="tcp", sport=sport, dport=80)


def test_a_service_packet_is_dnatted_and_masqueraded() -> None:
    data = trace_json(BASE, {**CLIENT, "dst": "10.96.0.10", "dport": 80}, seed=1)
    assert data["final"]["delivered"] == "out"
    assert data["final"]["out_iface"] == "cni0"
    assert data["conntrack"]["dnat_to"] in ("10.244.1.2:8080", "10.244.1.3:8080", "10.244.2.4:8080")
    assert data["conntrack"]["snat_to"] == "192.168.49.2"  # the mark asked for masquerade
    hooks = [s["hook"] for s in data["steps"]]
    assert hooks.index("PREROUTING") < hooks.index("FORWARD") < hooks.index("POSTROUTING")


def test_steps_carry_positions_handles_lookups_and_nft_text() -> None:
    data = trace_json(BASE, {**CLIENT, "dst": "10.96.0.10", "dport": 80}, matched_only=True)
    lookup = next(s for s in data["steps"] if s["chain"] == "services")
    assert lookup["rule"] == 1
    assert lookup["verdict"] == "GOTO:svc"
    assert lookup["rule_text"] == "ip daddr . meta l4proto . th dport vmap @service-ips"
    assert lookup["lookup"] == {
        "kind": "vmap",
        "name": "service-ips",
        "key": "10.96.0.10 . tcp . 80",
        "result": "goto svc",
    }
    assert isinstance(lookup["handle"], int)
    mark = next(s for s in data["steps"] if s["chain"] == "mark-for-masquerade")
    assert mark["rule_text"] == "counter packets 0 bytes 0 meta mark set meta mark | 0x00004000"
    assert mark["packet"]["mark"] == "0x4000"
    numgen = next(s for s in data["steps"] if s["chain"] == "svc" and s["rule"] == 3)
    assert numgen["lookup"]["kind"] == "numgen"


def test_unmatched_rules_say_which_statement_failed() -> None:
    data = trace_json(BASE, {**CLIENT, "src": "10.244.7.7", "dst": "10.96.0.10", "dport": 80})
    first = next(s for s in data["steps"] if s["chain"] == "svc")
    assert first["matched"] is False
    assert first["failed_match"] == ["ip saddr != 10.244.0.0/16"]
    assert all(
        s["matched"]
        for s in trace_json(BASE, {**CLIENT, "dst": "10.96.0.10", "dport": 80}, matched_only=True)[
            "steps"
        ]
    )


def test_every_numgen_branch_gets_one_third() -> None:
    data = trace_json(BASE, {**CLIENT, "dst": "10.96.0.10", "dport": 80}, all_branches=True)
    shares = {b["dnat_to"]: b["probability"] for b in data["branches"]}
    assert shares == pytest.approx(
        {"10.244.1.2:8080": 1 / 3, "10.244.1.3:8080": 1 / 3, "10.244.2.4:8080": 1 / 3}
    )
    assert [b["draws"] for b in data["branches"]] == [[0], [1], [2]]


def test_the_seed_decides_the_endpoint_reproducibly() -> None:
    picks = {
        trace_json(BASE, {**CLIENT, "dst": "10.96.0.10", "dport": 80}, seed=s)["conntrack"][
            "dnat_to"
        ]
        for s in range(30)
    }
    assert len(picks) == 3
    one = trace_json(BASE, {**CLIENT, "dst": "10.96.0.10", "dport": 80}, seed=7)
    assert one == trace_json(BASE, {**CLIENT, "dst": "10.96.0.10", "dport": 80}, seed=7)


def test_nat_chains_run_only_for_the_first_packet_of_a_connection() -> None:
    ruleset, node, table = parse_commands(BASE), Node(), Conntrack()
    first = trace_packet(ruleset, _packet("10.96.0.10"), node, table, random.Random(0))
    second = trace_packet(ruleset, _packet("10.96.0.10"), node, table, random.Random(5))
    assert any(s.chain == "services" for s in first.steps)
    assert not any(s.chain.startswith(("nat-", "services", "svc")) for s in second.steps)
    assert second.final is not None
    assert second.final.packet.dst == first.final.packet.dst  # conntrack keeps the binding


def test_affinity_set_sends_the_next_connection_to_the_same_endpoint() -> None:
    ruleset, node = parse_commands(BASE), Node()
    # draw 0 -> ep-a, which records the client in @affinity-a
    first = trace_packet(
        ruleset, _packet("10.96.0.10"), node, Conntrack(), random.Random(0), numgen=lambda n: 0
    )
    assert first.conntrack["dnat_to"] == "10.244.1.2:8080"
    again = trace_packet(
        ruleset,
        _packet("10.96.0.10", sport=40001),
        node,
        Conntrack(),
        random.Random(0),
        numgen=lambda n: 2,
    )
    assert again.conntrack["dnat_to"] == "10.244.1.2:8080"
    later = trace_packet(
        ruleset,
        _packet("10.96.0.10", sport=40002),
        node,
        Conntrack(),
        random.Random(0),
        clock=20.0,
        numgen=lambda n: 2,
    )
    assert later.conntrack["dnat_to"] == "10.244.2.4:8080"  # the 10 s timeout expired


def test_no_endpoint_services_reject_and_the_kernel_sees_a_drop() -> None:
    ruleset = parse_commands(BASE)
    trace = trace_packet(ruleset, _packet("10.96.0.11"), Node(), Conntrack(), random.Random(0))
    assert trace.final is not None and trace.final.verdict == "REJECT"
    assert trace.final.delivered is None
    view = kernel_view(trace)
    assert view[-1] == ("reject-chain", 1, "rule", "drop")
    assert ("filter-forward", 1, "rule", "goto reject-chain") in view


def test_goto_returns_to_the_caller_of_the_chain_that_jumped() -> None:
    text = """add table ip t
add chain ip t base { type filter hook forward priority 0 ; }
add chain ip t a
add chain ip t b
add rule ip t base jump a
add rule ip t base mark set 0x7
add rule ip t a goto b
add rule ip t a drop
add rule ip t b return
"""
    trace = trace_packet(
        parse_commands(text), _packet("10.244.1.2"), Node(), None, random.Random(0)
    )
    matched = [(s.chain, s.rule, s.verdict) for s in trace.steps if s.matched]
    assert matched == [
        ("base", 1, "JUMP:a"),
        ("a", 1, "GOTO:b"),
        ("b", 1, "RETURN"),
        ("base", 2, "CONTINUE"),
        ("base", None, "ACCEPT"),
    ]
    assert trace.final is not None and trace.final.packet.mark == 7


def test_counters_count_matched_packets() -> None:
    ruleset = parse_commands(BASE)
    for sport in (1, 2):
        trace_packet(
            ruleset, _packet("10.96.0.10", sport=sport), Node(), Conntrack(), random.Random(0)
        )
    rule = ruleset.table("ip", "kp").chains["mark-for-masquerade"].rules[0]
    assert (rule.packets, rule.bytes) == (2, 120)


def test_explore_leaves_the_callers_state_alone() -> None:
    ruleset, node, table = parse_commands(BASE), Node(), Conntrack()
    branches = explore_branches(ruleset, _packet("10.96.0.10"), node, table)
    assert len(branches) == 3
    assert table.to_data() == []
    assert ruleset.table("ip", "kp").sets["affinity-a"].elements == {}


def test_local_packets_use_the_output_hook() -> None:
    data = trace_json(
        BASE,
        {
            "origin": "local",
            "src": "192.168.49.2",
            "proto": "tcp",
            "sport": 40000,
            "dst": "10.96.0.10",
            "dport": 80,
        },
    )
    assert data["steps"][0]["hook"] == "OUTPUT"
    assert data["routes"][-1]["after"] == "OUTPUT"  # re-routed after DNAT
    assert data["final"]["out_iface"] == "cni0"


@pytest.mark.parametrize(
    ("ruleset", "message"),
    [
        ("add rule ip nosuch c drop\n", "No such file or directory"),
        ("add table ip t\nadd chain ip t c\nadd rule ip t c ip daddr\n", "syntax error"),
    ],
)
def test_bad_rulesets_are_refused_with_nft_wording(ruleset: str, message: str) -> None:
    with pytest.raises(TraceInputError, match=message):
        trace_json(ruleset, {**CLIENT, "dst": "10.96.0.10", "dport": 80})

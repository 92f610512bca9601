"""What each match decides about a packet (iptables-extensions(8), kernel xt_*.c)."""

from __future__ import annotations

import pytest
from rules_helpers import ctx, hits, rule

from app.sim.packet import Packet

PKT = Packet("10.0.0.5", "10.96.0.10", "tcp", 40000, 80)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("-s 10.0.0.0/8", True),
        ("! -s 10.0.0.0/8", False),
        ("-d 10.96.0.10", True),
        ("-d 10.96.0.11", False),
        ("-p tcp", True),
        ("-p udp", False),
        ("! -p udp", True),
        ("-i eth+", True),
        ("-i eth1", False),
        ("! -i veth+", True),
        ("-p tcp --dport 80", True),
        ("-p tcp --dport 1:79", False),
        ("-p tcp ! --dport 22", True),
        ("-p tcp --sport 40000:40010 --dport 80", True),
        ("-p tcp -m multiport --dports 22,80,443", True),
        ("-p tcp -m multiport ! --dports 22,80", False),
        ("-p tcp -m multiport --ports 40000", True),
        ("-p tcp -m multiport --sports 1:1000", False),
    ],
)
def test_header_and_port_matches(spec: str, expected: bool) -> None:
    assert hits(spec, ctx(PKT)) is expected


def test_udp_match_never_matches_a_tcp_packet() -> None:
    assert not hits("-p udp --dport 80", ctx(PKT))
    assert hits("-p udp --dport 80", ctx(PKT.with_(proto="udp")))


@pytest.mark.parametrize(
    ("flags", "spec", "expected"),
    [
        ({"SYN"}, "--syn", True),
        ({"SYN", "ACK"}, "--syn", False),
        ({"SYN", "ACK"}, "! --syn", True),
        ({"ACK"}, "--tcp-flags SYN,ACK ACK", True),
        (set(), "--tcp-flags ALL NONE", True),
        ({"FIN"}, "--tcp-flags ALL NONE", False),
    ],
)
def test_tcp_flags(flags: set[str], spec: str, expected: bool) -> None:
    packet = PKT.with_(tcp_flags=frozenset(flags))
    assert hits(f"-p tcp {spec}", ctx(packet)) is expected


def test_mark_match_uses_the_mask() -> None:
    marked = ctx(PKT.with_(mark=0x4001))
    assert hits("-m mark --mark 0x4000/0x4000", marked)
    assert not hits("-m mark --mark 0x4000", marked)
    assert hits("-m mark ! --mark 0x4000", marked)
    assert not hits("-m mark ! --mark 0x4000/0x4000", marked)


def test_addrtype_local_destination_and_source() -> None:
    to_node = ctx(PKT.with_(dst="192.168.49.2"))
    assert hits("-m addrtype --dst-type LOCAL", to_node)
    assert not hits("-m addrtype --dst-type LOCAL", ctx(PKT))
    assert hits("-m addrtype ! --dst-type LOCAL", ctx(PKT))
    assert not hits("-m addrtype --src-type LOCAL", to_node)


@pytest.mark.parametrize(
    ("state", "status", "spec", "expected"),
    [
        ("NEW", frozenset(), "--ctstate NEW", True),
        ("ESTABLISHED", frozenset(), "--ctstate RELATED,ESTABLISHED", True),
        ("NEW", frozenset(), "! --ctstate RELATED,ESTABLISHED,DNAT", True),
        ("NEW", frozenset({"DNAT"}), "! --ctstate RELATED,ESTABLISHED,DNAT", False),
        ("INVALID", frozenset(), "--ctstate INVALID", True),
        ("NEW", frozenset({"ASSURED"}), "--ctstatus ASSURED", True),
        ("NEW", frozenset(), "! --ctstatus CONFIRMED", True),
    ],
)
def test_conntrack_states(state: str, status: frozenset[str], spec: str, expected: bool) -> None:
    assert hits(f"-m conntrack {spec}", ctx(PKT, ctstate=state, ctstatus=status)) is expected


def test_state_match_is_the_old_ctstate() -> None:
    assert hits("-m state --state NEW,ESTABLISHED", ctx(PKT, ctstate="ESTABLISHED"))
    assert not hits("-m state --state NEW", ctx(PKT, ctstate="RELATED"))


def test_comment_and_nfacct_always_match() -> None:
    assert hits("-m comment --comment x -m nfacct --nfacct-name y", ctx(PKT))


def test_statistic_random_asks_chance_for_the_stored_probability() -> None:
    asked: list[float] = []
    context = ctx(PKT, chance=lambda p: asked.append(p) or True)
    assert hits("-m statistic --mode random --probability 0.3333333333", context)
    # P = lround(0.3333333333 * 2^31) = 715827883; the kernel compares against P / 2^31.
    assert asked == [715827883 / 2**31]
    assert not hits("-m statistic --mode random ! --probability 0.5", context)


def test_statistic_random_hits_about_half_of_the_time() -> None:
    context = ctx(PKT, seed=7)
    hits_count = sum(
        hits("-m statistic --mode random --probability 0.5", context) for _ in range(2000)
    )
    assert 900 < hits_count < 1100


def test_statistic_nth_matches_packets_p_p_plus_n() -> None:
    built = rule("-m statistic --mode nth --every 3 --packet 1")
    context = ctx(PKT)
    context.rule_uid = built.uid
    seen = [built.matches[0].matches(context) for _ in range(7)]
    assert seen == [False, True, False, False, True, False, False]


def test_statistic_nth_counters_are_per_rule() -> None:
    first, second = (rule("-m statistic --mode nth --every 2 --packet 0") for _ in range(2))
    context = ctx(PKT)
    results = []
    for built in (first, second, first, second):
        context.rule_uid = built.uid
        results.append(built.matches[0].matches(context))
    assert results == [True, True, False, False]


def test_recent_set_then_rcheck_within_seconds() -> None:
    context = ctx(PKT, clock=100.0)
    assert not hits("-m recent --name aff --rcheck --seconds 10", context)
    assert hits("-m recent --name aff --set", context)
    assert context.recent["aff"]["10.0.0.5"].stamps == [100.0]
    context.clock = 109.0
    assert hits("-m recent --name aff --rcheck --seconds 10", context)
    context.clock = 111.0
    assert not hits("-m recent --name aff --rcheck --seconds 10", context)


def test_recent_update_refreshes_and_hitcount_counts() -> None:
    context = ctx(PKT, clock=0.0)
    hits("-m recent --name n --set", context)
    for t in (1.0, 2.0):
        context.clock = t
        assert hits("-m recent --name n --update --seconds 60", context)
    assert context.recent["n"]["10.0.0.5"].stamps == [0.0, 1.0, 2.0]
    assert hits("-m recent --name n --rcheck --seconds 60 --hitcount 3", context)
    assert not hits("-m recent --name n --rcheck --seconds 60 --hitcount 4", context)


def test_recent_rdest_mask_remove_and_reap() -> None:
    context = ctx(PKT, clock=0.0)
    hits("-m recent --name d --set --rdest --mask 255.255.255.0", context)
    assert list(context.recent["d"]) == ["10.96.0.0"]
    assert hits("-m recent --name d --remove --rdest --mask 255.255.255.0", context)
    assert context.recent["d"] == {}
    hits("-m recent --name r --set", context)
    other = ctx(PKT.with_(src="10.0.0.6"), clock=50.0, recent=context.recent)
    hits("-m recent --name r --set", other)
    # 10.0.0.5 was last seen at 0, 40 s before the horizon: --reap drops it, and only it.
    assert hits("-m recent --name r --rcheck --seconds 10 --reap", other)
    assert list(context.recent["r"]) == ["10.0.0.6"]


def test_set_match_looks_up_ip_and_ip_port_sets() -> None:
    sets = {
        "KUBE-CLUSTER-IP": {("10.96.0.10", "tcp", 80)},
        "KUBE-LOOP-BACK": {("10.0.0.0/8",)},
    }
    context = ctx(PKT, ipsets=sets)
    assert hits("-m set --match-set KUBE-CLUSTER-IP dst,dst", context)
    assert not hits("-m set --match-set KUBE-CLUSTER-IP dst,src", context)
    assert hits("-m set --match-set KUBE-LOOP-BACK src", context)
    assert hits("-m set ! --match-set KUBE-NONE dst", context)

"""Chain walking: jumps, gotos, returns, policies, counters and the rule modules in context."""

from __future__ import annotations

import pytest
from engine_helpers import kernel_view

from app.sim.netfilter.engine import TraceInputError
from app.sim.netfilter.parse import parse_rule_args
from app.sim.netfilter.walk import WalkError
from app.sim.packet import Packet


def nat_rules(*rules: str, chains: str = "") -> str:
    declared = "".join(f":{name} - [0:0]\n" for name in chains.split())
    return (
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        f":POSTROUTING ACCEPT [0:0]\n{declared}" + "".join(r + "\n" for r in rules) + "COMMIT\n"
    )


def filter_rules(*rules: str, chains: str = "", forward: str = "ACCEPT") -> str:
    declared = "".join(f":{name} - [0:0]\n" for name in chains.split())
    return (
        f"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD {forward} [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        f"{declared}" + "".join(r + "\n" for r in rules) + "COMMIT\n"
    )


def test_goto_does_not_come_back_but_jump_does(trace):
    text = filter_rules(
        "-A FORWARD -p tcp -g GO",
        "-A FORWARD -j DROP",
        "-A GO -j SUB",
        "-A GO -j LOG",
        "-A SUB -p tcp -j RETURN",
        chains="GO SUB",
    )
    result = trace(text, dst="10.244.1.5", dport=80)
    assert kernel_view(result) == [
        ("filter", "FORWARD", 1, "rule", "GOTO:GO"),
        ("filter", "GO", 1, "rule", "JUMP:SUB"),
        ("filter", "SUB", 1, "rule", "RETURN"),
        ("filter", "GO", 2, "rule", "CONTINUE"),
        # falling off GO returns past FORWARD's rule 2: the base policy decides
        ("filter", "FORWARD", None, "policy", "ACCEPT"),
    ]
    assert result["final"]["delivered"] == "out"


def test_falling_off_a_user_chain_is_a_return_step_the_kernel_does_not_show(trace):
    text = filter_rules("-A FORWARD -j EMPTY", "-A FORWARD -j DROP", chains="EMPTY")
    result = trace(text, dst="10.244.1.5", dport=80)
    kinds = [(s["chain"], s["kind"], s["verdict"]) for s in result["steps"]]
    assert kinds == [
        ("FORWARD", "rule", "JUMP:EMPTY"),
        ("EMPTY", "return", "RETURN"),
        ("FORWARD", "rule", "DROP"),
    ]
    assert ("filter", "EMPTY", None, "return", "RETURN") not in kernel_view(result)


def test_return_in_a_builtin_chain_applies_its_policy(trace):
    text = filter_rules("-A FORWARD -j RETURN", "-A FORWARD -j ACCEPT", forward="DROP")
    result = trace(text, dst="10.244.1.5", dport=80)
    assert kernel_view(result) == [
        ("filter", "FORWARD", 1, "rule", "RETURN"),
        ("filter", "FORWARD", None, "policy", "DROP"),
    ]
    assert "policy DROP" in result["steps"][-1]["explain"]["en"]


def test_accept_ends_only_this_table_at_this_hook(trace):
    text = nat_rules("-A PREROUTING -j ACCEPT", "-A PREROUTING -j DNAT --to-destination 1.2.3.4")
    text += filter_rules("-A FORWARD -j DROP")
    result = trace(text, dst="10.244.1.5", dport=80)
    assert kernel_view(result) == [
        ("nat", "PREROUTING", 1, "rule", "ACCEPT"),
        ("filter", "FORWARD", 1, "rule", "DROP"),
    ]


def test_counters_count_matched_rules_and_applied_policies(lab):
    text = filter_rules("-A FORWARD -p udp -j DROP", "-A FORWARD -p tcp")
    node = lab(text)
    for sport in (1000, 1001, 1002):
        node.send(Packet("192.168.49.100", "10.244.1.5", "tcp", sport, 80, length=100))
    forward = node.ruleset.tables["filter"].chains["FORWARD"]
    assert [(r.packets, r.bytes) for r in forward.rules] == [(0, 0), (3, 300)]
    assert (forward.packets, forward.bytes) == (3, 300)


def test_every_evaluated_rule_is_a_step_unless_matched_only(trace):
    text = filter_rules("-A FORWARD -p udp -j DROP", "-A FORWARD -d 10.0.0.0/8 -j ACCEPT")
    full = trace(text, dst="10.244.1.5", dport=80)
    assert [(s["rule"], s["matched"]) for s in full["steps"]] == [(1, False), (2, True)]
    assert full["steps"][0]["failed_match"] == ["-p", "udp"]
    short = trace(text, dst="10.244.1.5", dport=80, matched_only=True)
    assert [(s["rule"], s["matched"]) for s in short["steps"]] == [(2, True)]
    # The cost the kernel pays does not depend on what is shown.
    assert full["rules_evaluated"] == short["rules_evaluated"] == 2


def test_chain_visits_count_rules_up_to_the_deciding_one(trace):
    text = filter_rules(
        "-A FORWARD -p udp -j DROP",
        "-A FORWARD -j SUB",
        "-A FORWARD -p tcp -j ACCEPT",
        "-A FORWARD -j DROP",
        "-A SUB -p udp -j DROP",
        "-A SUB -p udp -j DROP",
        chains="SUB",
    )
    result = trace(text, dst="10.244.1.5", dport=80)
    visits = [(v["chain"], v["rules_evaluated"], v["rules_total"]) for v in result["chain_visits"]]
    assert visits == [("FORWARD", 3, 4), ("SUB", 2, 2)]
    assert result["rules_evaluated"] == 5


def test_reject_drops_and_the_kernel_reports_drop(trace):
    text = filter_rules("-A FORWARD -p tcp -j REJECT --reject-with tcp-reset")
    result = trace(text, dst="10.244.1.5", dport=80)
    assert result["steps"][0]["verdict"] == "REJECT"
    assert "tcp-reset" in result["steps"][0]["explain"]["en"]
    assert kernel_view(result) == [("filter", "FORWARD", 1, "rule", "DROP")]
    assert result["final"]["verdict"] == "REJECT"


def test_mark_set_in_mangle_is_seen_by_mark_match_later(trace):
    text = (
        "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
        ":OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
        "-A PREROUTING -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x10/0xff\n"
        "-A PREROUTING -j MARK --or-mark 0x1\nCOMMIT\n"
    ) + filter_rules("-A FORWARD -m mark --mark 0x10/0xf0 -j DROP")
    result = trace(text, dst="10.244.1.5", dport=80)
    assert result["steps"][0]["packet"]["mark"] == "0x10"
    assert result["steps"][1]["packet"]["mark"] == "0x11"
    assert kernel_view(result)[-1] == ("filter", "FORWARD", 1, "rule", "DROP")
    other = trace(text, dst="10.244.1.5", dport=81)
    assert other["final"]["delivered"] == "out"


def test_addrtype_local_counts_local_ips_and_loopback(trace):
    text = nat_rules(
        "-A PREROUTING -m addrtype --dst-type LOCAL -j DNAT --to-destination 10.244.9.9"
    )
    hit = trace(text, dst="10.0.0.7", dport=80, local_ips=["10.0.0.7"])
    assert hit["conntrack"]["dnat_to"] == "10.244.9.9:80"
    miss = trace(text, dst="10.0.0.7", dport=80)
    assert miss["conntrack"]["dnat_to"] is None


def test_addrtype_limit_iface_in_only_counts_that_interface(trace):
    text = filter_rules(
        "-A INPUT -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT",
        "-A INPUT -j DROP",
    )
    # 192.168.49.2 is on eth0, the packet arrives on cni0: not LOCAL for cni0.
    from_pod = trace(text, src="10.244.1.9", in_iface="cni0", dst="192.168.49.2", dport=22)
    assert kernel_view(from_pod) == [("filter", "INPUT", 2, "rule", "DROP")]
    from_eth0 = trace(text, dst="192.168.49.2", dport=22)
    assert kernel_view(from_eth0) == [("filter", "INPUT", 1, "rule", "ACCEPT")]


@pytest.mark.parametrize(("probability", "matched"), [("0.00000000000", False), ("1", True)])
def test_statistic_probability_zero_never_and_one_always(trace, probability, matched):
    rule = f"-A FORWARD -m statistic --mode random --probability {probability} -j DROP"
    for seed in range(25):
        result = trace(filter_rules(rule), dst="10.244.1.5", dport=80, seed=seed)
        assert result["steps"][0]["matched"] is matched


def test_statistic_nth_matches_every_second_packet(lab):
    node = lab(filter_rules("-A FORWARD -m statistic --mode nth --every 2 --packet 1 -j DROP"))
    verdicts = [
        node.send(Packet("192.168.49.100", "10.244.1.5", "udp", 5000 + n, 53)).final.verdict
        for n in range(6)
    ]
    assert verdicts == ["ACCEPT", "DROP"] * 3


def test_recent_set_then_rcheck_within_seconds(lab):
    text = filter_rules(
        "-A INPUT -m recent --name SEEN --rcheck --seconds 60 -j DROP",
        "-A INPUT -m recent --name SEEN --set",
    )
    node = lab(text)
    packet = Packet("192.168.49.100", "192.168.49.2", "tcp", 40000, 22)
    assert node.send(packet).final.verdict == "ACCEPT"
    node.clock = 30.0
    assert node.send(packet.with_(sport=40001)).final.verdict == "DROP"
    node.clock = 200.0  # the stamp is older than 60 s
    assert node.send(packet.with_(sport=40002)).final.verdict == "ACCEPT"
    assert "192.168.49.100" in node.node.recent["SEEN"]


def test_ctstate_new_for_first_packet_and_established_for_reply(lab):
    text = filter_rules(
        "-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT",
        "-A FORWARD -m conntrack --ctstate NEW -j ACCEPT",
        forward="DROP",
    )
    node = lab(text)
    first = node.send(Packet("192.168.49.100", "10.244.1.5", "tcp", 40000, 80))
    assert [s.rule for s in first.steps if s.matched] == [2]
    reply = Packet(
        "10.244.1.5", "192.168.49.100", "tcp", 80, 40000, tcp_flags=frozenset({"SYN", "ACK"})
    )
    back = node.send(reply, in_iface="cni0")
    assert [s.rule for s in back.steps if s.matched] == [1]


def test_tcp_reset_without_connection_is_invalid_and_untouched_by_nat(trace):
    text = nat_rules("-A PREROUTING -j DNAT --to-destination 10.244.9.9") + filter_rules(
        "-A FORWARD -m conntrack --ctstate INVALID -j DROP"
    )
    result = trace(text, dst="10.244.1.5", dport=80, tcp_flags=["RST"])
    assert kernel_view(result)[-1] == ("filter", "FORWARD", 1, "rule", "DROP")
    assert not any(s["table"] == "nat" for s in result["steps"])


def test_notrack_in_raw_makes_the_packet_untracked(trace):
    text = (
        "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A PREROUTING -p udp -j CT --notrack\nCOMMIT\n"
    ) + filter_rules("-A FORWARD -p udp -m conntrack --ctstate UNTRACKED -j DROP")
    result = trace(text, proto="udp", dst="10.244.1.5", dport=53)
    assert kernel_view(result)[-1] == ("filter", "FORWARD", 1, "rule", "DROP")
    assert result["conntrack"] is None


def test_a_chain_loop_is_refused_in_iptables_words(trace):
    text = filter_rules("-A FORWARD -j A", "-A A -j B", "-A B -j A", chains="A B")
    with pytest.raises(TraceInputError) as caught:
        trace(text, dst="10.244.1.5", dport=80)
    assert "RULE_APPEND failed (Too many links)" in caught.value.message


def test_the_walker_stops_a_loop_in_a_model_edited_behind_the_parser(lab):
    node = lab(filter_rules("-A FORWARD -j A", "-A A -j B", chains="A B"))
    node.ruleset.tables["filter"].chains["B"].rules.append(parse_rule_args(["-j", "A"]))
    with pytest.raises(WalkError, match="deeper than 16"):
        node.send(Packet("192.168.49.100", "10.244.1.5", "tcp", 40000, 80))


def test_in_raw_no_conntrack_is_attached_yet_so_ctstate_is_invalid(trace):
    # Kernel-checked: raw runs at -300, before nf_conntrack_in at -200.
    text = (
        "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A PREROUTING -m conntrack --ctstate NEW -j MARK --set-xmark 0x1/0x1\n"
        "-A PREROUTING -m conntrack --ctstate INVALID -j MARK --set-xmark 0x2/0x2\n"
        "-A PREROUTING -p udp -j CT --notrack\n"
        "-A PREROUTING -p udp -m conntrack --ctstate UNTRACKED -j MARK --set-xmark 0x4/0x4\n"
        "COMMIT\n"
    ) + filter_rules("-A INPUT -m conntrack --ctstate NEW -j ACCEPT")
    tcp = trace(text, dst="192.168.49.2", dport=80, matched_only=True)
    assert [(s["chain"], s["rule"]) for s in tcp["steps"] if s["kind"] == "rule"] == [
        ("PREROUTING", 2),
        ("INPUT", 1),  # NEW once conntrack has seen it
    ]
    udp = trace(text, proto="udp", dst="192.168.49.2", dport=53, matched_only=True)
    assert [s["rule"] for s in udp["steps"] if s["kind"] == "rule"] == [2, 3, 4]
    assert udp["steps"][-1]["packet"]["mark"] == "0x6"


def test_a_statistic_miss_is_explained_as_a_draw_not_a_packet_property(trace):
    rule = "-A FORWARD -m statistic --mode random --probability 0.00000000000 -j DROP"
    step = trace(filter_rules(rule), dst="10.244.1.5", dport=80)["steps"][0]
    assert step["explain"]["en"] == (
        "does not match: -m statistic --mode random --probability 0.00000000000 "
        "(the random draw did not pick this rule); next rule"
    )
    assert "随机抽取未选中该规则" in step["explain"]["zh"]


def test_an_addrtype_miss_shows_the_address_it_looked_at(trace):
    rule = "-A FORWARD -m addrtype --dst-type LOCAL -j DROP"
    step = trace(filter_rules(rule), dst="10.244.1.5", dport=80)["steps"][0]
    assert "(packet dst 10.244.1.5)" in step["explain"]["en"]

"""Conntrack and NAT across packets: first-packet NAT, un-NAT of replies, listing, timeouts,
MASQUERADE's address and port choices, and the probabilities of every statistic branch."""

from __future__ import annotations

import json
from fractions import Fraction

from app.sim.conntrack import Conntrack
from app.sim.netfilter.branches import endpoint_shares
from app.sim.netfilter.engine import explore_branches, trace_json
from app.sim.node import Node
from app.sim.packet import Packet

CLIENT = "192.168.49.100"
SYN_ACK = frozenset({"SYN", "ACK"})
ACK = frozenset({"ACK"})

DNAT_MASQ = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.137:8080
-A PREROUTING -d 10.96.0.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.1.137:53
-A POSTROUTING -o cni0 -j MASQUERADE
COMMIT
"""


def syn(sport: int = 40000) -> Packet:
    return Packet(CLIENT, "10.96.0.10", "tcp", sport, 80)


def test_second_packet_skips_nat_but_gets_the_same_translation(lab):
    node = lab(DNAT_MASQ)
    first = node.send(syn())
    assert any(s.table == "nat" and s.kind == "rule" for s in first.steps)
    second = node.send(syn().with_(tcp_flags=ACK))
    assert not any(s.table == "nat" for s in second.steps)  # nat runs once per connection
    assert (second.final.packet.src, second.final.packet.dst) == ("192.168.49.2", "10.244.1.137")
    assert second.final.packet.dport == 8080


def test_a_changed_nat_rule_does_not_touch_an_existing_connection(lab):
    node = lab(DNAT_MASQ)
    node.send(syn())
    node.ruleset.tables["nat"].chains["PREROUTING"].rules.clear()
    again = node.send(syn().with_(tcp_flags=ACK))
    assert again.final.packet.dst == "10.244.1.137"
    fresh = node.send(syn(40001))  # a new connection sees the edited rules
    assert fresh.final.packet.dst == "10.96.0.10"


def test_reply_is_un_natted(lab):
    node = lab(DNAT_MASQ)
    node.send(syn())
    reply = Packet("10.244.1.137", "192.168.49.2", "tcp", 8080, 40000, tcp_flags=SYN_ACK)
    back = node.send(reply, in_iface="cni0")
    assert not any(s.table == "nat" and s.kind == "rule" for s in back.steps)
    out = back.final.packet
    assert (out.src, out.sport, out.dst, out.dport) == ("10.96.0.10", 80, CLIENT, 40000)
    assert (back.final.delivered, back.final.out_iface) == ("out", "eth0")
    assert back.conntrack["state"] == "ESTABLISHED"


def test_conntrack_listing_is_in_conntrack_L_format(lab):
    node = lab(DNAT_MASQ)
    node.send(syn())
    node.send(Packet(CLIENT, "10.96.0.10", "udp", 40001, 53))
    node.clock = 1.0
    assert node.conntrack.listing(node.clock) == (
        "tcp      6 119 SYN_SENT src=192.168.49.100 dst=10.96.0.10 sport=40000 dport=80 "
        "[UNREPLIED] src=10.244.1.137 dst=192.168.49.2 sport=8080 dport=40000 mark=0 use=1\n"
        "udp      17 29 src=192.168.49.100 dst=10.96.0.10 sport=40001 dport=53 "
        "[UNREPLIED] src=10.244.1.137 dst=192.168.49.2 sport=53 dport=40001 mark=0 use=1\n"
    )
    assert node.conntrack.summary().endswith("2 flow entries have been shown.\n")


def test_handshake_reaches_established_and_assured(lab):
    node = lab(DNAT_MASQ)
    node.send(syn())
    node.send(
        Packet("10.244.1.137", "192.168.49.2", "tcp", 8080, 40000, tcp_flags=SYN_ACK),
        in_iface="cni0",
    )
    node.send(syn().with_(tcp_flags=ACK))
    line = node.conntrack.listing(node.clock)
    assert line.startswith("tcp      6 432000 ESTABLISHED src=192.168.49.100")
    assert "[UNREPLIED]" not in line and "[ASSURED]" in line


def test_unanswered_syn_expires_after_120_seconds(lab):
    node = lab(DNAT_MASQ)
    node.send(syn())
    assert node.conntrack.listing(119.0) != ""
    assert node.conntrack.listing(120.0) == ""
    node.clock = 121.0
    again = node.send(syn().with_(tcp_flags=ACK))
    assert any(s.table == "nat" for s in again.steps)  # a new connection: nat is walked


def test_udp_unreplied_timeout_is_30_seconds(lab):
    node = lab(DNAT_MASQ)
    node.send(Packet(CLIENT, "10.96.0.10", "udp", 40001, 53))
    assert node.conntrack.listing(29.5) != ""
    assert node.conntrack.listing(30.0) == ""


def test_masquerade_picks_the_out_interface_address_for_the_next_hop():
    node = Node(local_ips=["10.10.0.5/24"])
    assert node.masquerade_address("eth0", "192.168.49.1") == "192.168.49.2"
    assert node.masquerade_address("eth0", "10.10.0.9") == "10.10.0.5"
    # cni0 has no address: the first global address of another device is used.
    assert node.masquerade_address("cni0", "10.244.1.137") == "192.168.49.2"


def test_masquerade_keeps_the_source_port_unless_it_clashes(lab):
    node = lab(DNAT_MASQ)
    first = node.send(Packet("192.168.49.100", "10.96.0.10", "tcp", 40000, 80))
    second = node.send(Packet("192.168.49.101", "10.96.0.10", "tcp", 40000, 80))
    assert first.final.packet.sport == 40000
    # Same endpoint, same masquerade address, same port would give the same reply tuple.
    assert second.final.packet.sport == 40001
    assert second.conntrack["snat_port"] == 40001


CASCADE = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SVC-X - [0:0]
:SEP-A - [0:0]
:SEP-B - [0:0]
:SEP-C - [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X
-A KUBE-SVC-X -m statistic --mode random --probability 0.33333333349 -j SEP-A
-A KUBE-SVC-X -m statistic --mode random --probability 0.50000000000 -j SEP-B
-A KUBE-SVC-X -j SEP-C
-A SEP-A -p tcp -j DNAT --to-destination 10.244.1.1:8080
-A SEP-B -p tcp -j DNAT --to-destination 10.244.1.2:8080
-A SEP-C -p tcp -j DNAT --to-destination 10.244.1.3:8080
COMMIT
"""


def test_explore_all_branches_gives_each_endpoint_one_third(lab):
    node = lab(CASCADE)
    branches = explore_branches(node.ruleset, syn(), node.node, node.conntrack)
    shares = endpoint_shares(branches)
    assert set(shares) == {"10.244.1.1:8080", "10.244.1.2:8080", "10.244.1.3:8080"}
    assert sum(shares.values()) == 1
    for share in shares.values():
        assert abs(share - Fraction(1, 3)) < Fraction(1, 10**9)
    # P = lround(p * 2^31) exactly as the kernel compares: 715827883 / 2^31 for 0.33333333349.
    assert shares["10.244.1.1:8080"] == Fraction(715827883, 1 << 31)
    # Exploring leaves the node's state alone: no connection, no counter, no nth step.
    assert node.conntrack.connections == []
    nat = node.ruleset.tables["nat"]
    assert all(r.packets == 0 for c in nat.chains.values() for r in c.rules)
    assert all(c.packets == 0 for c in nat.chains.values())


def test_trace_json_all_branches_lists_every_path_with_its_chains():
    packet = {
        "origin": "external",
        "src": CLIENT,
        "dst": "10.96.0.10",
        "proto": "tcp",
        "sport": 40000,
        "dport": 80,
    }
    result = trace_json(CASCADE, packet, all_branches=True)
    branches = result["branches"]
    assert [b["dnat_to"] for b in branches] == [
        "10.244.1.1:8080",
        "10.244.1.2:8080",
        "10.244.1.3:8080",
    ]
    assert [b["draws"] for b in branches] == [[True], [False, True], [False, False]]
    assert abs(sum(b["probability"] for b in branches) - 1) < 1e-12
    assert "PREROUTING/nat/SEP-B" in branches[1]["path"]
    assert result["conntrack"]["dnat_to"] in {b["dnat_to"] for b in branches}


def test_conntrack_survives_storage_between_requests(lab):
    node = lab(DNAT_MASQ)
    node.send(syn())
    stored = json.loads(json.dumps(node.conntrack.to_data()))
    node.conntrack = Conntrack.from_data(stored)
    assert node.conntrack.listing(1.0).startswith("tcp      6 119 SYN_SENT")
    again = node.send(syn().with_(tcp_flags=ACK))
    assert not any(s.table == "nat" for s in again.steps)  # still the same connection
    assert again.final.packet.dst == "10.244.1.137"

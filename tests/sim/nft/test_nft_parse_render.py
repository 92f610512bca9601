"""The nftables text layer: knftables `add` commands and nft's block syntax in, `nft list`
(nft 1.0.6) and knftables Dump out, with nft's errors for what nft refuses."""

from __future__ import annotations

import pytest

from app.sim.kubeproxy.nftables import canonical_dump
from app.sim.nft.model import NftError
from app.sim.nft.parse import parse_blocks, parse_commands, parse_duration, parse_ruleset
from app.sim.nft.render import dump, format_duration, list_ruleset, list_table, priority_text

SMALL = """\
add table ip kube-proxy { comment "rules for kube-proxy" ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add chain ip kube-proxy pre { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy out { type filter hook output priority -110 ; }
add chain ip kube-proxy post { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy svc
add chain ip kube-proxy masq
add element ip kube-proxy cluster-ips { 172.30.0.46 }
add element ip kube-proxy cluster-ips { 10.0.0.1 }
add element ip kube-proxy cluster-ips { 172.30.0.41 }
add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto svc }
add element ip kube-proxy service-ips { 1.2.3.4 . tcp . 80 : goto svc }
add rule ip kube-proxy pre ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy masq mark and 0x4000 == 0 return
add rule ip kube-proxy masq mark set mark or 0x4000
add rule ip kube-proxy svc ip daddr { 172.30.0.0/16 } drop comment "Drop traffic"
add rule ip kube-proxy svc ip saddr != { 10.0.0.0/8 , 192.168.0.0/16 } counter jump masq
"""

# What nft 1.0.6 prints for SMALL (checked against the kernel by tests/kernel).
SMALL_LISTING = """\
table ip kube-proxy {
\tcomment "rules for kube-proxy"
\tset cluster-ips {
\t\ttype ipv4_addr
\t\tcomment "Active ClusterIPs"
\t\telements = { 10.0.0.1, 172.30.0.41,
\t\t\t     172.30.0.46 }
\t}

\tmap service-ips {
\t\ttype ipv4_addr . inet_proto . inet_service : verdict
\t\telements = { 1.2.3.4 . tcp . 80 : goto svc,
\t\t\t     172.30.0.41 . tcp . 80 : goto svc }
\t}

\tchain pre {
\t\ttype filter hook prerouting priority dstnat - 10; policy accept;
\t\tip daddr . meta l4proto . th dport vmap @service-ips
\t}

\tchain out {
\t\ttype filter hook output priority -110; policy accept;
\t}

\tchain post {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t}

\tchain svc {
\t\tip daddr 172.30.0.0/16 drop comment "Drop traffic"
\t\tip saddr != { 10.0.0.0/8, 192.168.0.0/16 } counter packets 0 bytes 0 jump masq
\t}

\tchain masq {
\t\tmeta mark & 0x00004000 == 0x00000000 return
\t\tmeta mark set meta mark | 0x00004000
\t}
}
"""


def test_listing_is_what_nft_prints() -> None:
    table = parse_commands(SMALL).table("ip", "kube-proxy")
    assert list_table(table) == SMALL_LISTING


def test_listing_parses_back_to_the_same_table() -> None:
    ruleset = parse_ruleset(SMALL_LISTING)
    assert list_table(ruleset.table("ip", "kube-proxy")) == SMALL_LISTING


def test_handles_are_listed_with_dash_a_and_never_reused() -> None:
    table = parse_commands(SMALL).table("ip", "kube-proxy")
    listing = list_table(table, handles=True)
    assert "\tchain svc { # handle" in listing
    handles = [r.handle for c in table.chains.values() for r in c.rules]
    assert len(set(handles)) == len(handles)
    assert all(h > 0 for h in handles)


def test_dump_loads_back_and_sorts_like_knftables() -> None:
    table = parse_commands(SMALL).table("ip", "kube-proxy")
    again = parse_commands(dump(table)).table("ip", "kube-proxy")
    assert list_table(again) == SMALL_LISTING
    assert canonical_dump(dump(table)) == canonical_dump(SMALL)


def test_canonical_sort_keeps_rule_order_within_a_chain() -> None:
    text = "add rule ip t b x\nadd rule ip t a z\nadd chain ip t b\nadd rule ip t a y\n"
    assert canonical_dump(text).splitlines() == [
        "add chain ip t b",
        "add rule ip t a z",
        "add rule ip t a y",
        "add rule ip t b x",
    ]


@pytest.mark.parametrize(
    ("priority", "hook", "text"),
    [
        (-100, "prerouting", "dstnat"),
        (-110, "prerouting", "dstnat - 10"),
        (-100, "output", "-100"),
        (100, "postrouting", "srcnat"),
        (0, "forward", "filter"),
        (5, "input", "filter + 5"),
        (-300, "prerouting", "raw"),
        (-450, "prerouting", "-450"),
    ],
)
def test_priorities_print_by_name_where_nft_does(priority: int, hook: str, text: str) -> None:
    assert priority_text(priority, hook) == text


def test_durations() -> None:
    assert format_duration(10800) == "3h"
    assert format_duration(5400) == "1h30m"
    assert parse_duration("10800s") == 10800
    assert parse_duration("1h30m") == 5400
    with pytest.raises(NftError):
        parse_duration("ten")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("add rule ip kube-proxy nosuch drop", "No such file or directory"),
        ("add rule ip kube-proxy svc jump nosuch", "No such file or directory"),
        ("add rule ip kube-proxy svc ip daddr @nosuch drop", "No such file or directory"),
        ("add rule ip kube-proxy svc frobnicate", "syntax error"),
        ("add element ip kube-proxy service-ips { 1.1.1.1 . tcp . 1 : goto nosuch }", "No such"),
        ("add rule ip nosuch svc drop", "No such file or directory"),
        ("launch table ip x", "syntax error"),
    ],
)
def test_what_nft_refuses_is_an_nft_error(line: str, message: str) -> None:
    with pytest.raises(NftError, match=message):
        parse_commands(SMALL + line + "\n")


def test_a_referenced_chain_cannot_be_deleted() -> None:
    with pytest.raises(NftError, match="Device or resource busy"):
        parse_commands(SMALL + "delete chain ip kube-proxy masq\n")
    ruleset = parse_commands(
        SMALL + "flush chain ip kube-proxy svc\ndelete chain ip kube-proxy masq\n"
    )
    assert "masq" not in ruleset.table("ip", "kube-proxy").chains


def test_elements_are_deleted_by_key() -> None:
    ruleset = parse_commands(
        SMALL + "delete element ip kube-proxy service-ips { 1.2.3.4 . tcp . 80 }\n"
    )
    keys = list(ruleset.table("ip", "kube-proxy").sets["service-ips"].elements)
    assert keys == [("172.30.0.41", "tcp", "80")]


def test_block_syntax_allows_forward_references() -> None:
    text = """table ip t {
\tmap m {
\t\ttype inet_proto . inet_service : verdict
\t\telements = { tcp . 80 : goto later }
\t}

\tchain first {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tjump later
\t}

\tchain later {
\t\tmeta l4proto . th dport vmap @m
\t}
}
"""
    table = parse_blocks(text).table("ip", "t")
    assert list(table.chains) == ["first", "later"]
    assert table.chains["first"].priority == -100
    assert list_table(table) == text


def test_list_ruleset_prints_every_table_and_empty_chains_as_nft_does() -> None:
    text = (
        "add table ip a\nadd chain ip a c { type filter hook input priority 0 ; }\n"
        "add table ip b\nadd set ip b s { type ipv4_addr ; }\nadd chain ip b e\n"
    )
    # `nft list ruleset` of the same commands (nft 1.0.6)
    assert list_ruleset(parse_commands(text)) == (
        "table ip a {\n\tchain c {\n\t\ttype filter hook input priority filter; policy accept;\n"
        "\t}\n}\ntable ip b {\n\tset s {\n\t\ttype ipv4_addr\n\t}\n\n\tchain e {\n\t}\n}\n"
    )

"""Bad nftables input never escapes as an unexpected Python exception: whatever the text,
parsing either builds a ruleset (which then lists and traces) or raises NftError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.sim.netfilter.packet_input import TraceInputError
from app.sim.nft.engine import trace_json
from app.sim.nft.model import NftError
from app.sim.nft.parse import parse_ruleset
from app.sim.nft.render import list_ruleset

HEAD = (
    "add table ip t\nadd set ip t s { type ipv4_addr ; }\n"
    "add map ip t m { type ipv4_addr . inet_proto . inet_service : verdict ; }\n"
    "add chain ip t c\nadd chain ip t b { type filter hook prerouting priority 0 ; }\n"
    "add rule ip t b jump c\n"
)
WORDS = [
    "ip",
    "ip6",
    "daddr",
    "saddr",
    "meta",
    "l4proto",
    "mark",
    "th",
    "tcp",
    "udp",
    "dport",
    "ct",
    "state",
    "new",
    "fib",
    "type",
    "local",
    "numgen",
    "random",
    "mod",
    "0",
    "2",
    "vmap",
    "@m",
    "@s",
    "@x",
    "{",
    "}",
    ",",
    ":",
    ".",
    "==",
    "!=",
    "and",
    "or",
    "xor",
    "set",
    "goto",
    "jump",
    "c",
    "b",
    "nosuch",
    "accept",
    "drop",
    "reject",
    "return",
    "dnat",
    "to",
    "masquerade",
    "fully-random",
    "update",
    "counter",
    "comment",
    '"x"',
    "10.0.0.1",
    "10.0.0.0/8",
    "1.2.3.4:80",
    "0x4000",
    "80",
    "tcp",
    "-1",
    "99999999999",
    "[::1]:80",
    "priority",
    "hook",
]
KINDS = [
    "rule ip t c",
    "rule ip t b",
    "element ip t m",
    "element ip t s",
    "chain ip t x",
    "set ip t z",
    "map ip t y",
    "table ip",
    "chain ip t",
]
PACKET = {
    "origin": "external",
    "src": "10.0.0.1",
    "dst": "10.0.0.2",
    "proto": "tcp",
    "sport": 1000,
    "dport": 80,
}


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    verb=st.sampled_from(["add", "delete", "flush", "insert"]),
    kind=st.sampled_from(KINDS),
    body=st.lists(st.sampled_from(WORDS), max_size=12),
)
def test_any_command_is_accepted_or_refused_cleanly(verb: str, kind: str, body: list[str]) -> None:
    text = HEAD + f"{verb} {kind} {' '.join(body)}\n"
    try:
        ruleset = parse_ruleset(text)
    except NftError as err:
        assert str(err).startswith("Error: ")
        return
    list_ruleset(ruleset)
    try:
        trace_json(text, PACKET)
    except TraceInputError as err:
        assert err.message

"""The trace contract at its edges: the JSON shape, bad packets, bad rulesets, the CLI."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli import main
from app.sim.netfilter.engine import TraceInputError, trace_json

RULES = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.6:8080
-A POSTROUTING -o cni0 -j MASQUERADE
COMMIT
"""
PACKET = {
    "origin": "external",
    "src": "192.168.49.100",
    "dst": "10.96.0.10",
    "proto": "tcp",
    "sport": 40000,
    "dport": 80,
}


def test_json_has_the_documented_keys_and_values():
    result = trace_json(RULES, PACKET)
    step = result["steps"][0]
    assert set(step) >= {
        "hook",
        "table",
        "chain",
        "rule",
        "kind",
        "matched",
        "verdict",
        "rule_text",
        "packet",
    }
    assert step["rule_text"] == (
        "-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT "
        "--to-destination 10.244.2.6:8080"
    )
    assert step["packet"] == {
        "src": "192.168.49.100",
        "dst": "10.244.2.6",
        "sport": 40000,
        "dport": 8080,
        "mark": "0x0",
    }
    assert result["final"] == {
        "verdict": "ACCEPT",
        "delivered": "out",
        "out_iface": "cni0",
        "packet": {"src": "192.168.49.2", "dst": "10.244.2.6", "sport": 40000, "dport": 8080},
    }
    conntrack = result["conntrack"]
    assert (conntrack["dnat_to"], conntrack["snat_to"]) == ("10.244.2.6:8080", "192.168.49.2")
    assert conntrack["orig"] == "192.168.49.100:40000 -> 10.96.0.10:80"
    json.dumps(result)  # plain JSON all the way down


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"origin": "space"}, "origin must be one of external, local"),
        ({"src": "10.0.0.300"}, "src is not an IPv4 address"),
        ({"dst": "::1"}, "dst is not an IPv4 address"),
        ({"proto": "icmp"}, "proto must be one of tcp, udp"),
        ({"sport": 70000}, "sport must be a port number"),
        ({"dport": True}, "dport must be a port number"),
        ({"node_ip": "not-an-ip"}, "bad node address"),
        ({"local_ips": "10.0.0.1/33"}, "bad node address"),
        ({"pod_iface": "eth0"}, "bad pod_iface"),
        ({"sysctls": {"ip_forward": "yes"}}, "sysctl 'ip_forward' must be a number"),
        ({"colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_bad_packet_json_is_a_clear_error(change, message):
    with pytest.raises(TraceInputError) as caught:
        trace_json(RULES, {**PACKET, **change})
    assert message in caught.value.message


def test_missing_key_and_non_object_are_clear_errors():
    with pytest.raises(TraceInputError, match="missing key 'dport'"):
        trace_json(RULES, {k: v for k, v in PACKET.items() if k != "dport"})
    with pytest.raises(TraceInputError, match="expected a JSON object"):
        trace_json(RULES, ["not", "an", "object"])  # type: ignore[arg-type]


def test_bad_ruleset_reports_iptables_restore_words():
    with pytest.raises(TraceInputError) as caught:
        trace_json("*nat\n-A PREROUTING -j NOWHERE\nCOMMIT\n", PACKET)
    assert caught.value.message.startswith("iptables-restore")


def test_cli_prints_the_json_contract(tmp_path, capsys):
    rules = tmp_path / "rules.txt"
    rules.write_text(RULES)
    status = main(["trace", "--ruleset", str(rules), "--packet", json.dumps(PACKET), "--json"])
    assert status == 0
    assert json.loads(capsys.readouterr().out) == trace_json(RULES, PACKET)


def test_cli_table_explains_in_english_and_chinese(tmp_path, capsys):
    rules = tmp_path / "rules.txt"
    rules.write_text(RULES)
    packet = tmp_path / "packet.json"
    packet.write_text(json.dumps(PACKET))
    args = ["trace", "--ruleset", str(rules), "--packet", f"@{packet}", "--matched-only"]
    assert main(args) == 0
    english = capsys.readouterr().out
    assert "DNAT: destination becomes 10.244.2.6:8080" in english
    assert "final: ACCEPT, sent out of cni0; 192.168.49.2:40000 -> 10.244.2.6:8080" in english
    assert main([*args, "--lang", "zh"]) == 0
    chinese = capsys.readouterr().out
    assert "DNAT：目的地址改为 10.244.2.6:8080" in chinese
    assert "conntrack: tcp      6 120 SYN_SENT" in chinese


def test_cli_all_branches_lists_each_path(tmp_path, capsys):
    rules = tmp_path / "rules.txt"
    rules.write_text(RULES)
    args = ["trace", "--ruleset", str(rules), "--packet", json.dumps(PACKET), "--all-branches"]
    assert main(args) == 0
    assert "p=1.000000 -> 10.244.2.6:8080 (ACCEPT, out)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("ruleset", "packet", "expected"),
    [
        ("*nat\n-A PREROUTING -j NOWHERE\nCOMMIT\n", json.dumps(PACKET), "iptables-restore"),
        (RULES, "{not json", "packet: not valid JSON"),
        (RULES, json.dumps({**PACKET, "proto": "sctp"}), "proto must be one of tcp, udp"),
        (RULES, "@/nonexistent/packet.json", "cannot read the packet file"),
    ],
)
def test_cli_bad_input_exits_2_with_a_message(tmp_path, capsys, ruleset, packet, expected):
    rules = tmp_path / "rules.txt"
    rules.write_text(ruleset)
    assert main(["trace", "--ruleset", str(rules), "--packet", packet]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_cli_missing_ruleset_file_exits_2(capsys):
    status = main(["trace", "--ruleset", "/nonexistent/rules", "--packet", json.dumps(PACKET)])
    assert status == 2
    assert "cannot read the ruleset file /nonexistent/rules" in capsys.readouterr().err


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.text(max_size=20)
    | st.sampled_from(["tcp", "udp", "external", "local", "10.96.0.10", "cni0", "eth0"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
keys = st.sampled_from(
    [
        *PACKET,
        "in_iface",
        "node_ip",
        "local_ips",
        "pod_cidr",
        "pod_iface",
        "pod_iface_ip",
        "sysctls",
        "mark",
        "tcp_flags",
        "other",
    ]
)


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(keys, values, max_size=4))
def test_any_packet_json_gives_a_trace_or_a_clear_error(changes):
    try:
        result = trace_json(RULES, {**PACKET, **changes})
    except TraceInputError as err:
        assert err.message.startswith("packet: ")
    else:
        assert result["final"]["verdict"] in {"ACCEPT", "DROP", "REJECT"}

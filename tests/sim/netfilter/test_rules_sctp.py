"""`-p sctp` / `-m sctp --sport/--dport`: parsing, the three printed views, refusals in
iptables' words, and port matching for an SCTP packet. The expected texts are what iptables
1.8.9 printed for the same commands (tests/kernel/test_sctp_kernel.py re-checks them live)."""

from __future__ import annotations

import pytest
from rules_helpers import ctx, hits

from app.sim.kubeproxy.save import render_save
from app.sim.kubeproxy.state import ProxyState
from app.sim.netfilter.commands import run_iptables, run_iptables_restore
from app.sim.netfilter.engine import TraceInputError, trace_json
from app.sim.netfilter.model import Ruleset
from app.sim.netfilter.render import ListFormat, render_list, render_rules
from app.sim.packet import Packet


def _filter_after(*commands: str) -> Ruleset:
    ruleset = Ruleset()
    for command in commands:
        result = run_iptables(ruleset, command.split())
        assert result.ok, (command, result.stderr)
    return ruleset


@pytest.mark.parametrize(
    ("command", "saved", "listed"),
    [
        ("-p sctp --dport 53", "-p sctp -m sctp --dport 53", "sctp dpt:53"),
        ("-m sctp -p sctp -d 1.2.3.4 --dport 53", "-d 1.2.3.4/32 -p sctp -m sctp --dport 53",
         "sctp dpt:53"),
        ("-p sctp --sport 1000:2000 ! --dport 53", "-p sctp -m sctp --sport 1000:2000 ! --dport 53",
         "sctp spts:1000:2000 dpt:!53"),
        ("-p sctp ! --sport 22", "-p sctp -m sctp ! --sport 22", "sctp spt:!22"),
        # the full range is saved (sctp_save) but not listed (print_ports)
        ("-p sctp --dport 0:65535", "-p sctp -m sctp --dport 0:65535", "sctp"),
        ("-p sctp --dport 5:", "-p sctp -m sctp --dport 5:65535", "sctp dpts:5:65535"),
        ("-p 132 -m sctp", "-p sctp -m sctp", "sctp"),
    ],
)  # fmt: skip
def test_sctp_rule_is_saved_and_listed_as_iptables_prints_it(
    command: str, saved: str, listed: str
) -> None:
    ruleset = _filter_after(f"-A INPUT {command} -j ACCEPT")
    table = ruleset.tables["filter"]
    assert f"-A INPUT {saved} -j ACCEPT\n" in render_rules(table)
    numeric = render_list(table, fmt=ListFormat(numeric=True)).splitlines()[2]
    assert numeric.split()[:2] == ["ACCEPT", "132"]  # iptables 1.8.9 -n: protocol number
    assert numeric.endswith(f"  {listed}")
    named = render_list(table, fmt=ListFormat()).splitlines()[2]
    assert named.split()[:2] == ["ACCEPT", "sctp"]
    assert named.endswith(f"  {listed}")


def test_saved_sctp_rule_restores_to_the_same_text() -> None:
    text = (
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        ":POSTROUTING ACCEPT [0:0]\n"
        "-A PREROUTING -d 172.30.0.42/32 -p sctp -m sctp --dport 53 "
        "-j DNAT --to-destination 10.180.0.1:53\nCOMMIT\n"
    )
    ruleset = Ruleset()
    assert run_iptables_restore(ruleset, [], text).ok
    rules = render_rules(ruleset.tables["nat"], "PREROUTING")
    assert rules.splitlines()[1] == text.splitlines()[5]


@pytest.mark.parametrize(
    ("command", "status", "message"),
    [
        ("-p sctp --dport http", 2, "invalid port/service `http' specified"),
        ("-p sctp --dport 65536", 2, "invalid port/service `65536' specified"),
        ("-p sctp --dport 5:3", 2, "invalid portrange (min > max)"),
        ("-p sctp --dport 53 --dport 54", 2, "Only one `--destination-port' allowed"),
        ("-p sctp --sport 1 --source-port 2", 2, "Only one `--source-port' allowed"),
        # the kernel, not iptables, ties the match to its protocol (xt_check_match)
        ("-m sctp --dport 53", 4, "RULE_APPEND failed (Invalid argument): rule in chain INPUT"),
        ("-p tcp -m sctp", 4, "RULE_APPEND failed (Invalid argument): rule in chain INPUT"),
        ("! -p sctp -m sctp", 4, "RULE_APPEND failed (Invalid argument): rule in chain INPUT"),
    ],
)
def test_bad_sctp_rules_are_refused_in_iptables_words(
    command: str, status: int, message: str
) -> None:
    ruleset = Ruleset()
    result = run_iptables(ruleset, f"-A INPUT {command} -j ACCEPT".split())
    assert result.status == status
    assert f"iptables v1.8.9 (nf_tables): {message}" in result.stderr.replace("  ", " ")
    assert not ruleset.tables.get("filter") or not ruleset.tables["filter"].chains["INPUT"].rules


def test_sctp_ports_match_only_sctp_packets_in_range() -> None:
    rule = "-p sctp -m sctp --sport 1000:2000 ! --dport 53"
    assert hits(rule, ctx(Packet("10.0.0.5", "10.96.0.10", "sctp", 1500, 80)))
    assert not hits(rule, ctx(Packet("10.0.0.5", "10.96.0.10", "sctp", 1500, 53)))
    assert not hits(rule, ctx(Packet("10.0.0.5", "10.96.0.10", "sctp", 999, 80)))
    assert not hits(rule, ctx(Packet("10.0.0.5", "10.96.0.10", "tcp", 1500, 80)))
    assert not hits("-m sctp --dport 80", ctx(Packet("10.0.0.5", "10.0.0.6", "udp", 1, 80)))


def test_engine_refuses_an_sctp_packet_with_a_clear_message() -> None:
    packet = {"origin": "external", "src": "10.0.0.5", "dst": "172.30.0.42",
              "proto": "sctp", "sport": 40000, "dport": 53}  # fmt: skip
    with pytest.raises(TraceInputError, match="proto must be one of tcp, udp"):
        trace_json("*filter\n-A INPUT -p sctp --dport 53 -j DROP\nCOMMIT\n", packet)


def test_kube_proxy_sctp_service_has_a_save_view() -> None:
    """A Service port of protocol SCTP: kube-proxy's rules load into the rule model."""
    state = ProxyState.from_dict(
        {
            "mode": "iptables",
            "ipFamily": "IPv4",
            "node": {"name": "n1", "primaryIP": "192.168.49.2",
                     "interfaces": {"eth0": ["192.168.49.2/24"]}},
            "services": [{"namespace": "ns", "name": "s", "type": "ClusterIP",
                          "clusterIP": "10.96.0.20",
                          "ports": [{"name": "p", "port": 2905, "protocol": "SCTP"}]}],
            "endpointSlices": [{"namespace": "ns", "name": "s-1", "service": "s",
                                "addressType": "IPv4",
                                "ports": [{"name": "p", "port": 2905, "protocol": "SCTP"}],
                                "endpoints": [{"addresses": ["10.244.1.5"], "nodeName": "n1"}]}],
        }
    )  # fmt: skip
    save = render_save(state)
    assert (
        '-d 10.96.0.20/32 -p sctp -m comment --comment "ns/s:p cluster IP" -m sctp --dport 2905'
        in save
    )
    assert '-p sctp -m comment --comment "ns/s:p" -m sctp -j DNAT' in save

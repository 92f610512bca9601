"""Bad input only ever produces a clean iptables error, never another exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.sim.netfilter.commands import run_iptables, run_iptables_restore
from app.sim.netfilter.errors import IptablesError
from app.sim.netfilter.model import Ruleset
from app.sim.netfilter.parse import parse_restore, parse_rule_args

CORPUS = Path(__file__).resolve().parents[3].parent / "shared/conformance/kube-proxy/iptables"
SAMPLE = """\
*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SVC - [0:0]
:KUBE-SEP - [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC
-A KUBE-SVC -m statistic --mode random --probability 0.5 -j KUBE-SEP
-A KUBE-SEP -p tcp -m recent --name A --set -j DNAT --to-destination 10.244.0.5:80
COMMIT
"""
LINES = [*SAMPLE.splitlines()] + (
    [
        line
        for path in sorted(CORPUS.glob("*/expected-iptables-save.txt"))
        for line in path.read_text().splitlines()
    ]
    if CORPUS.is_dir()
    else []
)
TOKENS = [
    "-A", "-I", "-D", "-R", "-N", "-X", "-F", "-E", "-P", "-L", "-S", "-C", "-Z", "-t", "nat",
    "filter", "INPUT", "PREROUTING", "KUBE-SVC", "-j", "-g", "-m", "tcp", "udp", "multiport",
    "mark", "statistic", "recent", "conntrack", "set", "comment", "addrtype", "!", "-p", "-s",
    "-d", "-i", "-o", "--dport", "--sport", "--mode", "random", "nth", "--probability", "0.5",
    "--every", "--packet", "--set", "--rcheck", "--seconds", "--name", "--ctstate", "NEW",
    "--mark", "0x4000/0x4000", "--to-destination", "10.0.0.1:80", "DNAT", "SNAT", "MASQUERADE",
    "REJECT", "MARK", "--set-xmark", "ACCEPT", "DROP", "RETURN", "1", "0", "99999", "10.0.0.0/8",
    "--tcp-flags", "SYN,ACK", "SYN", "--comment", '"x y"', "-c", "--to-ports", "--dports", "",
]  # fmt: skip


def _only_clean_errors(call) -> None:  # type: ignore[no-untyped-def]
    try:
        call()
    except IptablesError as err:
        assert err.text()  # a worded, printable refusal


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.sampled_from(TOKENS) | st.text(max_size=8), max_size=14))
def test_random_commands_fail_cleanly(argv: list[str]) -> None:
    rs = parse_restore(SAMPLE)
    result = run_iptables(rs, argv)
    assert result.status == 0 or result.stderr
    _only_clean_errors(lambda: parse_rule_args(argv))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_as_restore_input_fail_cleanly(data: bytes) -> None:
    result = run_iptables_restore(Ruleset(), [], data.decode("utf-8", "replace"))
    assert result.status == 0 or result.stderr


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_mutated_rulesets_fail_cleanly(data: st.DataObject) -> None:
    lines = list(LINES)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        words = lines[i].split(" ")
        j = data.draw(st.integers(0, len(words) - 1))
        action = data.draw(st.sampled_from(["drop", "swap", "replace", "dup"]))
        if action == "drop":
            del words[j]
        elif action == "replace":
            words[j] = data.draw(st.sampled_from(TOKENS) | st.text(max_size=6))
        elif action == "dup":
            words.insert(j, words[j])
        else:
            k = data.draw(st.integers(0, len(words) - 1))
            words[j], words[k] = words[k], words[j]
        lines[i] = " ".join(words)
    text = "\n".join(lines) + "\n"
    result = run_iptables_restore(Ruleset(), ["--noflush"], text)
    assert result.status == 0 or result.stderr

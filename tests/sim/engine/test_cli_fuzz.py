"""`kube-proxy-lab trace` under hostile input: random bytes, random tokens and mutated real
rulesets as the ruleset file, random text as the packet. The console script must answer with a
trace (exit 0) or a clear message on stderr (exit 2) — never a traceback or an internal error."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main

SEED_RULES = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.97.139.74/32 -p tcp -m tcp --dport 8080 -j KUBE-SVC-A
-A KUBE-SVC-A -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-1
-A KUBE-SVC-A -j KUBE-SEP-2
-A KUBE-SEP-1 -p tcp -m tcp -j DNAT --to-destination 10.244.1.137:8080
-A KUBE-SEP-2 -p tcp -m tcp -j DNAT --to-destination 10.244.1.138:8080
COMMIT
"""
PACKET = json.dumps(
    {
        "origin": "external",
        "src": "192.168.49.100",
        "dst": "10.97.139.74",
        "proto": "tcp",
        "sport": 40000,
        "dport": 8080,
    }
)
TOKENS = ["-A", "-j", "-p", "tcp", "--dport", "!", "-m", "DNAT", "*nat", "COMMIT", ":X - [0:0]"]


def _run(ruleset: bytes, packet: str, capsys) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.txt"
        path.write_bytes(ruleset)
        try:
            status = main(["trace", "--ruleset", str(path), "--packet", packet, "--json"])
        except SystemExit as exit_:  # argparse's own refusal (e.g. a packet that looks like -x)
            status = exit_.code
    captured = capsys.readouterr()
    assert status in (0, 2), (status, captured.err)
    assert "Traceback" not in captured.err
    assert "internal error" not in captured.err
    if status == 0:
        assert json.loads(captured.out)["final"]["verdict"] in {"ACCEPT", "DROP", "REJECT"}
    else:
        assert captured.err.strip(), "a refusal must say why"


_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_as_the_ruleset(capsys, data: bytes) -> None:
    _run(data, PACKET, capsys)


@_SETTINGS
@given(st.lists(st.sampled_from(TOKENS) | st.text(max_size=6), max_size=20))
def test_random_tokens_as_the_ruleset(capsys, tokens: list[str]) -> None:
    _run(("*nat\n" + " ".join(tokens) + "\nCOMMIT\n").encode(), PACKET, capsys)


@_SETTINGS
@given(st.data())
def test_mutated_seed_ruleset(capsys, data: st.DataObject) -> None:
    lines = SEED_RULES.splitlines()
    index = data.draw(st.integers(0, len(lines) - 1))
    words = lines[index].split(" ")
    spot = data.draw(st.integers(0, len(words) - 1))
    words[spot] = data.draw(st.sampled_from(TOKENS) | st.text(max_size=10))
    lines[index] = " ".join(words)
    _run(("\n".join(lines) + "\n").encode(), PACKET, capsys)


@_SETTINGS
@given(st.text(max_size=200))
def test_random_text_as_the_packet(capsys, packet: str) -> None:
    _run(SEED_RULES.encode(), packet, capsys)

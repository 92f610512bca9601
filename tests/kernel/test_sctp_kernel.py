"""`-p sctp` and `-m sctp` against the real iptables 1.8.9 in a network namespace: every
command (good and bad) answers with the same status, stdout and stderr as `run_iptables`,
and after them the kernel's iptables-save, `-S` and `-L` (numeric or not) equal ours."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from app.sim.netfilter.commands import run_iptables, run_iptables_restore
from app.sim.netfilter.model import Ruleset
from app.sim.netfilter.render import ListFormat, render_list, render_rules, render_save

from .conftest import kernel_unavailable

COMMANDS = """\
-A INPUT -p sctp --dport 53 -j ACCEPT
-A INPUT -m sctp -p sctp -d 1.2.3.4 --dport 53 -j ACCEPT
-A INPUT -p sctp -m sctp --sport 1000:2000 ! --dport 53 -j ACCEPT
-A INPUT -p sctp ! --sport 22 -j DROP
-A INPUT -p sctp --dport 0:65535 -j ACCEPT
-A INPUT -p sctp --dport 5: -j ACCEPT
-A INPUT -p sctp --dport :5 -j ACCEPT
-A INPUT -p sctp --source-port 7 --destination-port 8 -j ACCEPT
-A INPUT -p 132 --dport 9 -j ACCEPT
-A INPUT -p SCTP -m sctp -j ACCEPT
-A INPUT -p sctp -j ACCEPT
-A INPUT ! -p sctp -j ACCEPT
-A INPUT -p sctp --dport http -j ACCEPT
-A INPUT -p sctp --dport 65536 -j ACCEPT
-A INPUT -p sctp --dport 5:3 -j ACCEPT
-A INPUT -p sctp --dport 53 --dport 54 -j ACCEPT
-A INPUT -p sctp --sport 1 --source-port 2 -j ACCEPT
-A INPUT -p sctp --dport -j ACCEPT
-A INPUT -m sctp --dport 53 -j ACCEPT
-A INPUT -p tcp -m sctp --dport 53 -j ACCEPT
-A INPUT ! -p sctp -m sctp --dport 5 -j ACCEPT
-A INPUT -p udp --dport 53 -m sctp -j ACCEPT
-C INPUT -p sctp -m sctp --dport 53 -j ACCEPT
-C INPUT -p sctp -m sctp --dport 54 -j ACCEPT
-D INPUT -p sctp --sport 1000:2000 ! --dport 53 -j ACCEPT
-I INPUT 2 -p sctp -s 10.0.0.0/8 --sport 40000:40010 -j RETURN
-N SVC
-A SVC -p sctp --dport 2905 -j RETURN
-A INPUT -p sctp -j SVC
-S
-S INPUT 3
"""

# What kube-proxy hands iptables-restore for an SCTP Service port (corpus iptables/05).
KUBE_RULES = """\
*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-X - [0:0]
:KUBE-SEP-Y - [0:0]
-A KUBE-SERVICES -m comment --comment "ns2/svc2:dns-sctp cluster IP" -m sctp -p sctp \
-d 172.30.0.42 --dport 53 -j KUBE-SVC-X
-A KUBE-SVC-X -m comment --comment "ns2/svc2:dns-sctp -> 10.180.0.1:53" -j KUBE-SEP-Y
-A KUBE-SEP-Y -m comment --comment ns2/svc2:dns-sctp -m sctp -p sctp \
-j DNAT --to-destination 10.180.0.1:53
COMMIT
"""


@pytest.fixture
def netns() -> Iterator[str]:
    reason = kernel_unavailable()
    if reason:
        pytest.skip(reason)
    name = f"kplsctp{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _ns(ns: str, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], input=stdin, capture_output=True, text=True
    )


def _assert_views_agree(ns: str, ruleset: Ruleset, table: str) -> None:
    save = _ns(ns, "iptables-save", "-t", table).stdout
    kernel_save = "".join(f"{line}\n" for line in save.splitlines() if not line.startswith("#"))
    assert kernel_save == render_save(ruleset, table=table)
    assert _ns(ns, "iptables", "-t", table, "-S").stdout == render_rules(ruleset.tables[table])
    formats = {
        ("-L", "-n", "-v", "--line-numbers"): ListFormat(numeric=True, verbose=True, lines=True),
        ("-L", "-v"): ListFormat(verbose=True),
        ("-L",): ListFormat(),
    }
    for flags, fmt in formats.items():
        real = _ns(ns, "iptables", "-t", table, *flags).stdout
        assert real == render_list(ruleset.tables[table], fmt=fmt), flags


def test_sctp_commands_answer_as_the_kernel_does(netns: str) -> None:
    ruleset = Ruleset()
    for line in COMMANDS.splitlines():
        argv = line.split()
        real = _ns(netns, "iptables", *argv)
        mine = run_iptables(ruleset, argv)
        assert (mine.status, mine.stdout, mine.stderr) == (
            real.returncode,
            real.stdout,
            real.stderr,
        ), line
    assert len(ruleset.tables["filter"].chains["INPUT"].rules) > 10
    _assert_views_agree(netns, ruleset, "filter")


def test_kube_proxy_sctp_rules_restore_as_in_the_kernel(netns: str) -> None:
    real = _ns(netns, "iptables-restore", stdin=KUBE_RULES)
    assert real.returncode == 0, real.stderr
    ruleset = Ruleset()
    mine = run_iptables_restore(ruleset, [], KUBE_RULES)
    assert mine.ok, mine.stderr
    _assert_views_agree(netns, ruleset, "nat")


def test_restore_refuses_sctp_without_protocol_as_the_kernel_does(netns: str) -> None:
    text = "*filter\n-A INPUT -j ACCEPT\n-A INPUT -m sctp --dport 53 -j ACCEPT\nCOMMIT\n"
    real = _ns(netns, "iptables-restore", stdin=text)
    ruleset = Ruleset()
    mine = run_iptables_restore(ruleset, [], text)
    assert (mine.status, mine.stderr) == (real.returncode, real.stderr)
    assert real.returncode != 0

"""The iptables command set over a Ruleset: effects, output and refusals (in iptables'
own wording and exit status; the kernel suite proves the wording against the real tool)."""

from __future__ import annotations

import pytest

from app.sim.netfilter.commands import (
    run_command,
    run_iptables,
    run_iptables_restore,
    run_iptables_save,
)
from app.sim.netfilter.model import Ruleset

HINT = "Try `iptables -h' or 'iptables --help' for more information.\n"


def ipt(ruleset: Ruleset, line: str):  # type: ignore[no-untyped-def]
    return run_iptables(ruleset, line.split())


def test_append_insert_replace_delete_edit_the_chain() -> None:
    rs = Ruleset()
    for line in (
        "-A INPUT -p tcp --dport 22 -j ACCEPT",
        "-A INPUT -j DROP",
        "-I INPUT -s 10.0.0.0/8 -j ACCEPT",
        "-I INPUT 3 -p udp -j ACCEPT",
        "-R INPUT 4 -p tcp --dport 2222 -j ACCEPT",
    ):
        assert ipt(rs, line).ok, line
    assert ipt(rs, "-S INPUT").stdout == (
        "-P INPUT ACCEPT\n"
        "-A INPUT -s 10.0.0.0/8 -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
        "-A INPUT -p udp -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT\n"
    )
    assert ipt(rs, "-D INPUT 9").stderr == "iptables: Index of deletion too big.\n"
    assert ipt(rs, "-R INPUT 9 -j DROP").stderr == "iptables: Index of replacement too big.\n"
    assert ipt(rs, "-D INPUT -p udp -j ACCEPT").ok
    assert ipt(rs, "-D INPUT 1").ok
    assert ipt(rs, "-C INPUT -p tcp --dport 22 -j ACCEPT").ok
    assert ipt(rs, "-S INPUT").stdout.count("\n") == 3


@pytest.mark.parametrize(
    ("line", "status", "stderr"),
    [
        ("-A NOPE -j ACCEPT", 1, "iptables: No chain/target/match by that name.\n"),
        (
            "-A INPUT -j NOPE",
            2,
            f"iptables v1.8.9 (nf_tables): Chain 'NOPE' does not exist\n{HINT}",
        ),
        ("-A INPUT --foo", 2, f'iptables v1.8.9 (nf_tables): unknown option "--foo"\n{HINT}'),
        (
            "-A INPUT --dport 80",
            2,
            f'iptables v1.8.9 (nf_tables): unknown option "--dport"\n{HINT}',
        ),
        (
            "-A INPUT -p tcp -j DNAT --to-destination 1.2.3.4",
            4,
            "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): "
            "rule in chain INPUT\n",
        ),
        (
            "-A INPUT -p udp -j REJECT --reject-with tcp-reset",
            4,
            "iptables v1.8.9 (nf_tables):  RULE_APPEND failed (Invalid argument): "
            "rule in chain INPUT\n",
        ),
        # a builtin chain nothing has used yet does not exist in the kernel (iptables-nft)
        ("-D INPUT 3", 1, "iptables: No chain/target/match by that name.\n"),
        (
            "-D INPUT -j DROP",
            1,
            "iptables: Bad rule (does a matching rule exist in that chain?).\n",
        ),
        (
            "-I INPUT 0 -j ACCEPT",
            2,
            f"iptables v1.8.9 (nf_tables): Invalid rule number `0'\n{HINT}",
        ),
        ("-P INPUT FOO", 1, "iptables: Bad policy name. Run `dmesg' for more information.\n"),
        ("-A INPUT -j ACCEPT extra", 2, f"Bad argument `extra'\n{HINT}"),
        ("", 2, f"iptables v1.8.9 (nf_tables): no command specified\n{HINT}"),
        (
            "-L NOPE",
            1,
            "iptables v1.8.9 (nf_tables): chain `NOPE' in table `filter' is incompatible, "
            "use 'nft' tool.\n",
        ),
    ],
)
def test_refusals_use_iptables_words_and_status(line: str, status: int, stderr: str) -> None:
    rs = Ruleset()
    rs.table("filter")  # loaded, as on any node
    before = run_iptables_save(rs).stdout
    result = ipt(rs, line)
    assert (result.status, result.stdout, result.stderr) == (status, "", stderr)
    assert run_iptables_save(rs).stdout == before


def test_chain_lifecycle_and_references() -> None:
    rs = Ruleset()
    assert ipt(rs, "-N KUBE-SVC").ok and ipt(rs, "-N KUBE-SEP").ok
    assert ipt(rs, "-A KUBE-SVC -j KUBE-SEP").ok
    assert ipt(rs, "-A INPUT -j KUBE-SVC").ok
    loop = ipt(rs, "-A KUBE-SEP -j KUBE-SVC")
    assert loop.status == 4 and "(Too many links)" in loop.stderr
    busy = ipt(rs, "-X KUBE-SEP")
    assert busy.stderr.endswith("CHAIN_DEL failed (Device or resource busy): chain KUBE-SEP\n")
    assert "Chain KUBE-SEP (1 references)" in ipt(rs, "-L -n").stdout
    assert ipt(rs, "-E KUBE-SEP KUBE-SEP-NEW").ok
    assert ipt(rs, "-S KUBE-SVC").stdout == "-N KUBE-SVC\n-A KUBE-SVC -j KUBE-SEP-NEW\n"
    assert ipt(rs, "-F").ok and ipt(rs, "-X").ok
    assert ipt(rs, "-S").stdout == "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n"


def test_dnat_allowed_in_user_chain_until_reached_from_postrouting() -> None:
    rs = Ruleset()
    assert ipt(rs, "-t nat -N SVC").ok
    assert ipt(rs, "-t nat -A SVC -p tcp -j DNAT --to-destination 10.0.0.1:80").ok
    assert ipt(rs, "-t nat -A PREROUTING -j SVC").ok
    assert ipt(rs, "-t nat -A POSTROUTING -j SVC").status == 4


def test_save_and_restore_commands() -> None:
    rs = Ruleset()
    text = "*filter\n:INPUT DROP [1:2]\n[5:6] -A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    assert run_iptables_restore(rs, [], text).ok
    plain = run_iptables_save(rs, ["-c"], timestamp="Thu Nov 26 09:00:00 2026").stdout
    assert plain.splitlines()[0] == (
        "# Generated by iptables-save v1.8.9 (nf_tables) on Thu Nov 26 09:00:00 2026"
    )
    assert "[0:0] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" in plain  # no -c: counters dropped
    assert run_iptables_restore(rs, ["--counters"], text).ok
    assert "[5:6] -A INPUT" in run_iptables_save(rs, ["-c"]).stdout
    noflush = "*filter\n-A INPUT -j DROP\nCOMMIT\n"
    assert run_command(rs, ["iptables-restore", "--noflush"], stdin=noflush).ok
    assert run_iptables(rs, ["-S", "INPUT"]).stdout.count("-A INPUT") == 2
    assert run_iptables_restore(rs, ["--test"], "*filter\n-F\nCOMMIT\n").ok
    assert run_iptables(rs, ["-S", "INPUT"]).stdout.count("-A INPUT") == 2
    missing = run_iptables_restore(rs, [], "*filter\n-A INPUT -j ACCEPT\n")
    assert (missing.status, missing.stderr) == (1, "iptables-restore: COMMIT expected at line 3\n")
    assert run_command(rs, ["ls"]).status == 127


def test_builtin_chains_exist_once_used_and_idle_ones_go_with_dash_x() -> None:
    rs = Ruleset()
    no_chain = "iptables: No chain/target/match by that name.\n"
    assert ipt(rs, "-R INPUT 1 -j ACCEPT").stderr == no_chain
    assert ipt(rs, "-P INPUT ACCEPT").ok
    assert ipt(rs, "-R INPUT 1 -j ACCEPT").stderr == "iptables: Index of replacement too big.\n"
    assert ipt(rs, "-X").ok  # iptables-nft drops empty ACCEPT base chains too
    assert ipt(rs, "-R INPUT 1 -j ACCEPT").stderr == no_chain


def test_restore_reports_batch_errors_where_iptables_nft_does() -> None:
    missing = run_iptables_restore(Ruleset(), [], "*filter\n-A INPUT -g NOPE\nCOMMIT\n")
    assert missing.status == 2
    assert missing.stderr.splitlines()[:2] == [
        "iptables-restore v1.8.9 (nf_tables): Chain 'NOPE' does not exist",
        "Error occurred at line: 3",  # the COMMIT line: the lookup runs when the batch runs
    ]
    loop = "*filter\n:X - [0:0]\n-A X -j X\n-A INPUT -j X\nCOMMIT\n"
    result = run_iptables_restore(Ruleset(), [], loop)
    assert (result.status, result.stderr) == (
        4,
        "iptables-restore v1.8.9 (nf_tables): \n"
        "line 4: RULE_APPEND failed (Too many links): rule in chain INPUT\n",
    )
    two = "*filter\n-A INPUT -j DNAT --to-destination 1.1.1.1\n-A OUTPUT -j REDIRECT\nCOMMIT\n"
    assert run_iptables_restore(Ruleset(), [], two).stderr.count("RULE_APPEND failed") == 2

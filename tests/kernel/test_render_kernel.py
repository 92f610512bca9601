"""The renderers and the command layer against the real iptables 1.8.9 in a netns.

Each ruleset is loaded into a fresh network namespace with the real `iptables-restore`; the
kernel's own `iptables-save`, `iptables -S` and `iptables -L -n -v --line-numbers` must equal
what `render.py` prints for the parsed ruleset. A list of `iptables` commands (good and bad)
is run against both the kernel and `run_iptables`; status, stdout and stderr must agree.
"""

from __future__ import annotations

import itertools
import os
import random
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.sim.netfilter.commands import run_iptables, run_iptables_restore
from app.sim.netfilter.match_state import NfacctMatch
from app.sim.netfilter.model import BUILTIN_CHAINS, Ruleset
from app.sim.netfilter.parse import parse_restore
from app.sim.netfilter.render import ListFormat, render_list, render_rules, render_save

pytestmark = pytest.mark.kernel

CORPUS = Path(__file__).resolve().parents[2].parent / "shared/conformance/kube-proxy/iptables"
_names = itertools.count()


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("iptables") is None or shutil.which("ip") is None:
        return "needs iptables and iproute2"
    return None


@pytest.fixture
def netns() -> Iterator[str]:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    name = f"kplr{os.getpid()}x{next(_names)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _ns(ns: str, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], input=stdin, capture_output=True, text=True
    )


def _without_comments(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))


EVERY_MODULE = """\
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp --dport 9999 -j CT --notrack
-A PREROUTING -p tcp --dport 9998 -j NOTRACK
-A PREROUTING -p tcp --dport 9997 -j TRACE
-A OUTPUT -p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT
-A OUTPUT -p udp -m multiport ! --sports 53,67 -j ACCEPT
-A OUTPUT -p tcp -m multiport --ports 22 -j ACCEPT
-A OUTPUT -j CT
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:MYCHAIN - [0:0]
:OTHER - [0:0]
-A PREROUTING -p tcp -j MARK --set-xmark 0x1/0x1
-A PREROUTING -j MARK --set-mark 0x10
-A PREROUTING -j MARK --set-mark 0x10/0xff
-A PREROUTING -j MARK --and-mark 0xff
-A PREROUTING -j MARK --or-mark 0x20
-A PREROUTING -j MARK --xor-mark 0x3
-A PREROUTING -j MARK --set-xmark 0x5/0xffffffff
-A PREROUTING -j MARK --set-xmark 0x5/0xf0
-A PREROUTING -j CONNMARK --set-mark 0x7
-A PREROUTING -j CONNMARK --save-mark
-A PREROUTING -j CONNMARK --restore-mark
-A PREROUTING -m mark --mark 0x1 -j ACCEPT
-A PREROUTING -m mark ! --mark 0x1/0xf -j LOG --log-prefix "hello world " --log-level 4
-A PREROUTING -j LOG
-A PREROUTING -j LOG --log-prefix x --log-level debug
-A INPUT ! -i veth+ -j MYCHAIN
-A INPUT -p tcp --tcp-flags SYN,ACK SYN -j ACCEPT
-A INPUT -p tcp --syn -j ACCEPT
-A INPUT -p tcp ! --syn -j ACCEPT
-A INPUT -p tcp --tcp-flags ALL NONE -j ACCEPT
-A INPUT -p tcp --sport 1000:2000 ! --dport 22 -j ACCEPT
-A INPUT -p udp --sport 53 -j ACCEPT
-A INPUT ! -p udp -j ACCEPT
-A INPUT -p tcp --dport 1024: -j ACCEPT
-A INPUT -p tcp --dport :1023 -j ACCEPT
-A FORWARD -i eth0 -o eth1 -j MYCHAIN
-A FORWARD ! -s 10.0.0.0/8 ! -d 10.1.0.0/16 ! -o lo -j OTHER
-A MYCHAIN -m state --state NEW,ESTABLISHED -j RETURN
-A MYCHAIN -m state ! --state INVALID -j RETURN
-A MYCHAIN -m conntrack --ctstate NEW,RELATED,INVALID,UNTRACKED,SNAT,DNAT -j RETURN
-A MYCHAIN -m conntrack --ctstatus ASSURED,SEEN_REPLY -j RETURN
-A MYCHAIN -m conntrack ! --ctstatus CONFIRMED ! --ctstate NEW -j RETURN
-A MYCHAIN -m addrtype --src-type LOCAL --dst-type UNICAST --limit-iface-in -j RETURN
-A MYCHAIN -m addrtype ! --dst-type LOCAL,BROADCAST -j RETURN
-A MYCHAIN -m statistic --mode nth --every 3 --packet 1 -j RETURN
-A MYCHAIN -m statistic --mode nth --every 5 --packet 0 -j RETURN
-A MYCHAIN -m statistic --mode random ! --probability 0.3333333333 -j RETURN
-A MYCHAIN -m recent --set --name foo --rsource -j RETURN
-A MYCHAIN -m recent --update --seconds 60 --hitcount 3 --name foo --rdest --mask 255.255.0.0
-A MYCHAIN -m recent ! --rcheck --seconds 10 --reap -j RETURN
-A MYCHAIN -m recent --remove --name bar -j RETURN
-A MYCHAIN -m comment --comment "it's \\"quoted\\"" -j RETURN
-A MYCHAIN -m comment --comment abc_DEF-09 -j RETURN
-A MYCHAIN -m comment --comment a.b -j RETURN
-A MYCHAIN -g OTHER
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:SVC - [0:0]
-A PREROUTING -d 10.96.0.30 -p tcp --dport 80 -j SVC
-A PREROUTING -d 10.96.0.0/12 -p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.5:80-90 --random
-A PREROUTING -p udp -j DNAT --to-destination 10.0.0.1:53 --persistent
-A PREROUTING -p tcp -j DNAT --to-destination 10.0.0.1
-A PREROUTING -p tcp -j DNAT --to-destination 10.0.0.9:8080
-A PREROUTING -p tcp -j REDIRECT --to-ports 3128
-A PREROUTING -p udp -j REDIRECT --to-ports 5000-5010 --random
-A PREROUTING -p tcp -j REDIRECT
-A INPUT -p tcp -j SNAT --to-source 10.0.0.1
-A POSTROUTING -o eth0 -j MASQUERADE
-A POSTROUTING -p tcp -j MASQUERADE --to-ports 1024-65535 --random
-A POSTROUTING -j MASQUERADE --random-fully
-A POSTROUTING -p tcp -j SNAT --to-source 1.2.3.4:1000-2000 --random --random-fully --persistent
-A POSTROUTING -j SNAT --to-source 1.2.3.4
-A SVC -p tcp -m statistic --mode random --probability 0.25 -j DNAT --to-destination 10.244.0.5:80
-A SVC -p tcp -m statistic --mode random --probability 0.2 -j DNAT --to-destination 10.244.0.6:80
-A SVC -p tcp -m statistic --mode random --probability 1 -j DNAT --to-destination 10.244.0.8:80
-A SVC -p tcp -j DNAT --to-destination 10.244.0.7:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset
-A INPUT -p udp --dport 69 -j REJECT
-A INPUT -j REJECT --reject-with icmp-net-unreachable
-A INPUT -j REJECT --reject-with host-unreach
-A INPUT -j REJECT --reject-with icmp-proto-unreachable
-A INPUT -j REJECT --reject-with icmp-net-prohibited
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A INPUT -j REJECT --reject-with icmp-admin-prohibited
-A INPUT -s 10.1.2.3/255.255.0.0 -j DROP
-A INPUT -s 0.0.0.0/0 -d 1.2.3.4/31 -j DROP
-A INPUT -p icmp -j ACCEPT
-A INPUT -p all -j ACCEPT
-A INPUT -p 47 -j ACCEPT
-A INPUT
COMMIT
"""


def _corpus_rulesets() -> list[tuple[str, str]]:
    """Corpus restore inputs (full syncs), re-rendered in iptables-save form."""
    if not CORPUS.is_dir():
        return []
    paths = sorted(CORPUS.glob("*/expected-iptables-save.txt"))
    paths += sorted(CORPUS.glob("*/step-01.expected-iptables-save.txt"))
    return [(path.parent.name, render_save(parse_restore(path.read_text()))) for path in paths]


def _prepare_nfacct(ns: str, text: str) -> str:
    """Create the accounting objects a ruleset counts into (nfacct(8)); without the tool,
    drop the nfacct matches instead, since the kernel refuses a rule naming a missing one."""
    ruleset = parse_restore(text, counters=False)
    names = {
        m.object_name
        for t in ruleset.tables.values()
        for c in t.chains.values()
        for r in c.rules
        for m in r.matches
        if isinstance(m, NfacctMatch)
    }
    if not names:
        return text
    if shutil.which("nfacct"):
        for name in sorted(n for n in names if n):
            subprocess.run(["ip", "netns", "exec", ns, "nfacct", "add", name], check=True)
        return text
    for table in ruleset.tables.values():
        for chain in table.chains.values():
            for rule in chain.rules:
                rule.matches = [m for m in rule.matches if not isinstance(m, NfacctMatch)]
    return render_save(ruleset)


RULESETS = [("every-module", EVERY_MODULE), *_corpus_rulesets()]


@pytest.mark.parametrize(("name", "text"), RULESETS, ids=[n for n, _ in RULESETS])
def test_kernel_prints_what_the_renderer_prints(netns: str, name: str, text: str) -> None:
    text = _prepare_nfacct(netns, text)
    loaded = _ns(netns, "iptables-restore", stdin=text)
    assert loaded.returncode == 0, loaded.stderr
    ruleset = parse_restore(text, counters=False)
    kernel_save = _ns(netns, "iptables-save").stdout
    assert _without_comments(kernel_save) == render_save(ruleset)
    for table_name, table in ruleset.tables.items():
        kernel_s = _ns(netns, "iptables", "-t", table_name, "-S").stdout
        assert kernel_s == render_rules(table), table_name
        kernel_sv = _ns(netns, "iptables", "-t", table_name, "-S", "-v").stdout
        assert kernel_sv == render_rules(table, verbose=True), table_name
        kernel_l = _ns(netns, "iptables", "-t", table_name, "-L", "-n", "-v", "--line-numbers")
        fmt = ListFormat(numeric=True, verbose=True, lines=True)
        assert kernel_l.stdout == render_list(table, fmt=fmt), table_name
        kernel_x = _ns(netns, "iptables", "-t", table_name, "-L", "-n", "-x", "-v")
        assert kernel_x.stdout == render_list(table, fmt=ListFormat(True, True, True)), table_name
    # and what the kernel printed parses back to the same text
    assert render_save(parse_restore(kernel_save)) == _without_comments(kernel_save)


def test_save_header_and_counters_match_the_kernel(netns: str) -> None:
    text = (
        "*filter\n:INPUT DROP [7:420]\n"
        "[3:180] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    )
    assert _ns(netns, "iptables-restore", "-c", stdin=text).returncode == 0
    kernel = _ns(netns, "iptables-save", "-c").stdout
    stamp = kernel.splitlines()[0].split(" on ", 1)[1]
    ruleset = Ruleset()
    assert run_iptables_restore(ruleset, ["-c"], text).ok
    assert kernel == render_save(ruleset, counters=True, timestamp=stamp)


COMMANDS = """\
-A INPUT --foo
-A INPUT -s foo
-A INPUT --dport 80
-A INPUT -p tcp --dport 99999
-A NOPE -j ACCEPT
-A INPUT -j NOPE
-A INPUT -m nope
-t nat -A INPUT -j DNAT --to-destination 1.2.3.4
-A INPUT -j REJECT --reject-with tcp-reset
-t nat -A PREROUTING -j MASQUERADE
-A INPUT -j MARK --set-mark 1
-D INPUT 5
-I INPUT 9 -j ACCEPT
-R INPUT 9 -j ACCEPT
-X NOPE
-N INPUT
-P NOPE DROP
-P INPUT FOO
-t nope -L
-L NOPE
-F NOPE
-C INPUT -j ACCEPT
-A INPUT -m tcp --dport 80
-A INPUT -p tcp -m comment
-A INPUT -s 1.2.3.4 -s 2.3.4.5
-A INPUT -p tcp --dport 80 --dport 90
-A INPUT -j
-A

-A INPUT -j ACCEPT extra
-A INPUT -p tcp ! ! --dport 3
-A INPUT -j CT --notrack
-t nat -A OUTPUT -p tcp -j REDIRECT
-t nat -A POSTROUTING -p tcp -j REDIRECT
-t nat -N U1
-t nat -A U1 -j DNAT --to-destination 1.1.1.1
-t nat -A POSTROUTING -j U1
-t nat -A PREROUTING -j U1
-t nat -N U2
-t nat -A POSTROUTING -j U2
-t nat -A U2 -j U1
-N A
-N B
-A A -j B
-A INPUT -j A
-A B -j A
-A A -j A
-X B
-N C
-A C -j ACCEPT
-X C
-E C D
-E D B
-X
-D INPUT -j DROP
-I INPUT 0 -j ACCEPT
-I INPUT 2 -j DROP
-S INPUT 2
-L INPUT 9
-Z INPUT 1
-C INPUT -j REJECT
-C INPUT -j DROP
-L -n -v --line-numbers
-L
-S
-A INPUT -m statistic --mode random --probability 1.5
-A INPUT -m statistic --mode nth --every 3
-A INPUT -m statistic --mode nth --packet 1
-A INPUT -m statistic --mode random
-A INPUT -m recent --set --rcheck
-A INPUT -m recent --rcheck --reap
-A INPUT -m recent --set --hitcount 30
-A INPUT -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16
-A INPUT -m multiport --dports 5 -p tcp
-A INPUT -m conntrack --ctstate FOO
-A INPUT -m addrtype
-A INPUT -p tcp --dport 5:3
-A INPUT -m comment --comment x --comment y
-t nat -A PREROUTING -j DNAT
-t nat -A PREROUTING -p tcp -j DNAT --to-destination 1.1.1.1:80-70
-t nat -A POSTROUTING -j SNAT
-t nat -A PREROUTING -j DNAT --to-destination 1.1.1.1 --to-destination 2.2.2.2
-A INPUT -j MARK
-A INPUT -j MARK --set-mark 1 --or-mark 2
-A INPUT -j MARK --set-mark 1 --set-mark 2
-A INPUT -j CONNMARK
-A INPUT -j CONNMARK --set-mark 1 --save-mark
-A INPUT -j LOG --log-level foo
-A INPUT -j LOG --log-prefix 0123456789012345678901234567890123456789
-S INPUT
-A INPUT -D
-D INPUT
-w -A INPUT -j ACCEPT
-w 5 -A INPUT -j ACCEPT
-A INPUT -j DROP -w 5
-W 100000 -w 5 -S
-w x -S
-F
-X
-S
"""


def test_commands_answer_as_the_kernel_does(netns: str) -> None:
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


RESTORE_ERRORS = [
    ("*filter\n-A NOPE -j ACCEPT\nCOMMIT\n", []),
    ("*filter\n:A - [0:0]\n-A INPUT -m comment\nCOMMIT\n", []),
    ("*filter\n:A - [0:0]\n-A INPUT -j A\nCOMMIT\n", []),
    ("*filter\n-X A\nCOMMIT\n", ["--noflush"]),
    ("*filter\n-D INPUT 5\nCOMMIT\n", ["--noflush"]),
    ("*filter\n-A INPUT -j ACCEPT\n", []),
    ("*foo\nCOMMIT\n", []),
    ("*filter\n:INPUT FOO [0:0]\nCOMMIT\n", []),
    ("*filter\n:A\nCOMMIT\n", []),
    ("*filter\n*nat\nCOMMIT\n", []),
    ("*filter\n-A INPUT -j foo bar\nCOMMIT\n", []),
    ("garbage\n", []),
    ("*nat\n:X - [0:0]\n-A POSTROUTING -j X\n-A X -j DNAT --to-destination 1.1.1.1\nCOMMIT\n", []),
    ("*filter\n:X - [0:0]\n-A X -j X\n-A INPUT -j X\nCOMMIT\n", []),
    ("*filter\n:X - [0:0]\n-A INPUT -g NOPE\n-A X -j ACCEPT\nCOMMIT\n", []),
    ("*filter\n-A INPUT -j DNAT --to-destination 1.1.1.1\n-A OUTPUT -j REDIRECT\nCOMMIT\n", []),
    ("*filter\n-X NOPE\n-A INPUT -g NOPE2\nCOMMIT\n", ["--noflush"]),
    ("*filter\n-X NOPE\n-A INPUT -j DNAT --to-destination 1.1.1.1\nCOMMIT\n", ["--noflush"]),
    ("*nat\nCOMMIT\n*raw\n# nothing\nCOMMIT\n", []),
    ("*filter\n-A INPUT -p udp --dport http -j ACCEPT\nCOMMIT\n", []),
    ("*nat\n-A PREROUTING -p udp -m multiport --dports http -j ACCEPT\nCOMMIT\n", []),
    ("*nat\n-A PREROUTING -p tcp -m multiport --ports 80 --dport 1 -j DROP\nCOMMIT\n", []),
]


@pytest.mark.parametrize(("text", "flags"), RESTORE_ERRORS)
def test_restore_answers_as_the_kernel_does(netns: str, text: str, flags: list[str]) -> None:
    _ns(netns, "iptables-restore", stdin="*filter\n:A - [0:0]\n-A INPUT -j A\nCOMMIT\n")
    ruleset = parse_restore("*filter\n:A - [0:0]\n-A INPUT -j A\nCOMMIT\n")
    real = _ns(netns, "iptables-restore", *flags, stdin=text)
    mine = run_iptables_restore(ruleset, flags, text)
    assert (mine.status, mine.stderr) == (real.returncode, real.stderr)
    after = _without_comments(_ns(netns, "iptables-save").stdout)
    assert render_save(ruleset) == after


NAMED = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:X - [0:0]
-A INPUT -s 10.0.0.0/8 -i eth0 -p tcp -m tcp --dport 80 -j X
-A INPUT -p udp -m udp --sport 53 -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A X -m comment --comment "hi" -j LOG --log-level 7 --log-prefix "x: "
-A X -j LOG --log-level 0
COMMIT
"""


def test_list_without_numeric_names_protocols_ports_and_levels(netns: str) -> None:
    assert _ns(netns, "iptables-restore", stdin=NAMED).returncode == 0
    table = parse_restore(NAMED).tables["filter"]
    for flags, fmt in ((["-L"], ListFormat()), (["-L", "-v"], ListFormat(verbose=True))):
        assert _ns(netns, "iptables", *flags).stdout == render_list(table, fmt=fmt)


# A random rule generator: every builtin part, module and target the model knows, in
# combinations no hand-written list would try. The kernel is the judge of each one.
_ADDRS = ["10.0.0.1", "10.0.0.0/8", "192.168.1.0/255.255.255.0", "0.0.0.0/0", "172.16.5.4/30"]
_MODULES = {
    "comment": ['--comment "a b"', "--comment x", '--comment "ns/svc:p80"', '--comment "q\\"t"'],
    "mark": ["--mark 0x4000/0x4000", "! --mark 0x1", "--mark 7", "--mark 0x10/0xf0"],
    "addrtype": [
        "--dst-type LOCAL",
        "! --src-type LOCAL",
        "--src-type UNICAST,LOCAL --dst-type MULTICAST",
        "--dst-type LOCAL --limit-iface-out",
        "! --dst-type BLACKHOLE --limit-iface-in",
    ],
    "conntrack": [
        "--ctstate NEW",
        "! --ctstate RELATED,ESTABLISHED",
        "--ctstate DNAT,SNAT,INVALID",
        "--ctstatus SEEN_REPLY",
        "--ctstate NEW ! --ctstatus ASSURED,EXPECTED",
    ],
    "state": ["--state NEW", "! --state ESTABLISHED,RELATED,UNTRACKED"],
    "statistic": [
        "--mode random --probability 0.1",
        "--mode random --probability 0.99999",
        "--mode random ! --probability 0.33333",
        "--mode nth --every 4 --packet 3",
        "--mode nth ! --every 2 --packet 0",
        "--mode random --probability 0",
    ],
    "recent": [
        "--set",
        "--name X --rcheck --seconds 5",
        "! --update --seconds 100 --hitcount 5 --rdest",
        "--remove --name Y --mask 255.0.0.0",
        "--rcheck --seconds 9 --reap --name Z",
    ],
}
_L4 = {
    "multiport": ["-m multiport --dports 1,2:3,4", "-m multiport ! --ports 80", "--sport 0:65535"],
    "ports": ["--dport 80", "! --sport 1:1023", "--dport 8080:8090 --sport 53", "--dport http"],
    "tcpflags": ["--syn", "! --syn", "--tcp-flags ALL SYN,ACK", "! --tcp-flags URG,PSH PSH"],
}
_TARGETS = {
    "mangle": [
        "-j MARK --set-xmark 0x1/0x3",
        "-j MARK --and-mark 0xff00",
        "-j CONNMARK --restore-mark",
        "-j CONNMARK --set-mark 0x3/0x7",
        '-j LOG --log-prefix "p: " --log-level 6',
        "-j TRACE",
    ],
    "nat": [
        "-j DNAT --to-destination 10.244.0.5:8080",
        "-j DNAT --to-destination 10.244.0.5",
        "-j SNAT --to-source 192.168.49.2 --random-fully",
        "-j MASQUERADE",
        "-j MASQUERADE --to-ports 1000-2000",
        "-j REDIRECT --to-ports 3128",
        "-j MARK --or-mark 0x4000",
    ],
    "filter": [
        "-j REJECT",
        "-j REJECT --reject-with tcp-reset",
        "-j REJECT --reject-with icmp-host-prohibited",
    ],
    "raw": ["-j CT --notrack", "-j NOTRACK", "-j CT"],
}
_COMMON_TARGETS = ["-j ACCEPT", "-j DROP", "-j RETURN", "", "-j USER", "-g USER"]


def _random_rule(rng: random.Random, table: str) -> str:
    parts = []
    if rng.random() < 0.3:
        parts.append(rng.choice(["-s", "! -s"]) + " " + rng.choice(_ADDRS))
    if rng.random() < 0.3:
        parts.append(rng.choice(["-d", "! -d"]) + " " + rng.choice(_ADDRS))
    if rng.random() < 0.2:
        parts.append(rng.choice(["-i", "! -i", "-o", "! -o"]) + " " + rng.choice(["eth0", "veth+"]))
    proto = rng.choice(["", "tcp", "udp", "icmp", "all", "! tcp"])
    parts += [("! -p " + proto[2:]) if proto.startswith("!") else f"-p {proto}"] if proto else []
    for name in rng.sample(sorted([*_MODULES, *_L4]), rng.randint(0, 3)):
        if name in _MODULES:
            parts.append(f"-m {name} {rng.choice(_MODULES[name])}")
        elif proto in ("tcp", "udp") and (name != "tcpflags" or proto == "tcp"):
            parts.append(rng.choice(_L4[name]))
    parts.append(rng.choice(_TARGETS[table] + _COMMON_TARGETS))
    return " ".join(p for p in parts if p)


@pytest.mark.parametrize("seed", range(1, 9))
def test_random_rules_agree_with_the_kernel(netns: str, seed: int) -> None:
    rng = random.Random(seed)
    ruleset = Ruleset()
    tables = ("mangle", "nat", "filter", "raw")
    for table in tables:
        argv = ["-t", table, "-N", "USER"]
        assert _ns(netns, "iptables", *argv).returncode == run_iptables(ruleset, argv).status
    for _ in range(200):
        table = rng.choice(tables)
        chain = rng.choice([*BUILTIN_CHAINS[table], "USER"])
        argv = ["-t", table, "-A", chain, *shlex.split(_random_rule(rng, table))]
        real, mine = _ns(netns, "iptables", *argv), run_iptables(ruleset, argv)
        assert (mine.status, mine.stderr) == (real.returncode, real.stderr), shlex.join(argv)
    for table in tables:
        for flags in (["-S"], ["-L", "-n", "-v", "--line-numbers"]):
            argv = ["-t", table, *flags]
            assert run_iptables(ruleset, argv).stdout == _ns(netns, "iptables", *argv).stdout
    kernel_save = _without_comments(_ns(netns, "iptables-save").stdout)
    assert render_save(ruleset) == kernel_save


def _random_command(rng: random.Random, table: str) -> str:
    """One random `iptables` command over chains A, B, C (which come and go)."""
    user = ["A", "B", "C"]
    chain = rng.choice([*BUILTIN_CHAINS[table], *user, "NOPE"])
    rule = _random_rule(rng, table).replace("USER", rng.choice(user))
    number = str(rng.choice([1, 1, 2, 3, 5, 0]))
    choices = {
        "A": f"-A {chain} {rule}",
        "I": f"-I {chain} {rng.choice(['', number])} {rule}",
        "D": rng.choice([f"-D {chain} {number}", f"-D {chain} {rule}"]),
        "R": f"-R {chain} {number} {rule}",
        "N": f"-N {rng.choice(user)}",
        "X": rng.choice([f"-X {rng.choice(user)}", "-X"]),
        "E": f"-E {rng.choice(user)} {rng.choice([*user, 'D'])}",
        "F": rng.choice([f"-F {chain}", "-F"]),
        "Z": rng.choice([f"-Z {chain}", "-Z"]),
        "P": f"-P {chain} {rng.choice(['ACCEPT', 'DROP', 'FOO'])}",
        "C": f"-C {chain} {rule}",
        "S": rng.choice([f"-S {chain}", f"-S {chain} {number}", "-S"]),
        "L": rng.choice([f"-L {chain} -n", f"-L {chain} {number} -n -v", "-L -n -v -x"]),
    }
    return choices[rng.choice("AAAAIIDDRNNXXEFZPCSLL")]


@pytest.mark.parametrize("seed", range(1, 5))
def test_random_command_sequences_agree_with_the_kernel(netns: str, seed: int) -> None:
    rng = random.Random(seed)
    ruleset = Ruleset()
    for _ in range(300):
        table = rng.choice(("filter", "nat", "mangle", "raw"))
        argv = ["-t", table, *shlex.split(_random_command(rng, table))]
        real, mine = _ns(netns, "iptables", *argv), run_iptables(ruleset, argv)
        assert (mine.status, mine.stdout, mine.stderr) == (
            real.returncode,
            real.stdout,
            real.stderr,
        ), shlex.join(argv)

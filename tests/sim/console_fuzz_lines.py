"""Console lines a learner might type or paste, for the console fuzz tests (tests/sim and
tests/web): every program of `COMMANDS` in every kube-proxy mode and scenario, with words
taken from the lab's own output (iptables-save rules, chain names, targets, nft and ipvsadm
listings, Service addresses, pod names, the tools' flags), then mutated: words dropped,
repeated, swapped, replaced by arbitrary text, shell punctuation, unicode, NUL bytes;
here-documents for iptables-restore.

`run_and_check` states what a learner relies on:
- an answer is always a `ConsoleResult`, never an exception, and never the console's
  "internal error" fallback (which would mean a program raised);
- a command that fails says why (stderr or stdout is not empty);
- a command that fails leaves the lab as it was (`snapshot.state`, what undo restores,
  compared before and after; only the logical clock moves, one second per command),
  unless the real tool too fails after part of the work (`did_some_work`: a curl whose
  packets went through the rules, kubectl on several objects, iptables-restore after a
  COMMIT).

Examples are bounded and derandomized so CI is repeatable; `KPL_FUZZ_EXAMPLES` scales them
and `KPL_FUZZ_RANDOM=1` draws new ones.
"""

from __future__ import annotations

import os
import re
import shlex
from functools import cache
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from app.sim.cluster.kubectl import _commands as kubectl_commands
from app.sim.lab import COMMANDS, MODES, ConsoleResult, Lab, snapshot
from app.sim.lab.complete import IPTABLES_OPTIONS, KUBECTL_TYPES, LAB_SUBCOMMANDS, TARGETS
from app.sim.lab.modes import PROGRAM_MODES
from app.sim.lab.shell import Job, ShellError, jobs
from app.sim.lab.text import say
from app.sim.scenarios import SCENARIOS

EXAMPLES = int(os.environ.get("KPL_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    # the same examples on every run (CI); KPL_FUZZ_RANDOM=1 explores new ones locally
    derandomize=not os.environ.get("KPL_FUZZ_RANDOM"),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INTERNAL = {say("internal", "en"), say("internal", "zh")}
# curl's exit statuses for a connection that was attempted (the packets went through the
# rules): 7 refused or unreachable, 28 timed out, 52 empty reply, 56 reset.
CURL_SENT = {7, 28, 52, 56}

SHELL_NOISE = ["'", '"', "\\", "|", "||", "&&", ";", ">", "<", "&", "$(", "`", "#", "*", "~",
               "<<EOF", "EOF", "\n", "\t", "\x00", "😀", "é", "ℌ", "\u202e", "\ud800", "--",
               "-", "=", ",", ":", "/", "", " "]  # fmt: skip
FLAGS = {
    "kubectl": ["-n", "default", "-o", "wide", "yaml", "json", "name", "-l", "app=", "-A",
                "--all-namespaces", "--replicas=0", "--replicas=2", "--replicas=-1",
                "--replicas=99999", "-f", "-", "--overwrite", "true", "false", "ready",
                "--selector", "--show-labels", "-w", "--to-revision=1", "undo", "status",
                "deployment", "image", "app=nginx", "120", "-1", "1e9"],
    "iptables": [*IPTABLES_OPTIONS, "--list", "--list-rules", "--check", "--append",
                 "--insert", "--delete", "--flush", "--new-chain", "--delete-chain",
                 "--policy", "--zero", "--rename-chain", "-E", "raw", "mangle", "nat",
                 "filter", "security", "tcp", "udp", "icmp", "all", "!", "--probability",
                 "0.5", "--mode", "random", "nth", "--every", "2", "--packet", "0",
                 "--to-destination", "--to-source", "--comment", "--ctstate",
                 "NEW,ESTABLISHED", "--set-xmark", "0x4000/0x4000", "--src-type", "LOCAL",
                 "--dst-type", "--rcheck", "--set", "--name", "--seconds", "10800",
                 "--reap", "--rsource", "--dports", "80,443", "0", "1", "65535", "65536",
                 "99999999999", "0/0", "10.0.0.0/33", "::1", "256.1.1.1"],
    "iptables-save": ["-t", "-c", "--counters", "nat", "filter", "raw", "-M"],
    "iptables-restore": ["--noflush", "-n", "--test", "-t", "-c", "--counters", "-w",
                         "<<EOF", "<<'EOF'", "<<-EOF"],
    "conntrack": ["-L", "-F", "-C", "-D", "-E", "-n", "--dump", "--flush", "--count", "-p",
                  "tcp", "--orig-dst"],
    "curl": ["-s", "-S", "-v", "-i", "-k", "-L", "-f", "-I", "--silent", "--fail", "-m", "1",
             "--max-time", "0", "--connect-timeout", "-H", "Host: x", "-X", "POST", "-o",
             "/dev/null", "-w", "%{http_code}", "--from", "external", "http://", "https://",
             ":8080", ":0", ":65536", "localhost", "127.0.0.1", "0.0.0.0", "[::1]:80"],
    "ipvsadm": ["-L", "-l", "-n", "-Ln", "-A", "-E", "-D", "-C", "-a", "-e", "-d", "-S",
                "-Z", "-t", "-u", "-s", "rr", "wrr", "lc", "sh", "mh", "sed", "nq", "-r",
                "-w", "0", "-1", "65536", "-m", "-g", "-i", "-p", "--stats", "--rate",
                "--exact", "--connection", "-c", "--persistent-conn", "--sort"],
    "ipset": ["list", "-L", "-n", "test", "add", "del", "create", "flush", "destroy",
              "save", "hash:ip,port", "-exist", "KUBE-CLUSTER-IP", "KUBE-LOOP-BACK"],
    "nft": ["-a", "--handle", "list", "ruleset", "table", "chain", "set", "map", "add",
            "insert", "delete", "flush", "rule", "ip", "ip6", "inet", "kube-proxy", "handle",
            "counter", "drop", "accept", "jump", "goto", "{", "}", "element", "dport",
            "tcp", "daddr", "saddr", "meta", "ct", "state", "new", "vmap"],
    "ssh": ["master", "node1", "node2", "root@node1", "imported", "-p", "22"],
    "hostname": ["-f", "-i"],
    "history": ["-c", "5"],
    "clear": ["-x"],
    "help": list(COMMANDS),
}  # fmt: skip
# Every program has words of its own; a program added to COMMANDS must add them here too.
assert set(FLAGS) == set(COMMANDS), set(COMMANDS) ^ set(FLAGS)


def split_key(key: str) -> tuple[str, str]:
    """A lab key is `MODE` (the seed scenario) or `MODE@SCENARIO`."""
    mode, _, scenario = key.partition("@")
    return mode, scenario or "seed"


# every kube-proxy mode on the seed scenario, and on every other scenario
KEYS = [*MODES, *(f"{m}@{s}" for s in SCENARIOS if s != "seed" for m in MODES)]


@cache
def lab_data(key: str) -> dict[str, Any]:
    """A fresh lab (`split_key`), with a connection through it, as stored data."""
    mode, scenario = split_key(key)
    lab = Lab.new(scenario, mode)
    lab.run("curl my-first-deploy:8080")
    return lab.to_data()


@cache
def vocabulary(mode: str) -> tuple[str, ...]:
    """Words from what the lab itself prints in `mode` (iptables-save, nft, ipvsadm and ipset
    listings, kubectl's tables, conntrack), plus Service addresses, pods and nodes."""
    lab = Lab.from_data(lab_data(mode))
    words: set[str] = set(kubectl_commands()) | set(KUBECTL_TYPES) | set(LAB_SUBCOMMANDS)
    words |= set(TARGETS)
    listings = ("iptables-save", "nft list ruleset", "ipvsadm -Ln", "ipset list",
                "kubectl get all -o wide", "kubectl get endpoints", "conntrack -L")  # fmt: skip
    for command in listings:
        for line in lab.run(command).output.splitlines():
            words.update(_split(line))
    for name, svc in lab.cluster.services.items():
        for port in svc.ports:
            words.update({f"{svc.cluster_ip}:{port.port}", f"svc/{name[1]}:{port.port}"})
            words.add(f"{name[1]}:{port.port}")
    words.update(f"pod/{pod}" for _ns, pod in lab.cluster.pods)
    words.update(f"node/{n}" for n in lab.cluster.nodes)
    return tuple(sorted(words))


@cache
def saved_tables(mode: str) -> dict[str, tuple[str, ...]]:
    """The console node's iptables-save output per table: `*table`, chains, rules, COMMIT."""
    lab = Lab.from_data(lab_data(mode))
    tables: dict[str, list[str]] = {}
    current: list[str] = []
    for line in lab.run("iptables-save").output.splitlines():
        if line.startswith("*"):
            current = tables.setdefault(line[1:], [])
        if line and not line.startswith("#"):
            current.append(line)
    return {name: tuple(lines) for name, lines in tables.items()}


@cache
def nft_rules(mode: str) -> tuple[tuple[str, str], ...]:
    """(chain, rule) pairs of kube-proxy's nftables table, as `nft list ruleset` prints them."""
    lab = Lab.from_data(lab_data(mode))
    found, chain = [], ""
    for line in lab.run("nft list ruleset").output.splitlines():
        text = line.strip()
        if text.startswith("chain "):
            chain = text.split()[1]
        elif chain and text and not text.startswith(("type ", "}", "policy ")):
            found.append((chain, text))
    return tuple(found)


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


MODE = st.sampled_from(KEYS)
PROGRAM = st.sampled_from(list(COMMANDS))
ODD_TEXT = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), min_size=0, max_size=12
)


def _word(mode: str, program: str) -> st.SearchStrategy[str]:
    words = vocabulary(mode)
    # flags and the lab's own words mostly; shell punctuation and odd text now and then
    return st.one_of(
        st.sampled_from(FLAGS[program]),
        st.sampled_from(FLAGS[program]),
        st.sampled_from(words),
        st.sampled_from(words),
        st.sampled_from(SHELL_NOISE),
        ODD_TEXT,
    )


@st.composite
def _mutated(draw: st.DrawFn, base: list[str], word: st.SearchStrategy[str]) -> list[str]:
    """`base` with a few edits: a word dropped, repeated, replaced, cut short, or inserted."""
    out = list(base)
    for _ in range(draw(st.integers(0, 3))):
        if not out:
            out.append(draw(word))
            continue
        i = draw(st.integers(0, len(out) - 1))
        edit = draw(st.sampled_from(["drop", "repeat", "replace", "cut", "insert", "swap"]))
        if edit == "drop":
            del out[i]
        elif edit == "repeat":
            out.insert(i, out[i])
        elif edit == "replace":
            out[i] = draw(word)
        elif edit == "cut":
            out[i] = out[i][: draw(st.integers(0, max(0, len(out[i]) - 1)))]
        elif edit == "insert":
            out.insert(i, draw(word))
        else:
            j = draw(st.integers(0, len(out) - 1))
            out[i], out[j] = out[j], out[i]
    return out


def _quote(words: list[str], quoted: bool) -> str:
    return " ".join(shlex.quote(w) for w in words) if quoted else " ".join(words)


@cache
def templates(mode: str) -> dict[str, tuple[str, ...]]:
    """Command lines a learner would type, per program, naming the lab's real objects."""
    lab = Lab.from_data(lab_data(mode))
    pods = sorted(name for _ns, name in lab.cluster.pods)
    pod, ip = pods[0], lab.cluster.pods[("default", pods[0])].ip
    svc = next(s for s in lab.cluster.services.values() if s.cluster_ip not in ("", "None"))
    vip = f"{svc.cluster_ip}:{svc.ports[0].port}"
    name = f"{svc.name}:{svc.ports[0].port}"
    chains = sorted({line.split()[0][1:] for t in saved_tables(mode).values() for line in t
                     if line.startswith(":")}) or ["INPUT"]  # fmt: skip
    chain = chains[len(chains) // 2]
    nft_chain = (nft_rules(mode) or (("services", ""),))[0][0]
    return {
        "kubectl": ("get pods -o wide", "get svc,endpoints", "get all -A", f"describe pod {pod}",
                    f"scale deployment/{svc.name} --replicas=3",
                    f"scale deployment/{svc.name} --replicas=0", f"delete pod/{pod}",
                    f"delete pod {pod} --wait=false", f"label pod/{pod} app=other --overwrite",
                    f"lab set-ready pod/{pod} false", "lab advance 5m",
                    "lab node-ready node/node1 false", f"lab kill-app pod/{pod}",
                    f"lab restart pod/{pod}", "lab ipvs-scheduler lc", "lab ipvs-modules false",
                    f"rollout restart deployment/{svc.name}", "get endpointslices",
                    f"expose deployment/{svc.name} --port=80 --name=x"),
        "iptables": ("-t nat -L -n -v --line-numbers", "-S", f"-t nat -S {chain}",
                     f"-t nat -F {chain}", f"-t nat -X {chain}", "-N LAB", "-P FORWARD DROP",
                     f"-t nat -Z {chain}", f"-I INPUT 1 -s {ip} -j DROP",
                     f"-A INPUT -p tcp --dport {svc.ports[0].port} -j REJECT",
                     f"-t nat -D {chain} 1", f"-t nat -R {chain} 1 -j RETURN",
                     f"-t nat -C {chain} -j RETURN", f"-t nat -E {chain} RENAMED"),
        "iptables-save": ("", "-t nat", "-c", "-t filter -c"),
        "iptables-restore": ("--noflush", "-n", "--test", ""),
        "conntrack": ("-L", "-L -n", "-C", "-F", "-D"),
        "curl": (vip, name, f"--from pod/{pod} {name}", f"-m 1 {vip}", f"-s http://{vip}/",
                 "--from node/node1 " + vip, f"{ip}:{svc.ports[0].port}"),
        "ipvsadm": ("-Ln", "-Ln --stats", "-L -c", "-C", "-Z", "-A -t 10.0.0.1:80 -s rr",
                    f"-E -t {vip} -s lc", f"-D -t {vip}", f"-a -t {vip} -r 10.244.9.9:80 -m",
                    f"-d -t {vip} -r {ip}:{svc.ports[0].port}", f"-e -t {vip} -r {ip}:8080 -w 0",
                    "-S -n"),
        "ipset": ("list", "list -n", "list KUBE-CLUSTER-IP", f"test KUBE-CLUSTER-IP {vip}",
                  "add KUBE-CLUSTER-IP 10.0.0.1,tcp:80", "del KUBE-CLUSTER-IP 10.0.0.1,tcp:80",
                  "flush KUBE-CLUSTER-IP", "save"),
        "nft": ("list ruleset", "-a list ruleset", "list table ip kube-proxy",
                f"list chain ip kube-proxy {nft_chain}", "list set ip kube-proxy cluster-ips",
                "list map ip kube-proxy service-ips", f"flush chain ip kube-proxy {nft_chain}",
                f"delete rule ip kube-proxy {nft_chain} handle 9",
                f"add rule ip kube-proxy {nft_chain} ip daddr {svc.cluster_ip} drop",
                "delete table ip kube-proxy", "add table ip filter"),
        "ssh": ("node1", "master", "root@node1", "nosuch"),
        "hostname": ("",),
        "history": ("",),
        "clear": ("",),
        "help": ("", "kubectl", "nft", "nosuch"),
    }  # fmt: skip


@st.composite
def console_line(draw: st.DrawFn, program: str, key: str | None = None) -> tuple[str, str]:
    """(mode, line): a line the learner would type for `program` (an edit of a rule the lab
    really holds, for iptables and nft, half the time), then mutated. Mode programs mostly
    run in their own mode."""
    wanted = [k for k in KEYS if split_key(k)[0] == PROGRAM_MODES.get(program)]
    if key is not None:
        mode = key
    else:
        mode = draw(st.sampled_from(wanted * 3 + KEYS)) if wanted else draw(MODE)
    word = _word(mode, program)
    tables, rules = saved_tables(mode), nft_rules(mode)
    if program == "iptables" and tables and draw(st.booleans()):
        table = draw(st.sampled_from(sorted(tables)))
        lines = [line for line in tables[table] if line.startswith("-A ")] or ["-A INPUT"]
        rule = _split(draw(st.sampled_from(lines)))
        verb = draw(st.sampled_from(["-A", "-I", "-D", "-C"]))
        args = ["-t", table, verb, *rule[1:]]
    elif program == "nft" and rules and draw(st.booleans()):
        chain, rule = draw(st.sampled_from(rules))
        verb = draw(st.sampled_from(["add", "insert"]))
        args = [verb, "rule", "ip", "kube-proxy", chain, *_split(rule.split(" # ")[0])]
    else:
        args = _split(draw(st.sampled_from(templates(mode)[program])))
    if draw(st.integers(0, 3)):  # a quarter of the lines are typed right
        args = draw(_mutated(args, word))
    return mode, _quote([program, *args], draw(st.booleans()))


@st.composite
def restore_paste(draw: st.DrawFn) -> tuple[str, str]:
    """(mode, paste): iptables-restore of one table the lab holds, as a here-document, with a
    few words of it mutated, and sometimes the COMMIT or the terminator lost."""
    mode = draw(MODE)
    tables = saved_tables(mode)
    table = draw(st.sampled_from(sorted(tables) or ["filter"]))
    body = list(tables.get(table, ("*filter", "COMMIT")))
    keep = draw(st.lists(st.booleans(), min_size=len(body), max_size=len(body)))
    body = [line for line, kept in zip(body, keep, strict=True) if kept or line[0] in "*:C"]
    word = st.one_of(st.sampled_from(vocabulary(mode)), st.sampled_from(SHELL_NOISE), ODD_TEXT)
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(body) - 1))
        body[i] = " ".join(draw(_mutated(_split(body[i]), word)))
    if draw(st.integers(0, 9)) == 0:
        body = [line for line in body if line != "COMMIT"]
    flags = draw(st.lists(st.sampled_from(["--noflush", "-n", "--test", "-c"]), max_size=2))
    end = draw(st.sampled_from(["EOF"] * 8 + ["", "EO"]))
    return mode, "\n".join([" ".join(["iptables-restore", *flags, "<<EOF"]), *body, end])


@st.composite
def session(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(key, lines): several programs' lines in a row on one lab, so later lines meet the
    states earlier ones made (scaled to zero, rules flushed, another node, edited IPVS)."""
    key = draw(MODE)
    lines = []
    for _ in range(draw(st.integers(2, 6))):
        program = draw(PROGRAM)
        if PROGRAM_MODES.get(program) not in (None, split_key(key)[0]):
            program = "kubectl"
        lines.append(draw(console_line(program, key)))
    return key, [line for _key, line in lines]


def _single_job(line: str) -> Job | None:
    """The line's job when it is one, else None (a paste of several, or unsplittable)."""
    try:
        todo = jobs(line)
    except ShellError:
        return None
    return todo[0] if len(todo) == 1 and todo[0].argv else None


def did_some_work(job: Job, result: ConsoleResult) -> bool:
    """A failure that the real tool also reports after doing part of the work:
    - curl: the connection was attempted (counters and conntrack saw the packets);
    - kubectl on several objects: what it did is on stdout, what it could not on stderr;
    - iptables-restore: `*table ... COMMIT` blocks before the failing line are committed."""
    program = job.argv[0]
    if program == "curl":
        return result.status in CURL_SENT
    if program == "kubectl":
        return bool(result.output.strip())
    if program == "iptables-restore":
        failed = re.search(r"line:? (\d+)", result.error)
        lines = job.stdin.splitlines()
        commit = lines.index("COMMIT") + 1 if "COMMIT" in lines else None
        return bool(failed and commit and int(failed[1]) > commit)
    return False


def run_and_check(key: str, line: str, lang: str = "en") -> ConsoleResult:
    """`check_line` on a fresh lab (`lab_data(key)`)."""
    return check_line(Lab.from_data(lab_data(key)), line, lang)


def check_line(lab: Lab, line: str, lang: str = "en") -> ConsoleResult:
    """Run `line` on `lab` and check what the module docstring lists."""
    before = snapshot.state(lab)
    result = lab.run(line, lang=lang)
    assert isinstance(result, ConsoleResult)
    assert result.error not in INTERNAL, f"a program raised on {line!r}"
    assert isinstance(result.output, str) and isinstance(result.error, str)
    if result.ok:
        return result
    assert (result.error + result.output).strip(), f"failed without a word: {line!r}"
    job = _single_job(line)
    if job is None or did_some_work(job, result):
        return result
    after = snapshot.state(lab)
    before.pop("clock"), after.pop("clock")
    assert after == before, f"failed yet changed the lab: {line!r}"
    return result

"""Seeded random rulesets and packets for the engine-vs-kernel suite.

`case(seed)` builds one ruleset (iptables-save text, in iptables' own spelling so both sides
read exactly what iptables-save would print) and a few first packets that meet one node.
The same seed always gives the same case; the suite prints the seed of any case that fails.

What a case may contain, and why the limits:

* tables raw/mangle/nat/filter, builtin policies ACCEPT (DROP in filter and mangle), 0-3 user
  chains per table with jumps and gotos. Every user chain hangs under one builtin chain (its
  root) and is entered only from its root or from an earlier chain with the same root, so
  there is no loop, and hook-bound targets and matches stay legal: the kernel checks them
  against the hooks that can reach a rule (x_tables.c, xt_check_target).
* matches: -s/-d/-p/-i/-o with `!`, tcp/udp ports (also ranges and `!`), multiport, mark,
  addrtype LOCAL, conntrack and state, recent, statistic nth and random with probability 0 or
  1 (deterministic), comment. Kernel state (recent lists, nth counters) starts afresh for
  every packet: the suite reloads the ruleset, as the engine starts each trace afresh.
* targets: ACCEPT, DROP, RETURN, jumps, gotos, MARK, CONNMARK, LOG, no target, CT --notrack (raw),
  REJECT (filter), DNAT and REDIRECT (nat PREROUTING/OUTPUT), SNAT and MASQUERADE (nat
  POSTROUTING, SNAT also nat INPUT).
* packets: from a client on eth0, from a pod on cni0, or from the node itself; to the node,
  a pod, a service IP or a remote host, with ports that the rules mention.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

from .ruleset_text import BUILTIN_CHAINS

BASE_SEED = 20_260_601
SEED_ENV = "KPLAB_KERNEL_SEED"  # set it to explore other cases
COUNT_ENV = "KPLAB_KERNEL_CASES"
DEFAULT_COUNT = 200

NODE = {"node_ip": "192.168.49.2/24", "local_ips": ["192.168.49.3"],
        "pod_cidr": ["10.244.0.0/16"], "pod_iface": "cni0"}  # fmt: skip
# A second node: an extra address off the subnet, a Calico-style pod interface, and
# route_localnet (DNAT to 127.0.0.1 from outside is then routed instead of dropped).
NODE_B = {"node_ip": "192.168.49.2/24", "local_ips": ["192.168.49.3", "172.16.0.1"],
          "pod_cidr": ["10.244.0.0/16"], "pod_iface": "cali0",
          "sysctls": {"net.ipv4.conf.all.route_localnet": 1}}  # fmt: skip
CLIENTS = ["192.168.49.100", "203.0.113.7"]
PODS = ["10.244.1.5", "10.244.2.6"]
SERVICES = ["10.96.0.10", "10.96.0.20"]
NODE_ADDRS = ["192.168.49.2", "192.168.49.3"]
REMOTE = ["203.0.113.50"]
PORTS = [80, 443, 8080, 53]
CIDRS = ["10.244.0.0/16", "192.168.49.0/24", "10.96.0.0/12"]
IFACES = {"in": ["eth0", "cni0", "eth+", "cni+", "cali+", "lo"],
          "out": ["eth0", "cni0", "eth+", "lo", "cali0"]}  # fmt: skip
IN_HOOKS, OUT_HOOKS = {"PREROUTING", "INPUT", "FORWARD"}, {"FORWARD", "OUTPUT", "POSTROUTING"}
CTSTATES = ["NEW", "ESTABLISHED", "RELATED,ESTABLISHED", "INVALID", "DNAT", "NEW,DNAT", "UNTRACKED"]
MARKS = ["0x4000/0x4000", "0x1/0x1", "0x4001/0xffffffff"]


def base_seed() -> int:
    return int(os.environ.get(SEED_ENV, BASE_SEED))


def case_count() -> int:
    return int(os.environ.get(COUNT_ENV, DEFAULT_COUNT))


@dataclass
class Case:
    seed: int
    ruleset: str
    packets: list[dict] = field(default_factory=list)


@dataclass
class _Chain:
    table: str
    name: str
    root: str  # the builtin chain whose hook reaches this chain
    order: int  # builtin chains are -1; a chain may only enter chains of higher order


def case(seed: int) -> Case:
    """One reproducible ruleset with two packets."""
    rng = random.Random(seed)
    tables = [t for t in ("raw", "mangle", "nat", "filter") if rng.random() < 0.5]
    tables = tables or [rng.choice(("nat", "filter"))]
    text = "".join(_table(rng, table) for table in tables)
    node = NODE if rng.random() < 0.75 else NODE_B
    return Case(seed, text, [packet(rng, node) for _ in range(2)])


def _table(rng: random.Random, table: str) -> str:
    builtins = [_Chain(table, name, name, -1) for name in BUILTIN_CHAINS[table]]
    users = [
        _Chain(table, f"KPL-{table[0].upper()}{k}", rng.choice(BUILTIN_CHAINS[table]), k)
        for k in range(rng.randint(0, 3))
    ]
    lines = [f"*{table}"]
    for chain in builtins:
        lines.append(f":{chain.name} {_policy(rng, table)} [0:0]")
    lines += [f":{chain.name} - [0:0]" for chain in users]
    for chain in builtins + users:
        reachable = [u for u in users if u.root == chain.root and u.order > chain.order]
        count = rng.randint(0, 4) if chain.order < 0 else rng.randint(1, 4)
        lines += [_rule(rng, chain, reachable) for _ in range(count)]
    return "\n".join([*lines, "COMMIT", ""])


def _policy(rng: random.Random, table: str) -> str:
    droppable = table in ("filter", "mangle")
    return "DROP" if droppable and rng.random() < 0.25 else "ACCEPT"


def _rule(rng: random.Random, chain: _Chain, reachable: list[_Chain]) -> str:
    basic, modules, proto = _matches(rng, chain)
    target = _target(rng, chain, reachable, proto)
    parts = [f"-A {chain.name}", *basic, *modules, target]
    return " ".join(p for p in parts if p)


def _neg(rng: random.Random, share: float = 0.25) -> str:
    return "! " if rng.random() < share else ""


def _matches(rng: random.Random, chain: _Chain) -> tuple[list[str], list[str], str | None]:
    """The rule's builtin part (in iptables-save's order -s -d -i -o -p) and its modules.
    Returns the protocol when the rule positively names tcp or udp (ports need it)."""
    basic: list[str] = []
    if rng.random() < 0.3:
        basic.append(f"{_neg(rng)}-s {_address(rng)}")
    if rng.random() < 0.35:
        basic.append(f"{_neg(rng)}-d {_address(rng)}")
    if chain.root in IN_HOOKS and rng.random() < 0.2:
        basic.append(f"{_neg(rng)}-i {rng.choice(IFACES['in'])}")
    if chain.root in OUT_HOOKS and rng.random() < 0.2:
        basic.append(f"{_neg(rng)}-o {rng.choice(IFACES['out'])}")
    proto = None
    if rng.random() < 0.55:
        negated = _neg(rng, 0.2)
        name = rng.choice(("tcp", "udp"))
        basic.append(f"{negated}-p {name}")
        proto = None if negated else name
    return basic, _modules(rng, chain, proto), proto


def _modules(rng: random.Random, chain: _Chain, proto: str | None) -> list[str]:
    mods: list[str] = []
    if proto and rng.random() < 0.6:
        mods.append(f"-m {proto} {_ports(rng)}")
    if proto and rng.random() < 0.15:
        ports = ",".join(str(p) for p in sorted(rng.sample(PORTS, 2)))
        mods.append(f"-m multiport {_neg(rng, 0.2)}--dports {ports}")
    if rng.random() < 0.15:
        mods.append(f"-m mark {_neg(rng)}--mark {rng.choice(MARKS)}")
    if rng.random() < 0.15:
        side = rng.choice(("--dst-type", "--src-type"))
        mods.append(f"-m addrtype {_neg(rng)}{side} LOCAL")
    if rng.random() < 0.15:  # in raw, before conntrack (-200) has run: INVALID or UNTRACKED
        mods.append(f"-m conntrack {_neg(rng)}--ctstate {rng.choice(CTSTATES)}")
    if rng.random() < 0.06:
        mods.append(f"-m state {_neg(rng)}--state {rng.choice(CTSTATES[:4])}")
    if rng.random() < 0.08:
        mods.append(_recent(rng))
    if rng.random() < 0.05:
        every = rng.choice((2, 3))
        mods.append(f"-m statistic --mode nth --every {every} --packet {rng.randrange(every)}")
    if rng.random() < 0.08:
        probability = rng.choice(("0.00000000000", "1.00000000000"))
        mods.append(f"-m statistic --mode random --probability {probability}")
    if rng.random() < 0.1:
        mods.append('-m comment --comment "generated rule"')
    return mods


def _recent(rng: random.Random) -> str:
    """`-m recent` on one list: --set always matches; --rcheck/--update match an address
    seen before, within 60 s when --seconds is given (xt_recent.c)."""
    side = rng.choice(("--rsource", "--rdest"))
    action = rng.choice(("--set", "--rcheck", "--update", "--rcheck --seconds 60"))
    return f"-m recent {action} --name KPL --mask 255.255.255.255 {side}"


def _ports(rng: random.Random) -> str:
    option = rng.choice(("--dport", "--dport", "--sport"))
    if option == "--sport":
        value = rng.choice(("40000", "40000:40001", "1024:65535"))
    else:
        value = rng.choice([str(p) for p in PORTS] + ["80:443"])
    return f"{_neg(rng, 0.2)}{option} {value}"


def _address(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(CIDRS)
    pool = CLIENTS + PODS + SERVICES + NODE_ADDRS
    return rng.choice(pool) + "/32"


def _target(rng: random.Random, chain: _Chain, reachable: list[_Chain], proto: str | None) -> str:
    options = _target_options(chain, reachable, proto)
    names, weights = zip(*options.items(), strict=True)
    choice = rng.choices(names, weights)[0]
    if choice in ("jump", "goto"):
        flag = "-j" if choice == "jump" else "-g"
        return f"{flag} {rng.choice(reachable).name}"
    return _target_text(rng, choice, proto)


def _target_options(chain: _Chain, reachable: list[_Chain], proto: str | None) -> dict[str, int]:
    table, root = chain.table, chain.root
    options = {"ACCEPT": 10, "RETURN": 8, "MARK": 10, "none": 6, "LOG": 2, "CONNMARK": 3}
    if reachable:
        options.update(jump=22, goto=7)
    if table != "nat":
        options["DROP"] = 9
    if table == "filter":
        options["REJECT"] = 7
    if table == "raw":
        options["NOTRACK"] = 6
    if table == "nat" and root in ("PREROUTING", "OUTPUT"):
        options["DNAT"] = 16
        options["REDIRECT"] = 4 if proto else 0
    if table == "nat" and root == "POSTROUTING":
        options["MASQUERADE"] = 12
        options["MASQUERADE --random-fully"] = 3
    if table == "nat" and root in ("POSTROUTING", "INPUT"):
        options["SNAT"] = 5
    return options


def _target_text(rng: random.Random, choice: str, proto: str | None) -> str:
    if choice == "none":
        return ""
    if choice == "MARK":
        return f"-j MARK --set-xmark {rng.choice(MARKS)}"
    if choice == "REJECT":
        kinds = ["icmp-port-unreachable"] + (["tcp-reset"] if proto == "tcp" else [])
        return f"-j REJECT --reject-with {rng.choice(kinds)}"
    if choice == "DNAT":
        address = rng.choice(PODS + PODS + NODE_ADDRS[:1] + REMOTE + ["127.0.0.1"])
        port = f":{rng.choice((8080, 80))}" if proto and rng.random() < 0.7 else ""
        return f"-j DNAT --to-destination {address}{port}"
    if choice == "NOTRACK":
        return "-j CT --notrack"
    if choice == "REDIRECT":
        return "-j REDIRECT --to-ports 8080"
    if choice == "CONNMARK":
        return rng.choice((
            "-j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff",
            "-j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff",
            "-j CONNMARK --set-xmark 0x2/0xffffffff",
        ))  # fmt: skip
    if choice == "LOG":
        return '-j LOG --log-prefix "kpl "'
    if choice == "SNAT":
        return "-j SNAT --to-source 192.168.49.2"
    return f"-j {choice}"


def packet(rng: random.Random, node: dict = NODE) -> dict:
    """A first packet: from a client, from a pod, or from the node itself."""
    kind = rng.choice(("client", "client", "pod", "local"))
    targets = SERVICES + NODE_ADDRS + PODS + REMOTE + node["local_ips"][1:]
    proto = rng.choice(("tcp", "tcp", "udp"))
    base = {"proto": proto, "sport": rng.choice((40000, 40001, 51000)), "dport": rng.choice(PORTS)}
    if kind == "client":
        src, extra = rng.choice(CLIENTS), {"origin": "external", "in_iface": "eth0"}
    elif kind == "pod":
        src, extra = rng.choice(PODS), {"origin": "external", "in_iface": node["pod_iface"]}
    elif rng.random() < 0.1:  # a process talking to itself over 127.0.0.1
        src, extra, targets = "127.0.0.1", {"origin": "local"}, ["127.0.0.1"]
    else:
        src, extra = NODE_ADDRS[0], {"origin": "local"}
    dst = rng.choice([t for t in targets if t != src] or targets)
    return {**extra, "src": src, "dst": dst, **base, **node}

"""The ipsets kube-proxy's IPVS mode keeps (pkg/proxy/ipvs/ipset.go) and `ipset list` text.

Sets are created as kube-proxy creates them: hash types with `family inet|inet6 hashsize 1024
maxelem 65536`, bitmap:port with `range 0-65535`. IPv6 sets are named `KUBE-6-...`.

`ipset list` is reproduced from ipset v7.17 on Linux 6.x (the type revisions below). Three
fields depend on kernel internals the simulator does not have: `initval` is random per set
(here a stable value derived from the set name), `Size in memory` grows per hash bucket (here
the measured size of an empty set plus one bucket per entry, exact while no two entries share
a bucket), and members are listed in hash order (here sorted, as `ipset list -sorted` does).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field

from app.sim.command import CommandResult

# name (IPv4 spelling) -> (type, comment), pkg/proxy/ipvs/ipset.go.
SETS: dict[str, tuple[str, str]] = {
    "KUBE-LOOP-BACK": (
        "hash:ip,port,ip",
        "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose",
    ),
    "KUBE-CLUSTER-IP": (
        "hash:ip,port",
        "Kubernetes service cluster ip + port for masquerade purpose",
    ),
    "KUBE-EXTERNAL-IP": (
        "hash:ip,port",
        "Kubernetes service external ip + port for masquerade and filter purpose",
    ),
    "KUBE-EXTERNAL-IP-LOCAL": (
        "hash:ip,port",
        "Kubernetes service external ip + port with externalTrafficPolicy=local",
    ),
    "KUBE-LOAD-BALANCER": ("hash:ip,port", "Kubernetes service lb portal"),
    "KUBE-LOAD-BALANCER-FW": (
        "hash:ip,port",
        "Kubernetes service load balancer ip + port for load balancer with sourceRange",
    ),
    "KUBE-LOAD-BALANCER-LOCAL": (
        "hash:ip,port",
        "Kubernetes service load balancer ip + port with externalTrafficPolicy=local",
    ),
    "KUBE-LOAD-BALANCER-SOURCE-IP": (
        "hash:ip,port,ip",
        "Kubernetes service load balancer ip + port + source IP for packet filter purpose",
    ),
    "KUBE-LOAD-BALANCER-SOURCE-CIDR": (
        "hash:ip,port,net",
        "Kubernetes service load balancer ip + port + source cidr for packet filter purpose",
    ),
    "KUBE-NODE-PORT-TCP": ("bitmap:port", "Kubernetes nodeport TCP port for masquerade purpose"),
    "KUBE-NODE-PORT-LOCAL-TCP": (
        "bitmap:port",
        "Kubernetes nodeport TCP port with externalTrafficPolicy=local",
    ),
    "KUBE-NODE-PORT-UDP": ("bitmap:port", "Kubernetes nodeport UDP port for masquerade purpose"),
    "KUBE-NODE-PORT-LOCAL-UDP": (
        "bitmap:port",
        "Kubernetes nodeport UDP port with externalTrafficPolicy=local",
    ),
    "KUBE-NODE-PORT-SCTP-HASH": (
        "hash:ip,port",
        "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'",
    ),
    "KUBE-NODE-PORT-LOCAL-SCTP-HASH": (
        "hash:ip,port",
        "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'",
    ),
    "KUBE-HEALTH-CHECK-NODE-PORT": ("bitmap:port", "Kubernetes health check node port"),
    "KUBE-IPVS-IPS": ("hash:ip", "IPVS service ip"),
}

# `ipset list` facts measured on Linux 6.x with ipset v7.17: revision, empty size, per entry.
_REVISION = {
    "hash:ip,port": 7,
    "hash:ip,port,ip": 6,
    "hash:ip,port,net": 8,
    "hash:ip": 6,
    "bitmap:port": 3,
}
_SIZE = {  # (type, family) -> (empty set, one more bucket)
    ("hash:ip,port", "inet"): (216, 48),
    ("hash:ip,port,ip", "inet"): (208, 56),
    ("hash:ip,port,net", "inet"): (464, 56),
    ("hash:ip", "inet"): (216, 40),
    ("hash:ip,port", "inet6"): (232, 72),
    ("hash:ip,port,ip", "inet6"): (232, 104),
    ("hash:ip,port,net", "inet6"): (1256, 104),
    ("hash:ip", "inet6"): (224, 64),
}
BITMAP_PORT_SIZE = 8264  # range 0-65535
_PROTO_NUMBERS = {"tcp": 6, "udp": 17, "sctp": 132}


def set_name(name: str, ipv6: bool) -> str:
    """`KUBE-CLUSTER-IP` -> `KUBE-6-CLUSTER-IP` for the IPv6 proxier (NewIPSet)."""
    return "KUBE-6-" + name[len("KUBE-") :] if ipv6 else name


@dataclass(frozen=True)
class Entry:
    """One member: `ip,proto:port[,ip2|net]`, a bare `port` (bitmap) or a bare `ip`."""

    ip: str | None = None
    port: int | None = None
    protocol: str | None = None
    ip2: str | None = None  # second address or network (hash:ip,port,ip / ,net)

    def member(self) -> str:
        """The member string as `ipset list` prints it."""
        if self.ip is None:
            return str(self.port)
        if self.port is None:
            return self.ip
        text = f"{self.ip},{self.protocol}:{self.port}"
        return f"{text},{self.ip2}" if self.ip2 else text

    def match_key(self, ipv6: bool) -> tuple[object, ...]:
        """The member as the `-m set` match reads it (app/sim/netfilter/match_state.py):
        `(ip,)`, `(ip, proto, port)` or `(ip, proto, port, ip2)`; a bitmap port matches any
        address of the family."""
        if self.ip is None:
            return ("::/0" if ipv6 else "0.0.0.0/0", self.protocol, self.port)
        if self.port is None:
            return (self.ip,)
        base = (self.ip, self.protocol, self.port)
        return (*base, self.ip2) if self.ip2 else base


@dataclass
class IpSet:
    """One set: its kube-proxy name (family-prefixed), type, comment and members."""

    name: str
    set_type: str
    comment: str
    ipv6: bool = False
    entries: set[Entry] = field(default_factory=set)

    def add(self, entry: Entry) -> None:
        self.entries.add(entry)

    def members(self) -> list[str]:
        keyed = [(_sort_key(e), e.member()) for e in self.entries]
        return [m for _, m in sorted(keyed)]

    def list_text(self, references: int = 0) -> str:
        """`ipset list NAME`."""
        family = "inet6" if self.ipv6 else "inet"
        if self.set_type == "bitmap:port":
            header, size = "range 0-65535", BITMAP_PORT_SIZE
        else:
            initval = int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:4], "big")
            header = (
                f"family {family} hashsize 1024 maxelem 65536 bucketsize 12 initval {initval:#010x}"
            )
            empty, per = _SIZE[(self.set_type, family)]
            size = empty + per * len(self.entries)
        lines = [
            f"Name: {self.name}",
            f"Type: {self.set_type}",
            f"Revision: {_REVISION[self.set_type]}",
            f"Header: {header}",
            f"Size in memory: {size}",
            f"References: {references}",
            f"Number of entries: {len(self.entries)}",
            "Members:",
            *self.members(),
        ]
        return "\n".join(lines) + "\n"


def _sort_key(e: Entry) -> tuple[int, int, int, int, int]:
    """`ipset list -sorted` order, as measured: address, protocol number, port, then the
    second address or network (a longer prefix first)."""
    ip = int(ipaddress.ip_address(e.ip)) if e.ip else -1
    proto = _PROTO_NUMBERS.get(e.protocol or "", 0)
    net = ipaddress.ip_network(e.ip2, strict=False) if e.ip2 else None
    second = (int(net.network_address), -net.prefixlen) if net else (-1, 0)
    return (ip, proto, e.port or 0, *second)


def new_sets(ipv6: bool) -> dict[str, IpSet]:
    """Every set kube-proxy creates, empty, keyed by the IPv4 spelling of the name."""
    return {
        key: IpSet(set_name(key, ipv6), set_type, comment, ipv6)
        for key, (set_type, comment) in SETS.items()
    }


def list_all(sets: dict[str, IpSet], references: dict[str, int]) -> str:
    """`ipset list`: every set, separated by a blank line."""
    return "\n".join(s.list_text(references.get(s.name, 0)) for s in sets.values())


# --- the `ipset` command (read-only: kube-proxy owns these sets) ---------------------------
IPSET_VERSION = "ipset v7.17"
_LIST_FLAGS = {"-n": "name", "-name": "name", "-t": "terse", "-terse": "terse",
               "-s": "sorted", "-sorted": "sorted"}  # fmt: skip
_CHANGES = ("create", "add", "del", "test", "destroy", "flush", "rename", "swap", "restore")


def run_ipset(sets: dict[str, IpSet], argv: list[str], references: dict[str, int]) -> CommandResult:
    """`ipset list|-L [-name|-terse|-sorted] [SETNAME]` and `ipset save|-S [SETNAME]`.
    ipset's own wording and exit statuses."""
    usage = "\nTry `ipset help' for more information.\n"
    words = list(argv)
    flags = {_LIST_FLAGS[w] for w in words if w in _LIST_FLAGS}
    words = [w for w in words if w not in _LIST_FLAGS]
    if not words:
        return CommandResult(2, "", f"{IPSET_VERSION}: No command specified.{usage}")
    command, *rest = words
    if command in _CHANGES:
        return CommandResult(
            2, "", f"{IPSET_VERSION}: kube-proxy owns these sets; this lab shows them only\n"
        )
    if command not in ("list", "-L", "save", "-S"):
        return CommandResult(
            2, "", f"{IPSET_VERSION}: No command specified: unknown argument {command}{usage}"
        )
    if len(rest) > 1:
        return CommandResult(2, "", f"{IPSET_VERSION}: Unknown argument {rest[1]}{usage}")
    chosen = list(sets.values())
    if rest:
        chosen = [s for s in chosen if s.name == rest[0]]
        if not chosen:
            return CommandResult(
                1, "", f"{IPSET_VERSION}: The set with the given name does not exist\n"
            )
    if command in ("save", "-S"):
        return CommandResult(0, "".join(_save(s) for s in chosen), "")
    if "name" in flags:
        return CommandResult(0, "".join(f"{s.name}\n" for s in chosen), "")
    texts = [s.list_text(references.get(s.name, 0)) for s in chosen]
    if "terse" in flags:
        texts = [t.split("Members:\n", 1)[0] for t in texts]
    return CommandResult(0, "\n".join(texts), "")


def _save(s: IpSet) -> str:
    header = s.list_text().splitlines()[3].removeprefix("Header: ")
    lines = [f"create {s.name} {s.set_type} {header}"]
    lines += [f"add {s.name} {m}" for m in s.members()]
    return "\n".join(lines) + "\n"

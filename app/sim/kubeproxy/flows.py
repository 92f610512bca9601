"""Where could a request to a Service end up? A packet-flow analysis of kube-proxy's rules.

This follows the packet tracer of kube-proxy's own unit tests (pkg/proxy/iptables/
proxier_test.go, `tracePacket`), so its answers can be checked against the upstream corpus:

* nat PREROUTING runs first; then, with the destination rewritten by the first DNAT found,
  filter KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS and KUBE-PROXY-FIREWALL;
* every `-m statistic` branch is followed, so the answer lists *all* endpoints the packet
  could be DNATed to, in rule order; a filter verdict (ACCEPT, DROP, REJECT) is listed too;
* rules that test history (`-m recent --rcheck`, `-m mark`, `-m conntrack`) never match: the
  packet is the first of a new connection from a client never seen before;
* `masq` is true if any path went through KUBE-MARK-MASQ.

Unlike the full engine (app/sim/netfilter), this understands only the options kube-proxy
writes, and it works for IPv4 and IPv6 alike.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass, field
from functools import lru_cache

from app.sim.kubeproxy.iptables_node import NodeTables

FILTER_CHAINS = ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL")
_VERDICTS = ("ACCEPT", "REJECT", "DROP")
_STATEFUL = ("--rcheck", "--mark", "--ctstate")
_TESTED = ("-s", "-d", "-p", "--dport", "--src-type", "--dst-type")


@dataclass(frozen=True)
class FlowResult:
    """`output`: endpoints (`ip:port`, comma-separated) or a verdict, "" if nothing matched;
    `masq`: the packet was marked for masquerading; `matched`: the rules that matched."""

    output: str
    masq: bool
    matched: tuple[str, ...]

    @property
    def endpoints(self) -> list[str]:
        return [o for o in self.output.split(", ") if o and o not in _VERDICTS]


@dataclass(frozen=True)
class _Rule:
    """The parts of one rule line the analysis looks at (None: not tested)."""

    raw: str
    chain: str
    target: str | None
    options: dict[str, tuple[bool, str]]  # option -> (negated, value)
    probabilistic: bool
    stateful: bool
    dnat_to: str | None


@lru_cache(maxsize=65536)
def parse_rule(line: str) -> _Rule:
    """Read one restore line (`-A CHAIN ...`), keeping the options the analysis tests."""
    tokens = shlex.split(line)
    options: dict[str, tuple[bool, str]] = {}
    negate, target, dnat = False, None, None
    i = 2
    while i < len(tokens):
        token = tokens[i]
        if token == "!":  # negates the option that follows
            negate, i = True, i + 1
            continue
        value = tokens[i + 1] if i + 1 < len(tokens) else ""
        i += 1
        if token in ("-j", "-g"):
            target, i = value, i + 1
        elif token == "--to-destination":
            dnat, i = value, i + 1
        elif token in _TESTED:
            options[token], i = (negate, value), i + 1
        negate = False
    return _Rule(
        raw=line,
        chain=tokens[1],
        target=target,
        options=options,
        probabilistic="--probability" in tokens,
        stateful=any(t in tokens for t in _STATEFUL),
        dnat_to=dnat,
    )


def _address_matches(ip: str, value: str) -> bool:
    try:
        if "/" in value:
            return ipaddress.ip_address(ip) in ipaddress.ip_network(value, strict=False)
        return ipaddress.ip_address(ip) == ipaddress.ip_address(value)
    except ValueError:
        return False


@dataclass
class _Packet:
    src: str
    proto: str
    dst: str
    dport: str
    local_ips: frozenset[str]

    def is_local(self, ip: str) -> bool:
        return ip in self.local_ips

    def matches(self, rule: _Rule) -> bool:
        """All tested parts must hold (stateful tests never do, see the module docstring)."""
        if rule.stateful:
            return False
        for option, (negated, value) in rule.options.items():
            if self._test(option, value) == negated:
                return False
        return True

    def _test(self, option: str, value: str) -> bool:
        if option == "-s":
            return _address_matches(self.src, value)
        if option == "-d":
            return _address_matches(self.dst, value)
        if option == "-p":
            return value == self.proto
        if option == "--dport":
            return value == self.dport
        ip = self.src if option == "--src-type" else self.dst
        return ("LOCAL" if self.is_local(ip) else "not-matched") == value


@dataclass
class _Tracer:
    node: NodeTables
    packet: _Packet
    outputs: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)
    masq: bool = False

    def run_chain(self, table: str, chain: str, depth: int = 0) -> bool:
        """Walk a chain; True when a DNAT or verdict ended the (non-probabilistic) path."""
        if depth > 64:  # a loop in the rules; iptables refuses those, stop rather than hang
            return False
        for line in self.node.rules(table, chain):
            rule = parse_rule(line)
            if rule.target is None or not self.packet.matches(rule):
                continue
            self.matched.append(rule.raw)
            if rule.target == "KUBE-MARK-MASQ":
                self.masq = True
            elif rule.target in _VERDICTS:
                self.outputs.append(rule.target)
                return True
            elif rule.target == "DNAT":
                self.outputs.append(rule.dnat_to or "")
                return True
            elif rule.target == "RETURN":
                return False
            elif self.run_chain(table, rule.target, depth + 1) and not rule.probabilistic:
                return True
        return False


def _host(endpoint: str) -> str:
    """The address of `ip:port` / `[ip]:port`."""
    return endpoint[1:].split("]")[0] if endpoint.startswith("[") else endpoint.split(":")[0]


def trace_flow(
    node: NodeTables,
    *,
    src: str,
    proto: str,
    dst: str,
    dport: int,
    local_ips: list[str] | tuple[str, ...] = (),
) -> FlowResult:
    """Every outcome of a new connection `src -> dst:dport` through the node's kube-proxy
    rules (`local_ips`: the node's own addresses, for `-m addrtype LOCAL`)."""
    packet = _Packet(src, proto.lower(), dst, str(dport), frozenset(local_ips))
    tracer = _Tracer(node, packet)
    tracer.run_chain("nat", "PREROUTING")
    if tracer.outputs:
        packet.dst = _host(tracer.outputs[0])
    for chain in FILTER_CHAINS:
        tracer.run_chain("filter", chain)
    return FlowResult(", ".join(tracer.outputs), tracer.masq, tuple(tracer.matched))

"""The kernel as a test oracle: load an iptables ruleset into throw-away network namespaces,
send one real packet, and report the path netfilter took.

    with Topology(ruleset) as topo:
        first = topo.trace({"origin": "external", "src": "192.168.49.100", "dst": "10.96.0.10",
                            "proto": "tcp", "sport": 40000, "dport": 80})
        topo.flush_state()              # forget conntrack: the next packet is a first one again
        topo.load(other_ruleset)        # same namespaces, new rules

Three namespaces per topology, wired as CONTRACTS.md describes the node:

    ext (client, 192.168.49.1) ceth0 <-veth-> eth0  NODE  cni0 <-veth-> eth0 pod (sender)
                                              node_ip, local_ips; pod_cidr via cni0;
                                              default via 192.168.49.1; ip_forward=1;
                                              cni0 has pod_iface_ip if the packet says so

Senders bind the probe's exact `src:sport` with IP_TRANSPARENT (ip(7)), so no address set-up is
needed per packet. Neither ext nor pod answers: the node's view is complete before a packet
leaves it (POSTROUTING runs before neighbour resolution, net/ipv4/ip_output.c), and no reply can
add a second packet to the trace or to conntrack.

Tracing: `-t raw -I PREROUTING/OUTPUT 1 <5-tuple> -j TRACE` sets the packet's nftrace bit;
`xtables-monitor --trace` reports each step. A UDP sentinel from ext, sent right after the
probe on the same CPU, is traced and dropped by the harness's own nf_tables table, so its event
arrives after every event of the probe (one backlog queue, processed in order): the trace ends
deterministically, without a sleep.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import ipaddress
import itertools
import os
import socket
from typing import Any

from . import netns
from .assemble import PROBE_TAG, assemble, is_sentinel_end, parse_conntrack
from .monitor import TraceMonitor, parse_lines
from .netns import KernelError, cleanup_leftovers
from .ruleset_text import tables_of, with_builtin_chains
from .wiring import (
    IP_TRANSPARENT,
    SENTINEL_PORT,
    NodeConfig,
    ext_commands,
    full_packet,
    harness_table,
    node_commands,
    pod_commands,
    sysctls,
)

__all__ = ["KernelError", "NodeConfig", "Topology", "cleanup_leftovers", "full_packet"]

_ids = itertools.count(1)
_live: set[Topology] = set()


class Topology:
    """Namespaces + one loaded ruleset + a running trace monitor. See the module docstring."""

    def __init__(
        self, ruleset: str | None = None, node: NodeConfig | None = None, *, track_all: bool = False
    ) -> None:
        self.node_config = node or NodeConfig()
        self.track_all = track_all
        base = f"kpl{os.getpid()}n{next(_ids)}"
        self.node, self.ext, self.pod = f"{base}-node", f"{base}-ext", f"{base}-pod"
        self.ruleset = ruleset
        self.user_tables: set[str] = set()
        self.monitor: TraceMonitor | None = None
        self._created: list[str] = []
        self._ext_routes: set[str] = set()
        self._listing: dict[tuple[str, str], list[str]] = {}

    # -- life cycle -------------------------------------------------------------------------
    def __enter__(self) -> Topology:
        try:
            self.build()
            if self.ruleset is not None:
                self.load(self.ruleset)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(self) -> None:
        """Create and wire the namespaces, start the monitor and wait until it reports."""
        _live.add(self)
        netns.ip_batch(None, [f"netns add {n}" for n in (self.node, self.ext, self.pod)])
        self._created = [self.node, self.ext, self.pod]
        netns.ip_batch(self.node, node_commands(self.node_config, self.ext, self.pod))
        netns.ip_batch(self.ext, ext_commands(self.node_config))
        netns.ip_batch(self.pod, pod_commands())
        node, others = sysctls(self.node_config)
        netns.write_sysctls(self.node, node)
        netns.write_sysctls(self.ext, others)
        netns.write_sysctls(self.pod, others)
        self._load_harness_table()
        self.monitor = TraceMonitor(self.node)
        self._wait_monitor_ready()

    def close(self) -> None:
        """Stop the monitor and delete every namespace; safe to call twice."""
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
        with contextlib.suppress(KernelError):
            netns.delete(self._created)
        self._created = []
        _live.discard(self)

    def _load_harness_table(self) -> None:
        text = harness_table(self.node_config, self.track_all)
        netns.in_ns(self.node, "nft", "-f", "-", stdin=text)

    def _wait_monitor_ready(self) -> None:
        """xtables-monitor subscribes asynchronously: send sentinels until one is reported."""
        assert self.monitor is not None
        for _ in range(250):
            mark = self.monitor.mark()
            self._send_sentinel()
            if self.monitor.wait_for(mark, _has_sentinel_end, 0.02):
                return
            self.monitor.check_alive()
        raise KernelError("xtables-monitor reported no trace event within 5 s")

    # -- rules and state --------------------------------------------------------------------
    def load(self, ruleset: str) -> None:
        """Replace the whole ruleset (nft flush + iptables-restore) and forget conntrack."""
        self.ruleset = ruleset
        self.user_tables = set(tables_of(ruleset))
        text = with_builtin_chains(ruleset)
        if "raw" not in self.user_tables:  # a place for the TRACE rules; its events are hidden
            text += "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
        netns.in_ns(self.node, "nft", "flush", "ruleset")
        netns.in_ns(self.node, "iptables-restore", "-w", stdin=text)
        self._load_harness_table()
        self._listing.clear()
        self.flush_state()

    def flush_state(self) -> None:
        """Forget every connection (conntrack -F): the next packet of any tuple is a first one."""
        netns.in_ns(self.node, "conntrack", "-F", check=False)

    def conntrack(self, **filters: object) -> list[dict[str, Any]]:
        """Parsed `conntrack -L` entries, filtered by conntrack(8) options such as
        `proto="tcp", src=..., dport=...` (original direction)."""
        argv = ["conntrack", "-L"]
        for key, value in filters.items():
            argv += [f"-{key}" if key in ("p", "s", "d") else f"--{key}", str(value)]
        out = netns.in_ns(self.node, *argv, check=False).stdout
        return [e for e in map(parse_conntrack, out.splitlines()) if e is not None]

    def save(self, table: str, counters: bool = False) -> str:
        """`iptables-save [-c] -t TABLE` of the node."""
        argv = ["iptables-save", *(["-c"] if counters else []), "-t", table]
        return netns.in_ns(self.node, *argv).stdout

    # -- tracing ----------------------------------------------------------------------------
    def trace(self, packet: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send one probe and return its trace (assemble.py) plus `conntrack` and `send_errno`.

        Call flush_state() first when the same tuple was traced before on this topology:
        otherwise conntrack knows the connection and the nat chains are skipped.
        """
        if self.monitor is None:
            raise KernelError("topology is not built (use it as a context manager)")
        packet = self._check(packet)
        spec = _tuple_spec(packet)
        self._inject(spec, "-I", " 1")
        try:
            mark = self.monitor.mark()
            send_errno = self._send_pinned(packet)
            if not self.monitor.wait_for(mark, _has_sentinel_end, timeout):
                self.monitor.check_alive()
                raise KernelError(f"trace did not complete within {timeout} s: {packet}")
            events = parse_lines(self.monitor.since(mark))
        finally:
            self._inject(spec, "-D", "")
        result = assemble(events, packet["proto"], self.user_tables, self._index_of)
        entries = self.conntrack(p=packet["proto"], s=packet["src"], d=packet["dst"],
                                 sport=packet["sport"], dport=packet["dport"])  # fmt: skip
        result["conntrack"] = entries[0] if entries else None
        result["send_errno"] = errno.errorcode.get(send_errno) if send_errno else None
        return result

    def send(self, packets: list[dict[str, Any]], timeout: float = 10.0) -> list[int]:
        """Send probes without tracing them and wait until the kernel has handled them all
        (the sentinel comes out of the same backlog after them). Returns each errno (0: sent).
        """
        if self.monitor is None:
            raise KernelError("topology is not built (use it as a context manager)")
        checked = [self._check(packet) for packet in packets]
        cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(cpus)})
        try:
            mark = self.monitor.mark()
            codes = [self._send_one(packet) for packet in checked]
            self._send_sentinel()
        finally:
            os.sched_setaffinity(0, cpus)
        if not self.monitor.wait_for(mark, _has_sentinel_end, timeout):
            raise KernelError(f"the kernel did not handle {len(packets)} packets in {timeout} s")
        return codes

    def _check(self, packet: dict[str, Any]) -> dict[str, Any]:
        packet = full_packet(packet)
        if NodeConfig.of(packet) != self.node_config:
            raise ValueError("packet describes a different node than this topology")
        iface = packet["in_iface"]
        if packet["origin"] == "external" and iface not in ("eth0", self.node_config.pod_iface):
            raise ValueError(f"in_iface must be eth0 or {self.node_config.pod_iface}: {iface}")
        return packet

    def _inject(self, spec: str, verb: str, position: str) -> None:
        rules = [f"{verb} {chain}{position} {spec} -j TRACE" for chain in ("PREROUTING", "OUTPUT")]
        text = "*raw\n" + "\n".join(rules) + "\nCOMMIT\n"
        netns.in_ns(self.node, "iptables-restore", "-w", "--noflush", stdin=text)

    def _send_pinned(self, packet: dict[str, Any]) -> int:
        """Probe then sentinel from one CPU: both go through that CPU's backlog in order."""
        cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(cpus)})
        try:
            result = self._send_one(packet)
            self._send_sentinel()
        finally:
            os.sched_setaffinity(0, cpus)
        return result

    def _sender(self, packet: dict[str, Any]) -> str:
        if packet["origin"] == "local":
            return self.node
        if packet["in_iface"] == self.node_config.pod_iface:
            return self.pod
        dst = packet["dst"]
        if ipaddress.IPv4Address(dst) == self.node_config.gateway:
            raise ValueError(f"dst {dst} is the client side of the topology")
        if dst not in self._ext_routes:  # through the node even when dst is on its subnet
            netns.run(["ip", "-n", self.ext, "route", "replace", f"{dst}/32", "via",
                       str(self.node_config.interface.ip), "dev", "ceth0"])  # fmt: skip
            self._ext_routes.add(dst)
        return self.ext

    def _send_one(self, packet: dict[str, Any]) -> int:
        """Exactly one TCP SYN (non-blocking connect, then close: no retransmission) or one
        UDP datagram, from `src:sport`. Returns the errno of the send (EPERM: OUTPUT dropped)."""
        kind = socket.SOCK_STREAM if packet["proto"] == "tcp" else socket.SOCK_DGRAM
        with netns.entered(self._sender(packet)):
            sock = socket.socket(socket.AF_INET, kind)
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
            sock.bind((packet["src"], int(packet["sport"])))
            target = (packet["dst"], int(packet["dport"]))
            if kind == socket.SOCK_STREAM:
                sock.setblocking(False)
                code = sock.connect_ex(target)
                return 0 if code == errno.EINPROGRESS else code
            try:
                sock.sendto(b"kplab-probe", target)
            except OSError as exc:
                return exc.errno or -1
            return 0

    def _send_sentinel(self) -> None:
        cfg = self.node_config
        with netns.entered(self.ext):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            sock.bind((str(cfg.gateway), 0))
            sock.sendto(b"end", (str(cfg.interface.ip), SENTINEL_PORT))

    # -- rule positions ---------------------------------------------------------------------
    def _chain_rules(self, table: str, chain: str) -> list[str]:
        """The chain's rules as `iptables -t T -S CHAIN` prints them, TRACE rules removed."""
        key = (table, chain)
        if key not in self._listing:
            out = netns.in_ns(self.node, "iptables", "-w", "-t", table, "-S", chain).stdout
            self._listing[key] = [
                line
                for line in out.splitlines()
                if line.startswith("-A ") and PROBE_TAG not in line
            ]
        return self._listing[key]

    def _index_of(self, table: str, chain: str, handle: int | None, text: str | None) -> int:
        """1-based position of the reported rule. The printed text finds it; when the same
        text occurs twice in the chain, the nf_tables rule handle picks the right one."""
        rules = self._chain_rules(table, chain)
        hits = [i for i, rule in enumerate(rules) if rule == text]
        if len(hits) == 1:
            return hits[0] + 1
        handles = self._chain_handles(table, chain)
        if handle in handles and (not hits or handles.index(handle) in hits):
            return handles.index(handle) + 1
        raise KernelError(f"cannot place rule {text!r} (handle {handle}) in {table}/{chain}")

    def _chain_handles(self, table: str, chain: str) -> list[int]:
        out = netns.in_ns(self.node, "nft", "-a", "list", "chain", "ip", table, chain).stdout
        handles = []
        for line in out.splitlines():
            body, sep, handle = line.rpartition("# handle ")
            if sep and line.startswith("\t\t") and PROBE_TAG not in body:
                handles.append(int(handle))
        return handles


def _tuple_spec(packet: dict[str, Any]) -> str:
    proto = packet["proto"]
    return (
        f"-s {packet['src']}/32 -d {packet['dst']}/32 -p {proto} -m {proto}"
        f" --sport {packet['sport']} --dport {packet['dport']}"
        f" -m comment --comment {PROBE_TAG}"
    )


def _has_sentinel_end(lines: list[str]) -> bool:
    return any(is_sentinel_end(line) for line in lines)


@atexit.register
def _close_all() -> None:
    for topo in list(_live):
        with contextlib.suppress(Exception):
            topo.close()

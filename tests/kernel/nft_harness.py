"""The kernel as an oracle for nftables rulesets: `nft -f` a table into the project's node
topology, send one real packet, and read the path from `nft monitor trace`.

    with NftTopology() as topo:
        topo.load(dump_text)                      # nft flush ruleset + nft -f + trace table
        events = topo.trace({"origin": "external", "src": ..., "dst": ..., ...})
        listing = topo.list_table("ip", "kube-proxy")

The namespaces are wired exactly as the iptables harness wires them (wiring.py, netns.py).
Tracing: a table `kplab_nfttrace` hooks prerouting and output at priority -450 (before raw and
conntrack) and sets `meta nftrace 1` on the probe's 5-tuple; `nft monitor trace` prints one
line per event:

    trace id 1a2b ip kube-proxy services rule ip daddr . meta l4proto ... (verdict goto X)
    trace id 1a2b ip kube-proxy filter-forward policy accept

The kernel reports matched rules (with their verdict, `continue` for a rule without one) and
base-chain policies; the end of a regular chain is not reported (nf_tables_core.c). A UDP
sentinel from the client, traced and dropped by the same table and sent after the probe from
the same CPU, marks the end of the probe's events.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

from . import netns
from .netns import KernelError, _libc
from .wiring import (
    IP_TRANSPARENT,
    SENTINEL_PORT,
    NodeConfig,
    ext_commands,
    full_packet,
    node_commands,
    pod_commands,
    sysctls,
)

TRACE_TABLE = "kplab_nfttrace"
_ids = itertools.count(1)
_LINE = re.compile(
    r"^trace id (\w+) (\w+) (\S+) (\S+) "
    r"(?:(?:unknown )?(rule) (.*) \(verdict ([^)]*)\)|(policy) (\w+))"
)
_UNKNOWN = re.compile(r"^handle (\d+)$")


@dataclass(frozen=True)
class NftEvent:
    """One rule or policy event. `text` is the rule as the kernel prints it, or None when
    nft only knows its `handle` (its cache predates the ruleset: `unknown rule handle N`)."""

    table: str
    chain: str
    kind: str  # "rule" or "policy"
    verdict: str  # nft spelling: accept, drop, continue, jump X, goto X, return
    text: str | None
    handle: int | None = None


def parse_trace(lines: list[str], family: str = "ip") -> list[tuple[str, NftEvent]]:
    """(trace id, event) for every rule/policy line (packet lines are skipped)."""
    events = []
    for line in lines:
        m = _LINE.match(line.strip())
        if not m or m.group(2) != family:
            continue
        tid, _, table, chain = m.group(1, 2, 3, 4)
        if m.group(5):
            text, verdict = m.group(6), m.group(7).strip()
            unknown = _UNKNOWN.match(text)
            handle = int(unknown.group(1)) if unknown else None
            event = NftEvent(table, chain, "rule", verdict, None if unknown else text, handle)
            events.append((tid, event))
        elif m.group(8):
            events.append((tid, NftEvent(table, chain, "policy", m.group(9), None)))
    return events


class _Monitor:
    """`nft monitor trace` in one namespace; a thread collects its lines."""

    def __init__(self, ns: str) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "stdbuf", "-oL", "nft", "monitor", "trace"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=lambda: _libc.prctl(1, signal.SIGTERM),  # PR_SET_PDEATHSIG
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def mark(self) -> int:
        with self._changed:
            return len(self.lines)

    def wait_sentinel(self, mark: int, timeout: float) -> list[str] | None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(_is_sentinel(line) for line in self.lines[mark:]):
                left = deadline - time.monotonic()
                if left <= 0 or self._proc.poll() is not None:
                    return None
                self._changed.wait(left)
            return self.lines[mark:]

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(2)
        except subprocess.TimeoutExpired:
            self._proc.kill()


def _is_sentinel(line: str) -> bool:
    return f" {TRACE_TABLE} sentinel " in line and "(verdict drop)" in line


class NftTopology:
    """The node, client and pod namespaces, an nftables ruleset and a trace monitor."""

    def __init__(self, node: NodeConfig | None = None) -> None:
        self.cfg = node or NodeConfig()
        base = f"kpl{os.getpid()}t{next(_ids)}"
        self.node, self.ext, self.pod = f"{base}-node", f"{base}-ext", f"{base}-pod"
        self.monitor: _Monitor | None = None
        self._created: list[str] = []
        self._routes: set[str] = set()
        self._ruleset = ""

    def __enter__(self) -> NftTopology:
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(self) -> None:
        netns.ip_batch(None, [f"netns add {n}" for n in (self.node, self.ext, self.pod)])
        self._created = [self.node, self.ext, self.pod]
        netns.ip_batch(self.node, node_commands(self.cfg, self.ext, self.pod))
        netns.ip_batch(self.ext, ext_commands(self.cfg))
        netns.ip_batch(self.pod, pod_commands())
        node, others = sysctls(self.cfg)
        netns.write_sysctls(self.node, node)
        netns.write_sysctls(self.ext, others)
        netns.write_sysctls(self.pod, others)
        self._trace_table(None)
        self.monitor = _Monitor(self.node)
        for _ in range(250):  # the monitor subscribes asynchronously
            mark = self.monitor.mark()
            self._send_sentinel()
            if self.monitor.wait_sentinel(mark, 0.02) is not None:
                return
        raise KernelError("nft monitor trace reported nothing within 5 s")

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
        if self._created:
            netns.delete(self._created)
            self._created = []

    def load(self, ruleset: str) -> None:
        """Replace every table by `ruleset` (nft -f input) and forget conntrack."""
        netns.in_ns(self.node, "nft", "flush", "ruleset")
        netns.in_ns(self.node, "nft", "-f", "-", stdin=ruleset)
        self._ruleset = ruleset
        self._trace_table(None)
        netns.in_ns(self.node, "conntrack", "-F", check=False)

    def list_table(self, family: str, name: str, handles: bool = False) -> str:
        argv = ["nft", *(["-a"] if handles else []), "list", "table", family, name]
        return netns.in_ns(self.node, *argv).stdout

    def _trace_table(self, packet: dict[str, Any] | None) -> None:
        cfg = self.cfg
        probe = ""
        if packet is not None:
            p = packet["proto"]
            probe = (
                f"ip saddr {packet['src']} ip daddr {packet['dst']} {p} sport {packet['sport']}"
                f" {p} dport {packet['dport']} meta nftrace set 1"
            )
        sentinel = (
            f"ip saddr {cfg.gateway} ip daddr {cfg.interface.ip} udp dport {SENTINEL_PORT}"
            " meta nftrace set 1 drop"
        )
        text = (
            f"table ip {TRACE_TABLE}\ndelete table ip {TRACE_TABLE}\n"
            f"table ip {TRACE_TABLE} {{\n"
            f" chain sentinel {{ type filter hook prerouting priority -460; policy accept;\n"
            f"  {sentinel}\n }}\n"
            f" chain pre {{ type filter hook prerouting priority -450; policy accept;\n"
            f"  {probe}\n }}\n"
            f" chain out {{ type filter hook output priority -450; policy accept;\n"
            f"  {probe}\n }}\n}}\n"
        )
        netns.in_ns(self.node, "nft", "-f", "-", stdin=text)

    def trace(self, packet: dict[str, Any], timeout: float = 5.0) -> list[NftEvent]:
        """Send one probe; the events of every table but the trace table, in order."""
        assert self.monitor is not None, "use NftTopology as a context manager"
        packet = full_packet(packet)
        if NodeConfig.of(packet) != self.cfg:
            raise ValueError("packet describes a different node than this topology")
        netns.in_ns(self.node, "conntrack", "-F", check=False)
        self._trace_table(packet)
        cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(cpus)})
        try:
            mark = self.monitor.mark()
            self._send(packet)
            self._send_sentinel()
        finally:
            os.sched_setaffinity(0, cpus)
        lines = self.monitor.wait_sentinel(mark, timeout)
        if lines is None:
            raise KernelError(f"trace did not complete within {timeout} s: {packet}")
        return [e for _, e in parse_trace(lines) if e.table != TRACE_TABLE]

    def _sender(self, packet: dict[str, Any]) -> str:
        if packet["origin"] == "local":
            return self.node
        if packet["in_iface"] == self.cfg.pod_iface:
            return self.pod
        dst = packet["dst"]
        if dst not in self._routes:  # through the node even when dst is on its subnet
            netns.run(
                [
                    "ip",
                    "-n",
                    self.ext,
                    "route",
                    "replace",
                    f"{dst}/32",
                    "via",
                    str(self.cfg.interface.ip),
                    "dev",
                    "ceth0",
                ]
            )
            self._routes.add(dst)
        return self.ext

    def _send(self, packet: dict[str, Any]) -> None:
        """One TCP SYN (non-blocking connect, then close) or one UDP datagram."""
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
                sock.connect_ex(target)
            else:
                with contextlib.suppress(OSError):  # EPERM: the output hook dropped it
                    sock.sendto(b"kplab-probe", target)

    def _send_sentinel(self) -> None:
        with netns.entered(self.ext):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            sock.bind((str(self.cfg.gateway), 0))
            sock.sendto(b"end", (str(self.cfg.interface.ip), SENTINEL_PORT))


def positions(listing: str) -> dict[tuple[str, str | int], int]:
    """(chain, rule text) and (chain, handle) -> 1-based position, from `nft -a list table`."""
    found: dict[tuple[str, str | int], int] = {}
    chain, index = "", 0
    for line in listing.splitlines():
        m = re.match(r"\tchain (\S+) \{", line)
        if m:
            chain, index = m.group(1), 0
        elif (
            line.startswith("\t\t") and chain and not line.startswith(("\t\ttype ", "\t\tcomment "))
        ):
            index += 1
            text, _, handle = line.strip().rpartition(" # handle ")
            found.setdefault((chain, text), index)
            found[(chain, int(handle))] = index
        elif line == "\t}":
            chain = ""
    return found

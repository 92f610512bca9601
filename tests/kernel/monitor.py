"""Read nf_tables trace events: run `xtables-monitor --trace` in a namespace and parse its lines.

xtables-monitor(8) prints, for every packet whose `nftrace` bit is set, one `PACKET:` line when
the packet enters a base chain (its headers at that moment) and one `TRACE:` line per event:

    PACKET: 2 1a2b3c4d IN=eth0 OUT= SRC=192.168.49.100 DST=10.96.0.10 ... SPORT=40000 DPORT=80 SYN
     TRACE: 2 1a2b3c4d nat:KUBE-SERVICES:rule:0x1c:JUMP:KUBE-SVC-X  -4 -t nat -A KUBE-SERVICES ...
     TRACE: 2 1a2b3c4d filter:INPUT:policy:DROP

The kernel only reports rules that *matched* (nft_trace_packet is called on a verdict), plus
policies and, on some kernels, implicit returns. A RETURN verdict is printed as its raw code.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .netns import KernelError, _libc

# include/uapi/linux/netfilter/nf_tables.h: NFT_RETURN = -5, printed unsigned.
RAW_VERDICTS = {"0xfffffffb": "RETURN", "0xffffffff": "CONTINUE", "0x0": "DROP", "0x1": "ACCEPT"}
PR_SET_PDEATHSIG = 1

_PACKET = re.compile(r"^PACKET: \d+ ([0-9a-f]+) (.*)$")
_TRACE = re.compile(r"^\s*TRACE: \d+ ([0-9a-f]+) ([^:\s]+):([^:\s]+):(rule|policy|return):(.*)$")
_TCP_FLAGS = {"SYN", "ACK", "FIN", "RST", "PSH", "URG"}


@dataclass
class PacketLine:
    """The headers a packet had when it entered a base chain."""

    trace_id: str
    fields: dict[str, str]
    flags: frozenset[str]


@dataclass
class TraceEvent:
    """One rule, policy or return event of one traced packet."""

    trace_id: str
    table: str
    chain: str
    kind: str
    verdict: str
    handle: int | None = None
    rule_text: str | None = None
    packet: PacketLine | None = field(default=None, repr=False)  # set on a base chain's first


def parse_lines(lines: list[str]) -> list[TraceEvent]:
    """Monitor lines -> events in arrival order; each PACKET line is attached to the next
    event of the same trace id (that event opens a base-chain evaluation)."""
    events: list[TraceEvent] = []
    pending: dict[str, PacketLine] = {}
    for line in lines:
        if match := _PACKET.match(line):
            pending[match.group(1)] = _packet_line(match.group(1), match.group(2))
        elif match := _TRACE.match(line):
            event = _trace_event(*match.groups())
            event.packet = pending.pop(event.trace_id, None)
            events.append(event)
    return events


def _packet_line(trace_id: str, body: str) -> PacketLine:
    fields: dict[str, str] = {}
    flags: set[str] = set()
    for token in body.split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
        elif token in _TCP_FLAGS:
            flags.add(token)
    return PacketLine(trace_id, fields, frozenset(flags))


def _trace_event(trace_id: str, table: str, chain: str, kind: str, rest: str) -> TraceEvent:
    if kind != "rule":
        return TraceEvent(
            trace_id, table, chain, kind, RAW_VERDICTS.get(rest.strip(), rest.strip())
        )
    handle_hex, _, rest = rest.partition(":")
    verdict, _, text = rest.partition("  ")
    # The printed rule starts with "-4 -t <table> "; the remainder is `iptables -S` spelling.
    text = re.sub(r"^-4 -t \S+ ", "", text.strip()) or None
    verdict = RAW_VERDICTS.get(verdict.strip(), verdict.strip())
    return TraceEvent(trace_id, table, chain, kind, verdict, int(handle_hex, 16), text)


class TraceMonitor:
    """`xtables-monitor --trace` running in one namespace; a thread collects its lines."""

    def __init__(self, ns: str) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "stdbuf", "-oL", "xtables-monitor", "--trace"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # The monitor must not outlive us even after a SIGKILL (prctl(2) PR_SET_PDEATHSIG).
            preexec_fn=lambda: _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM),
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def mark(self) -> int:
        """A position; `since(mark)` returns the lines that arrived after it."""
        with self._changed:
            return len(self.lines)

    def since(self, mark: int) -> list[str]:
        with self._changed:
            return self.lines[mark:]

    def wait_for(self, mark: int, seen: Callable[[list[str]], bool], timeout: float) -> bool:
        """Block until `seen(lines since mark)` holds; False on timeout or monitor exit."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not seen(self.lines[mark:]):
                left = deadline - time.monotonic()
                if left <= 0 or self._proc.poll() is not None:
                    return seen(self.lines[mark:])
                self._changed.wait(left)
        return True

    def check_alive(self) -> None:
        if self._proc.poll() is not None:
            raise KernelError("xtables-monitor exited: " + " | ".join(self.lines[-5:]))

    def close(self) -> None:
        """Stop the monitor this object started (by its pid, never by name)."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.kill(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        self._reader.join(timeout=2)

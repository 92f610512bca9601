"""The `trace --packet` JSON (CONTRACTS.md): checked key by key into a Packet and a Node.

Every problem becomes a `TraceInputError` whose message names the key and what is wrong,
so the CLI and the HTTP API can show it as is.

Keys beyond the CONTRACTS.md table (docs/contracts-extensions.md lists them):

* `pod_iface_ip`: the address of `pod_iface` with prefix (e.g. "10.244.1.1/24", the bridge
  address a CNI bridge plugin gives `cni0`). Absent: `pod_iface` has no address. A real
  node has one, and it is what MASQUERADE picks for a packet leaving through `pod_iface`
  (hairpin traffic, kernel-facts §5.8) and what counts as LOCAL for `-m addrtype`;
* `sysctls` (`{"net.ipv4.conf.all.route_localnet": 1}`, short names `ip_forward` and
  `route_localnet`), `mark` (the packet's nfmark as it arrives) and `tcp_flags` (default
  `["SYN"]`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from app.sim.node import DEFAULT_NODE_IP, DEFAULT_POD_CIDR, DEFAULT_POD_IFACE, Node, NodeError
from app.sim.packet import PROTOCOLS, Packet

REQUIRED = ("origin", "src", "dst", "proto", "sport", "dport")
OPTIONAL = (
    "in_iface",
    "node_ip",
    "local_ips",
    "pod_cidr",
    "pod_iface",
    "pod_iface_ip",
    "sysctls",
    "mark",
    "tcp_flags",
)
ORIGINS = ("external", "local")
TCP_FLAGS = frozenset({"SYN", "ACK", "FIN", "RST", "URG", "PSH"})
# Short sysctl names accepted beside the full `net.ipv4...` keys.
SYSCTL_ALIASES = {
    "ip_forward": "net.ipv4.ip_forward",
    "route_localnet": "net.ipv4.conf.all.route_localnet",
}


class TraceInputError(ValueError):
    """The packet JSON or the ruleset given to a trace is not usable; `message` says why
    (for a ruleset, in iptables-restore's own words)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class TraceRequest:
    """A checked `--packet`: the packet, the node it meets, where it comes from."""

    packet: Packet
    node: Node
    origin: str
    in_iface: str | None


def parse_packet_json(data: Any) -> TraceRequest:
    """Check a decoded `--packet` object and build the request (TraceInputError if bad)."""
    if not isinstance(data, dict):
        raise TraceInputError("packet: expected a JSON object")
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise TraceInputError(f"packet: unknown key {unknown[0]!r}")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise TraceInputError(f"packet: missing key {missing[0]!r}")
    origin = _choice(data, "origin", ORIGINS)
    proto = _choice(data, "proto", PROTOCOLS)
    pod_iface = _name(data.get("pod_iface", DEFAULT_POD_IFACE), "pod_iface")
    in_iface = _name(data.get("in_iface", "eth0"), "in_iface")
    # The node's uplink carries the name of the interface the packet arrives on, unless it
    # arrives from the pod side (the project's kernel topology does the same).
    uplink = in_iface if in_iface not in (pod_iface, "lo") else "eth0"
    try:
        node = Node(
            node_ip=_text(data.get("node_ip", DEFAULT_NODE_IP), "node_ip"),
            local_ips=_text_list(data.get("local_ips", []), "local_ips"),
            pod_cidr=_text_list(data.get("pod_cidr", list(DEFAULT_POD_CIDR)), "pod_cidr"),
            pod_iface=pod_iface,
            pod_iface_ip=_optional_text(data.get("pod_iface_ip"), "pod_iface_ip"),
            uplink=uplink,
            sysctls=_sysctls(data.get("sysctls", {})),
        )
    except NodeError as err:
        raise TraceInputError(f"packet: {err}") from None
    packet = Packet(
        src=_address(data, "src"),
        dst=_address(data, "dst"),
        proto=proto,
        sport=_port(data, "sport"),
        dport=_port(data, "dport"),
        mark=_mark(data.get("mark", 0)),
        tcp_flags=_flags(data.get("tcp_flags", ["SYN"])),
    )
    return TraceRequest(packet, node, origin, None if origin == "local" else in_iface)


def _choice(data: dict, key: str, allowed: tuple[str, ...]) -> str:
    value = data[key]
    if value not in allowed:
        raise TraceInputError(f"packet: {key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise TraceInputError(f"packet: {key} must be a non-empty string")
    return value


def _optional_text(value: Any, key: str) -> str | None:
    return None if value is None else _text(value, key)


def _name(value: Any, key: str) -> str:
    name = _text(value, key)
    if len(name) > 15 or any(c in name for c in " /:"):  # IFNAMSIZ and dev_valid_name()
        raise TraceInputError(f"packet: {key} is not a valid interface name: {name!r}")
    return name


def _text_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise TraceInputError(f"packet: {key} must be a list of strings")
    return [_text(item, key) for item in value]


def _address(data: dict, key: str) -> str:
    value = data[key]
    try:
        return str(ipaddress.IPv4Address(value))
    except (ValueError, TypeError):
        raise TraceInputError(f"packet: {key} is not an IPv4 address: {value!r}") from None


def _port(data: dict, key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise TraceInputError(f"packet: {key} must be a port number 0-65535, not {value!r}")
    return value


def _mark(value: Any) -> int:
    if isinstance(value, str):
        try:
            value = int(value, 0)
        except ValueError:
            raise TraceInputError(f"packet: mark is not a number: {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 32:
        raise TraceInputError(f"packet: mark must be a 32-bit number, not {value!r}")
    return value


def _flags(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
        raise TraceInputError("packet: tcp_flags must be a list of flag names")
    flags = frozenset(f.upper() for f in value)
    if flags - TCP_FLAGS:
        raise TraceInputError(f"packet: unknown tcp flag {sorted(flags - TCP_FLAGS)[0]!r}")
    return flags


def _sysctls(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise TraceInputError("packet: sysctls must be an object of name: number")
    out = {}
    for key, setting in value.items():
        if isinstance(setting, bool) or not isinstance(setting, int):
            raise TraceInputError(f"packet: sysctl {key!r} must be a number")
        out[SYSCTL_ALIASES.get(key, key)] = setting
    return out

"""Value syntax shared by the rule modules: addresses, ports, marks, protocols, quoting.

Each helper accepts what iptables 1.8.9 accepts and prints what it prints, raising
`IptablesError` with iptables' own wording otherwise (libxtables/xtables.c).
"""

from __future__ import annotations

import ipaddress

from app.sim.netfilter.errors import IptablesError, ext_param, param

# Protocol names iptables prints (xtables_chain_protos first, then /etc/protocols).
PROTO_NUMBERS: dict[str, int] = {
    "all": 0,
    "icmp": 1,
    "igmp": 2,
    "ipencap": 4,
    "tcp": 6,
    "egp": 8,
    "udp": 17,
    "ipv6": 41,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "icmpv6": 58,
    "ospf": 89,
    "ipip": 94,
    "pim": 103,
    "vrrp": 112,
    "l2tp": 115,
    "sctp": 132,
    "udplite": 136,
}
PROTO_NAMES = {number: name for name, number in PROTO_NUMBERS.items()}

# Some /etc/services entries (Debian netbase) iptables resolves: name -> protocols and port.
_SERVICE_TABLE: tuple[tuple[str, str, int], ...] = (
    ("ftp", "tcp", 21), ("ssh", "tcp", 22), ("telnet", "tcp", 23), ("smtp", "tcp", 25),
    ("domain", "tcp udp", 53), ("bootps", "udp", 67), ("bootpc", "udp", 68),
    ("tftp", "udp", 69), ("http", "tcp", 80), ("kerberos", "tcp udp", 88),
    ("pop3", "tcp", 110), ("ntp", "udp", 123), ("imap2", "tcp", 143),
    ("snmp", "tcp udp", 161), ("ldap", "tcp udp", 389), ("https", "tcp udp", 443),
    ("syslog", "udp", 514), ("imaps", "tcp", 993), ("pop3s", "tcp", 995),
    ("mysql", "tcp", 3306), ("postgresql", "tcp", 5432), ("http-alt", "tcp", 8080),
)  # fmt: skip
SERVICES: dict[tuple[str, str], int] = {
    (name, proto): port for name, protos, port in _SERVICE_TABLE for proto in protos.split()
}
SERVICE_NAMES: dict[tuple[int, str], str] = {
    (port, proto): name for (name, proto), port in SERVICES.items()
}

_SAFE_CHARS = frozenset("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def save_string(value: str) -> str:
    """Quote like xtables_save_string(): bare when only [A-Za-z0-9_-], else in double quotes
    with `"`, `\\` and `'` escaped by a backslash."""
    if value and all(ch in _SAFE_CHARS for ch in value):
        return value
    escaped = "".join("\\" + ch if ch in "\"\\'" else ch for ch in value)
    return f'"{escaped}"'


def split_line(line: str) -> list[str]:
    """Split one iptables-restore line into argv as add_param_to_argv() (xshared.c) does:
    whitespace separates, double quotes group, a backslash escapes only inside quotes."""
    if '"' not in line:
        return line.split()  # the common case, and the same split
    args: list[str] = []
    buf: list[str] = []
    quoted = escaped = started = False
    for ch in line:
        if quoted:
            if escaped:
                buf.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            else:
                buf.append(ch)
        elif ch == '"':
            quoted = started = True
        elif ch in " \t\n\r":
            if buf or started:
                args.append("".join(buf))
            buf, started = [], False
        else:
            buf.append(ch)
    if buf or started:  # an unterminated quote runs to the end of the line, as in xshared.c
        args.append("".join(buf))
    return args


def parse_ipv4(text: str) -> ipaddress.IPv4Address:
    """A dotted-quad IPv4 address, or iptables' `host/network ... not found`."""
    try:
        if text.count(".") != 3:
            raise ValueError(text)
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise param(f"host/network `{text}' not found") from None


def parse_network(text: str) -> ipaddress.IPv4Network:
    """`a.b.c.d`, `a.b.c.d/len` or `a.b.c.d/mask` -> the network iptables stores (host bits
    cleared, as xtables_ipparse_any() does)."""
    addr, _, mask = text.partition("/")
    ip = parse_ipv4(addr)
    if not mask:
        return ipaddress.IPv4Network(f"{ip}/32")
    if mask.isdigit():
        if int(mask) > 32:
            raise param(f"invalid mask `{mask}' specified")
        return ipaddress.IPv4Network(f"{ip}/{int(mask)}", strict=False)
    try:
        return ipaddress.IPv4Network(f"{ip}/{parse_ipv4(mask)}", strict=False)
    except (ValueError, IptablesError):
        raise param(f"invalid mask `{mask}' specified") from None


def format_network(net: ipaddress.IPv4Network) -> str:
    """As iptables-save prints an address: always with a prefix length (`/32` added)."""
    return f"{net.network_address}/{net.prefixlen}"


def format_network_list(net: ipaddress.IPv4Network) -> str:
    """As `iptables -L -n` prints an address: `/32` omitted, `0.0.0.0/0` kept."""
    if net.prefixlen == 32:
        return str(net.network_address)
    return f"{net.network_address}/{net.prefixlen}"


def parse_port(text: str, proto: str | None = None) -> int:
    """A port number or a service name of `proto` (any protocol when None), as
    xtables_parse_port() resolves it with getservbyname(3)."""
    if text.isdigit() and int(text) <= 65535:
        return int(text)
    for (name, service_proto), port in SERVICES.items():
        if name == text and proto in (None, service_proto):
            return port
    raise param(f"invalid port/service `{text}' specified")


def parse_port_range(text: str, proto: str | None = None) -> tuple[int, int]:
    """`p`, `p:q`, `p:` (to 65535) or `:q` (from 0), as the tcp/udp matches take them."""
    if ":" not in text:
        port = parse_port(text, proto)
        return port, port
    low, _, high = text.partition(":")
    first = parse_port(low, proto) if low else 0
    last = parse_port(high, proto) if high else 65535
    if first > last:
        raise param("invalid portrange (min > max)")
    return first, last


def parse_proto(text: str) -> int:
    """`-p` value: a name from the protocol table or a number 0..255."""
    lowered = text.lower()
    if lowered in PROTO_NUMBERS:
        return PROTO_NUMBERS[lowered]
    if text.isdigit() and int(text) <= 255:
        return int(text)
    raise param(f'unknown protocol "{text}" specified')


def proto_name(number: int) -> str:
    """How iptables-save spells a protocol number."""
    return PROTO_NAMES.get(number, str(number))


def parse_uint32(text: str, module: str, option: str) -> int:
    """An unsigned 32-bit integer as strtoul(base 0) reads it: decimal, 0x-hex or 0-octal."""
    digits, base = text, 10
    if text[:2].lower() == "0x":
        digits, base = text[2:], 16
    elif len(text) > 1 and text.startswith("0"):
        digits, base = text[1:], 8
    valid = "0123456789abcdefABCDEF"[: base + (6 if base == 16 else 0)]
    if not digits or any(ch not in valid for ch in digits) or int(digits, base) > 0xFFFFFFFF:
        raise ext_param(f'{module}: bad integer value for option "{option}", or out of range.')
    return int(digits, base)


def parse_mark(text: str, module: str, option: str) -> tuple[int, int]:
    """`value[/mask]` as the mark match and MARK target take it; mask defaults to all ones."""
    value, slash, mask = text.partition("/")
    if slash and not mask:
        raise ext_param(f'{module}: bad integer value for option "{option}", or out of range.')
    number = parse_uint32(value, module, option)
    return number, parse_uint32(mask, module, option) if slash else 0xFFFFFFFF


def wildcard_iface(pattern: str, name: str | None) -> bool:
    """Does interface `name` match `pattern` (a trailing `+` is a prefix wildcard)?"""
    if name is None:
        return False
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return name == pattern

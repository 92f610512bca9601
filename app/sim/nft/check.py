"""What nft checks in a parsed rule before it reaches the kernel: selectors it knows, values of
the right type for each selector (nft's datatypes: ipv4_addr, inet_proto, inet_service, mark,
ct_state, fib_addrtype), concatenations of matching length, verdicts, NAT targets.

`check_stmt` raises NftError with nft's wording (`Error: Could not parse ...`,
`Error: syntax error, ...`)."""

from __future__ import annotations

import ipaddress

from app.sim.nft.model import NftError, Stmt

FIELDS = {
    "ip": ("saddr", "daddr"),
    "ip6": ("saddr", "daddr"),
    "meta": ("l4proto", "mark"),
    "th": ("sport", "dport"),
    "tcp": ("sport", "dport"),
    "udp": ("sport", "dport"),
    "ct": ("state",),
    "fib": ("saddr", "daddr"),
}
PROTOCOLS = ("tcp", "udp", "sctp", "icmp", "icmpv6")
CT_STATES = ("new", "established", "related", "invalid", "untracked")
FIB_TYPES = (
    "local",
    "unicast",
    "broadcast",
    "anycast",
    "multicast",
    "blackhole",
    "unreachable",
    "prohibit",
    "unspec",
)
VERDICT_WORDS = ("accept", "drop", "reject", "return", "continue")


def check_selector(selector: str) -> None:
    words = selector.split(" ")
    if words[0] == "numgen":
        if int(words[3]) < 1:
            raise NftError("Error: numgen modulus must be greater than zero")
        return
    if words[0] == "meta" and words[1:] == ["mark"]:
        return
    if len(words) < 2 or words[1] not in FIELDS.get(words[0], ()):
        raise NftError(f"Error: syntax error, unexpected {words[-1]} after {words[0]}")


def _number(text: str, bits: int, what: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise NftError(f"Error: Could not parse {what}: {text}") from None
    if not 0 <= value < 1 << bits:
        raise NftError(f"Error: Value {text} exceeds valid range 0-{(1 << bits) - 1}")
    return value


def check_value(selector: str, value: str) -> None:
    """One value (a set element component) against its selector's datatype."""
    last = selector.rpartition(" ")[2]
    if selector.endswith(("saddr", "daddr")) and not selector.startswith("fib"):
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise NftError(f"Error: Could not resolve hostname: {value}") from None
    elif last in ("dport", "sport") or selector.startswith("numgen"):
        _number(value, 16 if last.endswith("port") else 32, "integer")
    elif selector == "meta l4proto":
        if value not in PROTOCOLS:
            _number(value, 8, "inet_proto")
    elif selector == "meta mark":
        _number(value, 32, "mark")
    elif selector == "ct state":
        if not value or any(v not in CT_STATES for v in value.split(",")):
            raise NftError(f"Error: Could not parse conntrack state: {value}")
    elif selector.startswith("fib") and value not in FIB_TYPES:
        raise NftError(f"Error: Could not parse fib address type: {value}")


def check_verdict(verdict: str) -> None:
    word, _, target = verdict.partition(" ")
    if word in ("jump", "goto") and target and " " not in target:
        return
    if word in VERDICT_WORDS and not target:
        return
    raise NftError(f"Error: syntax error, unexpected {verdict or 'end of file'}")


def check_stmt(stmt: Stmt) -> None:
    """Raise NftError when nft would refuse the statement."""
    for selector in stmt.key:
        check_selector(selector)
    if stmt.op == "match":
        _check_match(stmt)
    elif stmt.op == "vmap":
        for value, verdict in stmt.mapping:
            check_value(stmt.key[0], value) if len(stmt.key) == 1 else None
            check_verdict(verdict)
    elif stmt.op == "verdict":
        check_verdict(stmt.verdict)
    elif stmt.op == "mark":
        _number(stmt.value[0], 32, "mark")
    elif stmt.op == "dnat":
        address, port = stmt.value
        check_value("ip daddr", address)
        if port:
            _number(port, 16, "port")


def _check_match(stmt: Stmt) -> None:
    if stmt.mask:
        _number(stmt.mask, 32, "mask")
        _number(stmt.value[0], 32, "value")
        return
    items = stmt.anon if stmt.anon or not stmt.value else (stmt.value,)
    if not items and not stmt.ref:
        raise NftError("Error: syntax error, empty set")
    for item in items:
        if len(item) != len(stmt.key):
            raise NftError("Error: datatype mismatch, concatenation has the wrong length")
        for selector, value in zip(stmt.key, item, strict=True):
            check_value(selector, value)

"""IP address parsing and formatting with kube-proxy's rules.

Kubernetes still accepts IPv4 literals with leading zeros in old objects ("172.30.0.041"),
and kube-proxy reads them with `netutils.ParseIPSloppy`, which takes each octet as a
*decimal* number (k8s.io/utils/net/ipnet.go). Python's `ipaddress` rejects leading zeros,
so octets are normalised here first. Output is always the canonical form Go prints.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressError(ValueError):
    """A value that is not an IP address or CIDR, even read leniently."""


def _desloppify_v4(text: str) -> str:
    """'010.001.0.09' -> '10.1.0.9'; anything that is not a dotted quad is left alone."""
    parts = text.split(".")
    if len(parts) == 4 and all(p.isdigit() and p for p in parts):
        return ".".join(str(int(p)) for p in parts)
    return text


def parse_ip(text: str) -> IPAddress:
    """Parse an address leniently (leading zeros, surrounding blanks)."""
    raw = str(text).strip()
    try:
        # The common case, a canonical dotted quad, read by libc (ipaddress parses each octet
        # in Python; a cluster of 100,000 endpoints notices). inet_pton refuses leading zeros,
        # so those still take the lenient path below.
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, raw))
    except OSError:
        pass
    try:
        return ipaddress.ip_address(_desloppify_v4(raw))
    except ValueError:
        raise AddressError(f"invalid IP address {text!r}") from None


def parse_cidr(text: str) -> IPNetwork:
    """Parse a CIDR leniently: blanks trimmed, leading zeros in octets and prefix length,
    host bits allowed (Go's ParseCIDRSloppy keeps the network, as kube-proxy prints it)."""
    raw = str(text).strip()
    addr, sep, length = raw.partition("/")
    if not sep or not length.isdigit():
        raise AddressError(f"invalid CIDR {text!r}")
    try:
        return ipaddress.ip_network(f"{_desloppify_v4(addr)}/{int(length)}", strict=False)
    except ValueError:
        raise AddressError(f"invalid CIDR {text!r}") from None


def family_of(ip: IPAddress | IPNetwork) -> str:
    """'IPv4' or 'IPv6', the spelling of Kubernetes' IPFamily."""
    return "IPv4" if ip.version == 4 else "IPv6"


def join_host_port(ip: str, port: int) -> str:
    """Go's net.JoinHostPort: IPv6 addresses are bracketed."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

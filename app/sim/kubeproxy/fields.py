"""Reading the fields of a cluster description (plain dicts from YAML or the cluster model).

Each reader either returns a value of the expected type or raises `StateError` naming the
field and what was wrong, so no malformed file ends in a Python traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.sim.kubeproxy.ips import AddressError, IPAddress, IPNetwork, parse_cidr, parse_ip

PROTOCOLS = ("TCP", "UDP", "SCTP")  # v1.Protocol values kube-proxy handles


class StateError(ValueError):
    """The cluster description cannot be read; the message says which field and why."""


def mapping(value: Any, what: str) -> Mapping[str, Any]:
    """A mapping; None (field absent or empty) reads as {}."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise StateError(f"{what}: expected a mapping, got {value!r}")
    return value


def mappings(value: Any, what: str) -> list[Mapping[str, Any]]:
    """A list of mappings; None reads as []."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise StateError(f"{what}: expected a list of mappings")
    return value


def strings(value: Any, what: str) -> list[str]:
    """A list of strings (numbers are taken as written); None reads as []."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise StateError(f"{what}: expected a list of strings, got {value!r}")
    return [str(v) for v in value if not isinstance(v, bool)]


def text(value: Any, what: str, default: str = "") -> str:
    """A string (or a number, taken as written); None reads as `default`."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise StateError(f"{what}: expected a string, got {value!r}")
    return str(value)


def flag(value: Any, what: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise StateError(f"{what}: expected true or false, got {value!r}")
    return value


def integer(value: Any, what: str, low: int = 0, high: int = 65535) -> int:
    """An integer in [low, high]; None reads as 0 (which must then be allowed)."""
    number = 0 if value is None else value
    if isinstance(number, bool) or not isinstance(number, int | str):
        raise StateError(f"{what}: expected an integer, got {value!r}")
    try:
        number = int(number)
    except ValueError:
        raise StateError(f"{what}: expected an integer, got {value!r}") from None
    if not low <= number <= high:
        raise StateError(f"{what}: {number} is out of range {low}-{high}")
    return number


def protocol(value: Any, what: str) -> str:
    """TCP, UDP or SCTP (default TCP), returned lower case as kube-proxy writes it."""
    name = text(value, what, "TCP")
    if name not in PROTOCOLS:
        raise StateError(f"{what}: unsupported protocol {name!r} (TCP, UDP, SCTP)")
    return name.lower()


def address(value: Any, what: str) -> IPAddress:
    try:
        return parse_ip(text(value, what))
    except AddressError as err:
        raise StateError(f"{what}: {err}") from None


def network(value: Any, what: str) -> IPNetwork:
    try:
        return parse_cidr(text(value, what))
    except AddressError as err:
        raise StateError(f"{what}: {err}") from None

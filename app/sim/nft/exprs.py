"""Evaluating statements against a packet: selector values, comparisons, set and map lookups.

Shared by the packet engine (`engine.py`) and the upstream-style flow tracer (`flows.py`);
each supplies an `Env` that answers what the kernel expressions read (nft(8), EXPRESSIONS):
payload (`ip daddr`, `th dport`), meta (`meta l4proto`, `meta mark`), conntrack (`ct state`),
routing (`fib daddr type`) and `numgen`. A named set is looked up by its exact key first, as
the kernel's hash sets do; interval sets and anonymous sets also match by prefix.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Protocol

from app.sim.nft.model import NftSet, Stmt, Table


class Env(Protocol):
    """What a statement may read about the packet."""

    src: str
    dst: str
    proto: str
    sport: int
    dport: int
    mark: int
    ctstate: str
    now: float

    def fib_type(self, address: str) -> str: ...

    def numgen(self, modulus: int) -> int: ...


@dataclass
class Failed:
    """Why a rule did not match: the first statement that failed, as listed text."""

    stmt: Stmt | None = None
    notes: list[str] = field(default_factory=list)


def value_of(selector: str, env: Env) -> str:
    """A selector's value for this packet, as a canonical string."""
    field_name = selector.rpartition(" ")[2]
    if selector in ("ip daddr", "ip6 daddr"):
        return env.dst
    if selector in ("ip saddr", "ip6 saddr"):
        return env.src
    if selector == "meta l4proto":
        return env.proto
    if field_name == "dport":
        return str(env.dport)
    if field_name == "sport":
        return str(env.sport)
    if selector == "meta mark":
        return str(env.mark)
    if selector == "ct state":
        return env.ctstate.lower()
    if selector == "fib daddr type":
        return env.fib_type(env.dst)
    if selector == "fib saddr type":
        return env.fib_type(env.src)
    if selector.startswith("numgen random mod "):
        return str(env.numgen(int(selector.rsplit(" ", 1)[1])))
    raise ValueError(f"unsupported selector {selector}")


def _protocol_ok(selector: str, env: Env) -> bool:
    """`tcp dport` carries an implicit `meta l4proto tcp` (payload dependency)."""
    head = selector.split(" ", 1)[0]
    return head not in ("tcp", "udp") or env.proto == head


def key_of(stmt: Stmt, env: Env) -> tuple[str, ...] | None:
    if not all(_protocol_ok(s, env) for s in stmt.key):
        return None
    return tuple(value_of(s, env) for s in stmt.key)


def component_matches(pattern: str, value: str, selector: str) -> bool:
    """One value against one element component: prefixes for addresses, lists for ct state,
    numbers for marks."""
    if pattern == value:
        return True
    if "/" in pattern:
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return False
    if selector == "ct state":
        return value in pattern.split(",")
    if selector == "meta mark" or pattern.startswith("0x"):
        try:
            return int(pattern, 0) == int(value, 0)
        except ValueError:
            return False
    if selector.endswith(("daddr", "saddr")):
        try:
            return ipaddress.ip_address(pattern) == ipaddress.ip_address(value)
        except ValueError:
            return False
    return False


def tuple_matches(pattern: tuple[str, ...], key: tuple[str, ...], selectors: tuple) -> bool:
    return len(pattern) == len(key) and all(
        component_matches(p, v, s) for p, v, s in zip(pattern, key, selectors, strict=False)
    )


def set_lookup(nft_set: NftSet, key: tuple[str, ...], selectors: tuple, now: float):
    """The element `key` hits in a named set or map, or None."""
    element = nft_set.elements.get(key)
    if element is None and nft_set.has_intervals:
        element = next(
            (e for e in nft_set.elements.values() if tuple_matches(e.key, key, selectors)), None
        )
    if element is None:
        return None
    expires = nft_set.expires.get(element.key)
    if expires is not None and expires <= now:
        return None
    return element


def matches(stmt: Stmt, env: Env, table: Table) -> bool:
    """A `match` statement against the packet."""
    key = key_of(stmt, env)
    if key is None:
        return False
    if stmt.mask:
        hit = (int(key[0]) & int(stmt.mask, 0)) == int(stmt.value[0], 0)
    elif stmt.ref:
        hit = set_lookup(table.set(stmt.ref), key, stmt.key, env.now) is not None
    elif stmt.anon:
        hit = any(tuple_matches(item, key, stmt.key) for item in stmt.anon)
    else:
        hit = tuple_matches(stmt.value, key, stmt.key)
    return hit != stmt.neg


def vmap_verdict(stmt: Stmt, env: Env, table: Table) -> str | None:
    """The verdict a `vmap` picks for the packet, or None when the key is not in the map."""
    key = key_of(stmt, env)
    if key is None:
        return None
    if stmt.ref:
        element = set_lookup(table.set(stmt.ref), key, stmt.key, env.now)
        return element.verdict if element is not None else None
    joined = ".".join(key)
    return next((verdict for value, verdict in stmt.mapping if value == joined), None)

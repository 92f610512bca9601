"""Rule text -> statements, and statements -> the text `nft list` prints (nft 1.0.6).

Accepts both spellings of the kube-proxy subset: knftables' (`mark set mark or 0x4000`,
`ip daddr { 172.30.0.0/16 }`, `vmap { 0 : goto A , 1 : goto B }`) and nft's listing
(`meta mark set meta mark | 0x00004000`, `ip daddr 172.30.0.0/16`). Selectors (nft(8),
EXPRESSIONS): `ip|ip6 saddr|daddr`, `meta l4proto|mark`, `mark`, `th|tcp|udp dport|sport`,
`ct state`, `fib saddr|daddr type`, `numgen random mod N`.
"""

from __future__ import annotations

import re

from app.sim.nft.check import check_stmt
from app.sim.nft.model import NftError, Stmt

_TOKEN = re.compile(r'"[^"]*"|[{},;]|[^\s{},;"]+')
VERDICTS = ("accept", "drop", "reject", "return", "continue")
# Selector words: the first word and how many more words complete it.
_SELECTORS = {
    "ip": 1,
    "ip6": 1,
    "meta": 1,
    "th": 1,
    "tcp": 1,
    "udp": 1,
    "ct": 1,
    "fib": 1,
}
_MARK_OPS = {"or": "|", "|": "|", "xor": "^", "^": "^", "and": "&", "&": "&"}


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def unquote(token: str) -> str:
    return token[1:-1] if token.startswith('"') and token.endswith('"') else token


class _Reader:
    """A cursor over tokens with nft-style error messages."""

    def __init__(self, tokens: list[str], text: str) -> None:
        self.tokens, self.pos, self.text = tokens, 0, text

    def peek(self, ahead: int = 0) -> str | None:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise NftError(f"Error: syntax error, unexpected end of file: {self.text}")
        self.pos += 1
        return token

    def expect(self, word: str) -> None:
        token = self.take()
        if token != word:
            raise NftError(f"Error: syntax error, unexpected {token}, expecting {word}")


def parse_rule(text: str) -> tuple[tuple[Stmt, ...], str | None]:
    """Statements and comment of one rule's text (after the chain name)."""
    reader = _Reader(tokenize(text), text)
    stmts: list[Stmt] = []
    comment = None
    while reader.peek() is not None:
        token = reader.peek()
        if token == "comment":
            reader.take()
            comment = unquote(reader.take())
        else:
            stmts.append(_statement(reader))
    if not stmts:
        raise NftError(f"Error: syntax error, rule has no statement: {text}")
    for stmt in stmts:
        check_stmt(stmt)
    return tuple(stmts), comment


def _statement(r: _Reader) -> Stmt:
    token = r.take()
    if token in VERDICTS:
        return Stmt("verdict", verdict=token)
    if token in ("jump", "goto"):
        return Stmt("verdict", verdict=f"{token} {r.take()}")
    if token == "counter":
        while r.peek() in ("packets", "bytes"):
            r.take(), r.take()
        return Stmt("counter")
    if token == "masquerade":
        flags = r.take().split(",") if r.peek() in ("fully-random", "random", "persistent") else []
        return Stmt("masquerade", flags=tuple(flags))
    if token == "dnat":
        return _dnat(r)
    if token in ("update", "add"):
        ref = r.take()
        r.expect("{")
        key = _key(r)
        r.expect("}")
        return Stmt("update", ref=ref.lstrip("@"), key=key)
    r.pos -= 1
    key = _key(r)
    if r.peek() == "set" and key == ("meta mark",):
        return _mark_set(r)
    return _after_key(r, key)


def _dnat(r: _Reader) -> Stmt:
    if r.peek() in ("ip", "ip6"):
        r.take()
    if r.peek() == "to":
        r.take()
    target = r.take()
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([0-9.]+)(?::(\d+))?", target)
    if not m:
        raise NftError(f"Error: syntax error, bad dnat target {target}")
    address = m.group(1) or m.group(3)
    port = m.group(2) or m.group(4) or ""
    return Stmt("dnat", value=(address, port))


def _key(r: _Reader) -> tuple[str, ...]:
    """Selectors joined by `.` (a concatenation)."""
    parts = [_selector(r)]
    while r.peek() == ".":
        r.take()
        parts.append(_selector(r))
    return tuple(parts)


def _selector(r: _Reader) -> str:
    first = r.take()
    if first == "mark":
        return "meta mark"
    if first == "numgen":
        words = [r.take() for _ in range(3)]
        if words[0] != "random" or words[1] != "mod" or not words[2].isdigit():
            raise NftError("Error: syntax error, expected numgen random mod N")
        return f"numgen random mod {words[2]}"
    if first not in _SELECTORS:
        raise NftError(f"Error: syntax error, unexpected {first}")
    words = [first] + [r.take() for _ in range(_SELECTORS[first])]
    if first == "fib":
        r.expect("type")
        return f"fib {words[1]} type"
    return " ".join(words)


def _mark_set(r: _Reader) -> Stmt:
    r.expect("set")
    if r.peek() in ("mark", "meta"):
        _selector(r)
        op = _MARK_OPS.get(r.take())
        if op is None:
            raise NftError("Error: syntax error in mark set")
        return Stmt("mark", mark_op=op, value=(r.take(),))
    return Stmt("mark", mark_op="=", value=(r.take(),))


def _after_key(r: _Reader, key: tuple[str, ...]) -> Stmt:
    token = r.peek()
    if token == "vmap":
        r.take()
        if r.peek() == "{":
            return Stmt("vmap", key=key, mapping=_mapping(r))
        return Stmt("vmap", key=key, ref=r.take().lstrip("@"))
    mask = ""
    if token in ("and", "&"):
        r.take()
        mask = r.take()
    neg = False
    if r.peek() in ("==", "!="):
        neg = r.take() == "!="
    token = r.peek()
    if token is not None and token.startswith("@"):
        return Stmt("match", key=key, neg=neg, ref=r.take()[1:], mask=mask)
    if token == "{":
        return Stmt("match", key=key, neg=neg, anon=_anon_set(r), mask=mask)
    return Stmt("match", key=key, neg=neg, value=_value(r), mask=mask)


def _value(r: _Reader) -> tuple[str, ...]:
    parts = [r.take()]
    while r.peek() == ".":
        r.take()
        parts.append(r.take())
    return tuple(parts)


def _anon_set(r: _Reader) -> tuple[tuple[str, ...], ...]:
    r.expect("{")
    items: list[tuple[str, ...]] = []
    while r.peek() != "}":
        items.append(_value(r))
        if r.peek() == ",":
            r.take()
    r.take()
    return tuple(items)


def _mapping(r: _Reader) -> tuple[tuple[str, str], ...]:
    r.expect("{")
    items: list[tuple[str, str]] = []
    while r.peek() != "}":
        value = ".".join(_value(r))
        r.expect(":")
        verdict = r.take()
        if verdict in ("jump", "goto"):
            verdict = f"{verdict} {r.take()}"
        items.append((value, verdict))
        if r.peek() == ",":
            r.take()
    r.take()
    return tuple(items)


# --- the listing ------------------------------------------------------------------------
def hex32(value: str) -> str:
    """Marks as nft prints them: `0x%08x` (datatype.c, mark_type is hex, 32 bits)."""
    return f"0x{int(value, 0):08x}"


def list_stmt(stmt: Stmt) -> str:
    """One statement as `nft list` prints it."""
    key = " . ".join(stmt.key)
    if stmt.op == "match":
        return _list_match(stmt, key)
    if stmt.op == "vmap":
        if stmt.ref:
            return f"{key} vmap @{stmt.ref}"
        body = ", ".join(f"{k} : {v}" for k, v in stmt.mapping)
        return f"{key} vmap {{ {body} }}"
    if stmt.op == "verdict":
        return stmt.verdict
    if stmt.op == "mark":
        if stmt.mark_op == "=":
            return f"meta mark set {hex32(stmt.value[0])}"
        return f"meta mark set meta mark {stmt.mark_op} {hex32(stmt.value[0])}"
    if stmt.op == "dnat":
        address, port = stmt.value
        where = f"[{address}]" if ":" in address and port else address
        return f"dnat to {where}:{port}" if port else f"dnat to {where}"
    if stmt.op == "masquerade":
        return " ".join(["masquerade", ",".join(stmt.flags)]).strip()
    if stmt.op == "update":
        return f"update @{stmt.ref} {{ {key} }}"
    return "counter packets 0 bytes 0"


def _list_match(stmt: Stmt, key: str) -> str:
    if stmt.mask:
        value = hex32(stmt.value[0]) if stmt.key == ("meta mark",) else stmt.value[0]
        op = "!= " if stmt.neg else "== "
        return f"{key} & {hex32(stmt.mask)} {op}{value}"
    op = "!= " if stmt.neg else ""
    if stmt.ref:
        return f"{key} {op}@{stmt.ref}"
    if stmt.anon:
        items = [" . ".join(v) for v in stmt.anon]
        # nft turns a one-element anonymous set into a plain comparison (evaluate.c).
        if len(items) == 1:
            return f"{key} {op}{items[0]}"
        return f"{key} {op}{{ {', '.join(items)} }}"
    value = " . ".join(stmt.value)
    if stmt.key == ("meta mark",):
        value = hex32(value)
    return f"{key} {op}{value}"


def list_rule(stmts: tuple[Stmt, ...], comment: str | None) -> str:
    """A rule as `nft list` prints it (counters as `counter packets P bytes B` are the
    caller's: they need the rule's numbers)."""
    text = " ".join(list_stmt(s) for s in stmts)
    return f'{text} comment "{comment}"' if comment is not None else text

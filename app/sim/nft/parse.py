"""Commands -> model: knftables' `add|flush|delete ... ip kube-proxy ...` lines (the fake's
Dump format and what knftables hands to `nft -f`) and nft's block syntax
(`table ip kube-proxy { chain x { type ...; rules } }`, i.e. `nft list` output).

`apply_line(ruleset, line)` runs one command; `parse_commands(text)` and `parse_blocks(text)`
build a fresh `Ruleset`. Errors are `NftError` with nft's wording where it has one.
"""

from __future__ import annotations

import ipaddress
import re

from app.sim.nft.model import (
    STD_PRIORITIES,
    Element,
    NftChain,
    NftError,
    NftSet,
    Rule,
    Ruleset,
    Table,
)
from app.sim.nft.syntax import parse_rule, tokenize, unquote

FAMILIES = ("ip", "ip6", "inet")
_DURATION = re.compile(r"(\d+)(d|h|m|s|ms)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


def parse_commands(text: str) -> Ruleset:
    """A ruleset from `add ...` lines (blank lines and `#` comments skipped)."""
    ruleset = Ruleset()
    for line in text.splitlines():
        apply_line(ruleset, line)
    return ruleset


def apply_line(ruleset: Ruleset, line: str) -> None:
    line = line.strip()
    if not line or line.startswith("#"):
        return
    words = line.split(None, 4)
    if len(words) < 4 or words[0] not in ("add", "create", "flush", "delete", "insert"):
        raise NftError(f"Error: syntax error, unexpected {words[0]}: {line}")
    verb, kind, family, name = words[0], words[1], words[2], words[3]
    rest = words[4] if len(words) > 4 else ""
    if family not in FAMILIES:
        raise NftError(f"Error: syntax error, unexpected {family}")
    if kind != "table" and kind not in _OBJECT_COMMANDS:  # `add -a ...`, `add rules ...`
        raise NftError(f"Error: syntax error, unexpected {kind}")
    if kind == "table":
        _table_cmd(ruleset, verb, family, name, rest)
        return
    table = ruleset.table(family, name)
    obj, _, body = rest.partition(" ")
    if not obj:
        raise NftError(f"Error: syntax error, missing {kind} name: {line}")
    _OBJECT_COMMANDS[kind](table, verb, obj, body.strip())


def _table_cmd(ruleset: Ruleset, verb: str, family: str, name: str, rest: str) -> None:
    key = (family, name)
    if verb == "delete":
        ruleset.table(family, name)
        del ruleset.tables[key]
        return
    if verb == "flush":
        table = ruleset.table(family, name)
        for chain in table.chains.values():
            chain.rules.clear()
        return
    table = ruleset.tables.setdefault(key, Table(family, name))
    spec = _spec(rest)
    if "comment" in spec:
        table.comment = spec["comment"]


def _spec(body: str) -> dict[str, str]:
    """`{ type x ; flags a,b ; comment "c" ; }` -> {"type": "x", ...}."""
    body = body.strip()
    if not body:
        return {}
    if not (body.startswith("{") and body.endswith("}")):
        raise NftError(f"Error: syntax error, unexpected {body}")
    spec: dict[str, str] = {}
    for part in _split_semicolons(body[1:-1]):
        word, _, value = part.strip().partition(" ")
        if word:
            spec[word] = unquote(value.strip())
    return spec


def _split_semicolons(text: str) -> list[str]:
    parts, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _chain_cmd(table: Table, verb: str, name: str, body: str) -> None:
    if verb == "delete":
        chain = table.chain(name)
        if _referenced(table, name):
            raise NftError(f"Error: Could not process rule: Device or resource busy; {name}")
        del table.chains[chain.name]
        return
    if verb == "flush":
        table.chain(name).rules.clear()
        return
    if name in table.chains:
        return  # `add chain` of an existing chain is a no-op (nft(8): add vs create)
    chain = NftChain(name, handle=table.take_handle())
    spec = _spec(body)
    chain.comment = spec.get("comment")
    if "type" in spec:
        chain.type, chain.hook, chain.priority = _base(spec["type"])
        chain.policy = spec.get("policy", "accept")
    table.chains[name] = chain


def _base(text: str) -> tuple[str, str, int]:
    """`filter hook prerouting priority dstnat - 10` -> ("filter", "prerouting", -110)."""
    m = re.fullmatch(r"(\w+) hook (\w+) priority (.+)", text.strip())
    if not m:
        raise NftError(f"Error: syntax error, bad chain type: {text}")
    return m.group(1), m.group(2), parse_priority(m.group(3))


def parse_priority(text: str) -> int:
    names = dict(STD_PRIORITIES)
    m = re.fullmatch(r"\s*(-?\d+|[a-z]+)\s*(?:([+-])\s*(\d+))?\s*", text)
    if not m or (not m.group(1).lstrip("-").isdigit() and m.group(1) not in names):
        raise NftError(f"Error: unknown chain priority: {text}")
    base = int(m.group(1)) if m.group(1).lstrip("-").isdigit() else names[m.group(1)]
    offset = int(m.group(3) or 0) * (-1 if m.group(2) == "-" else 1)
    return base + offset


def _referenced(table: Table, name: str) -> bool:
    target = (f"jump {name}", f"goto {name}")
    for chain in table.chains.values():
        for rule in chain.rules:
            for stmt in rule.stmts:
                if stmt.verdict in target or any(v in target for _, v in stmt.mapping):
                    return True
    return any(e.verdict in target for s in table.sets.values() for e in s.elements.values())


def _set_cmd(table: Table, verb: str, name: str, body: str, is_map: bool = False) -> None:
    if verb == "delete":
        table.set(name)
        del table.sets[name]
        return
    if verb == "flush":
        table.set(name).elements.clear()
        return
    if name in table.sets:
        return
    spec = _spec(body)
    key, _, data = spec.get("type", "").partition(" : ")
    if not key:
        raise NftError(f"Error: set {name} needs a type")
    table.sets[name] = NftSet(
        name,
        tuple(k.strip() for k in key.split(" . ")),
        is_map=is_map,
        data_type=data.strip() or None,
        flags=tuple(f for f in spec.get("flags", "").split(",") if f),
        timeout=parse_duration(spec["timeout"]) if "timeout" in spec else None,
        size=int(spec["size"]) if "size" in spec else None,
        comment=spec.get("comment"),
        handle=table.take_handle(),
    )


def parse_duration(text: str) -> int:
    """`10800s`, `3h`, `1h30m` -> seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise NftError(f"Error: wrong time format: {text}")
    return int(sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))


def _map_cmd(table: Table, verb: str, name: str, body: str) -> None:
    _set_cmd(table, verb, name, body, is_map=True)


def _element_cmd(table: Table, verb: str, name: str, body: str) -> None:
    target = table.set(name)
    for element in parse_elements(body):
        if element.verdict and element.verdict.startswith(("jump ", "goto ")):
            table.chain(element.verdict.split(" ", 1)[1])
        if verb == "delete":
            if element.key not in target.elements:
                raise NftError(f"Error: Could not process rule: No such file or directory; {name}")
            del target.elements[element.key]
        else:
            target.elements[element.key] = element


def parse_elements(body: str) -> list[Element]:
    """`{ 1.2.3.4 . tcp . 80 comment "x" : goto c , ... }` -> elements."""
    tokens = tokenize(body)
    if not tokens or tokens[0] != "{" or tokens[-1] != "}":
        raise NftError(f"Error: syntax error, expected {{ elements }}: {body}")
    elements, current = [], []
    for token in [*tokens[1:-1], ","]:
        if token == ",":
            if current:
                elements.append(_element(current))
            current = []
        else:
            current.append(token)
    return elements


def _element(tokens: list[str]) -> Element:
    verdict = None
    if ":" in tokens:
        i = tokens.index(":")
        verdict = " ".join(tokens[i + 1 :])
        tokens = tokens[:i]
    comment = None
    if "comment" in tokens:
        i = tokens.index("comment")
        comment = unquote(tokens[i + 1])
        tokens = tokens[:i]
    key = tuple(canonical(t) for t in tokens if t != ".")
    return Element(key, verdict, comment)


def canonical(value: str) -> str:
    """Element and packet values compare as canonical strings (ports without leading zeros,
    addresses as Python prints them)."""
    if value.isdigit():
        return str(int(value))
    if ":" in value or value.count(".") == 3:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value
    return value


def _rule_cmd(table: Table, verb: str, chain_name: str, body: str) -> None:
    chain = table.chain(chain_name)
    if verb == "delete":
        m = re.fullmatch(r"handle (\d+)", body)
        if not m:
            raise NftError("Error: syntax error, expected handle")
        chain.rules[:] = [r for r in chain.rules if r.handle != int(m.group(1))]
        return
    stmts, comment = parse_rule(body)
    _check_refs(table, stmts)
    rule = Rule(body, stmts, comment, table.take_handle())
    if verb == "insert":
        chain.rules.insert(0, rule)
    else:
        chain.rules.append(rule)


def _check_refs(table: Table, stmts: tuple) -> None:
    """Sets and chains a rule names must exist (nft: `No such file or directory`)."""
    for stmt in stmts:
        if stmt.ref:
            table.set(stmt.ref)
        verdicts = [stmt.verdict, *(v for _, v in stmt.mapping)]
        for verdict in verdicts:
            if verdict.startswith(("jump ", "goto ")):
                table.chain(verdict.split(" ", 1)[1])


_OBJECT_COMMANDS = {
    "chain": _chain_cmd,
    "set": _set_cmd,
    "map": _map_cmd,
    "element": _element_cmd,
    "rule": _rule_cmd,
}


# --- nft's block syntax (`nft -f`, `nft list` output) ----------------------------------------
_HANDLE = re.compile(r"\s*# handle \d+\s*$")
_ORDER = ("table", "set", "map", "chain", "element", "rule")


def parse_ruleset(text: str) -> Ruleset:
    """A ruleset from either syntax (block syntax when any line opens a `table ... {`)."""
    if re.search(r"^\s*table\s+\S+\s+\S+\s*\{", text, re.MULTILINE):
        return parse_blocks(text)
    return parse_commands(text)


def parse_blocks(text: str) -> Ruleset:
    """`table F N { set ... { } chain ... { } }` -> a ruleset, created as nft -f does: the
    table, its sets, its chains, then elements and rules (so forward references work)."""
    commands: list[tuple[int, str]] = []
    lines = [_HANDLE.sub("", ln).strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    i, where = 0, ""
    while i < len(lines):
        line = lines[i]
        m = re.fullmatch(r"table (\S+) (\S+) \{", line)
        if m:
            where = f"{m.group(1)} {m.group(2)}"
            commands.append((0, f"add table {where}"))
        elif line.startswith("comment ") and where:
            commands.append((0, f"add table {where} {{ {line} ; }}"))
        elif re.fullmatch(r"(set|map|chain) \S+ \{", line):
            kind, name = line.split()[:2]
            end = lines.index("}", i)
            body = lines[i + 1 : end]
            commands += (_chain_commands if kind == "chain" else _set_commands)(
                where, kind, name, body
            )
            i = end
        elif line == "}":
            where = ""
        elif line.split(" ", 1)[0] in ("add", "flush", "delete", "insert", "create"):
            commands.append((0, line))
        else:
            raise NftError(f"Error: syntax error, unexpected {line.split(' ', 1)[0]}")
        i += 1
    ruleset = Ruleset()
    for _, command in sorted(commands, key=lambda c: c[0]):
        apply_line(ruleset, command)
    return ruleset


def _set_commands(where: str, kind: str, name: str, body: list[str]) -> list[tuple[int, str]]:
    spec, elements = [], ""
    for j, line in enumerate(body):
        if line.startswith("elements = "):
            elements = " ".join(body[j:])[len("elements = ") :]
            break
        spec.append(line)
    # sets and maps keep their relative order (the listing's creation order)
    out = [(_ORDER.index("set"), f"add {kind} {where} {name} {{ {' ; '.join(spec)} ; }}")]
    if elements:
        out.append((_ORDER.index("element"), f"add element {where} {name} {elements}"))
    return out


def _chain_commands(where: str, kind: str, name: str, body: list[str]) -> list[tuple[int, str]]:
    spec, rules = [], []
    for line in body:
        if line.startswith("type "):
            spec += [part.strip() for part in line.split(";") if part.strip()]
        elif line.startswith("comment ") and not rules and '"' in line:
            spec.append(line)
        else:
            rules.append(line)
    head = f"add chain {where} {name}" + (f" {{ {' ; '.join(spec)} ; }}" if spec else "")
    out = [(_ORDER.index("chain"), head)]
    out += [(_ORDER.index("rule"), f"add rule {where} {name} {rule}") for rule in rules]
    return out

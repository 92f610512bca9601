"""Model -> text: `nft list table|ruleset` as nft 1.0.6 prints it, and knftables' Dump lines.

Listing details that follow nft's source (src/rule.c, src/expression.c, src/mergesort.c):
* sets and maps first, then chains, each in creation order, separated by blank lines;
* a base chain's priority is printed by name when a standard priority valid for its hook is
  within 10 (`dstnat - 10`), else as a number (prio2str, std_prio_family_hook_compat);
* set elements are sorted by value (mergesort.c): a single value by its number, a
  concatenation by its bytes read as one host-endian (little-endian) integer; they wrap two per
  line for addresses, ten per line for ports/protocols/marks, one per line otherwise
  (calculate_delim);
* a dynamic set without a size shows the kernel's default `size 65535`.
"""

from __future__ import annotations

import ipaddress

from app.sim.nft.model import STD_PRIORITIES, Element, NftChain, NftSet, Ruleset, Table
from app.sim.nft.syntax import list_rule

_NEWLINE = ",\n\t\t\t     "
_PROTO_NUMBERS = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1}
_TEN_PER_LINE = ("inet_service", "inet_proto", "mark", "integer")


def list_ruleset(ruleset: Ruleset, *, handles: bool = False) -> str:
    return "".join(list_table(t, handles=handles) for t in ruleset.tables.values())


def list_table(table: Table, *, handles: bool = False) -> str:
    """`nft list table FAMILY NAME` (with `-a` when `handles`)."""
    blocks = [_set_block(s, handles) for s in table.sets.values()]
    blocks += [_chain_block(c, table.family, handles) for c in table.chains.values()]
    head = f"table {table.family} {table.name} {{"
    if table.comment is not None:
        head += f'\n\tcomment "{table.comment}"'
    body = "\n\n".join(blocks)
    return f"{head}\n{body}\n}}\n" if body else f"{head}\n}}\n"


def _set_block(s: NftSet, handles: bool) -> str:
    kind = "map" if s.is_map else "set"
    key = " . ".join(s.key_types)
    lines = [f"\t{kind} {s.name} {{" + (f" # handle {s.handle}" if handles else "")]
    lines.append(f"\t\ttype {key} : {s.data_type}" if s.is_map else f"\t\ttype {key}")
    size = s.size or (65535 if "dynamic" in s.flags else None)
    if size:
        lines.append(f"\t\tsize {size}")
    if s.flags:
        lines.append(f"\t\tflags {','.join(s.flags)}")
    if s.timeout is not None:
        lines.append(f"\t\ttimeout {format_duration(s.timeout)}")
    if s.comment is not None:
        lines.append(f'\t\tcomment "{s.comment}"')
    if s.elements:
        lines.append(f"\t\telements = {{ {_elements(s)} }}")
    return "\n".join([*lines, "\t}"])


def _elements(s: NftSet) -> str:
    items = sorted(s.elements.values(), key=lambda e: sort_value(s.key_types, e.key))
    per_line = 1
    if len(s.key_types) == 1:
        if s.key_types[0] == "ipv4_addr":
            per_line = 2
        elif s.key_types[0] in _TEN_PER_LINE:
            per_line = 10
    out = []
    for i, element in enumerate(items):
        if i:
            out.append(", " if i % per_line else _NEWLINE)
        out.append(_element_text(element))
    return "".join(out)


def _element_text(element: Element) -> str:
    text = " . ".join(element.key)
    if element.comment is not None:
        text += f' comment "{element.comment}"'
    if element.verdict is not None:
        text += f" : {element.verdict}"
    return text


def sort_value(types: tuple[str, ...], key: tuple[str, ...]) -> int:
    """The number nft's mergesort compares (see the module docstring)."""
    parts = [_component_bytes(t, v) for t, v in zip(types, key, strict=False)]
    if len(parts) == 1:
        return int.from_bytes(parts[0], "big")
    return int.from_bytes(b"".join(parts), "little")


def _component_bytes(kind: str, value: str) -> bytes:
    if kind in ("ipv4_addr", "ipv6_addr"):
        address = ipaddress.ip_network(value, strict=False).network_address
        return address.packed
    if kind == "inet_proto":
        number = _PROTO_NUMBERS.get(value, int(value) if value.isdigit() else 0)
        return bytes([number])
    if kind == "inet_service":
        return int(value).to_bytes(2, "big")
    return int(value, 0).to_bytes(4, "big") if value[:1].isdigit() else value.encode()


def format_duration(seconds: int) -> str:
    """nft's time format: `3h`, `1h30m`, `10s`, `1d` (datatype.c time_print)."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def _chain_block(chain: NftChain, family: str, handles: bool) -> str:
    lines = [f"\tchain {chain.name} {{" + (f" # handle {chain.handle}" if handles else "")]
    if chain.comment is not None:
        lines.append(f'\t\tcomment "{chain.comment}"')
    if chain.is_base:
        priority = priority_text(chain.priority, chain.hook or "")
        lines.append(
            f"\t\ttype {chain.type} hook {chain.hook} priority {priority}; policy {chain.policy};"
        )
    for rule in chain.rules:
        text = list_rule(rule.stmts, rule.comment)
        if rule.counts:
            text = text.replace(
                "counter packets 0 bytes 0", f"counter packets {rule.packets} bytes {rule.bytes}"
            )
        lines.append(f"\t\t{text}" + (f" # handle {rule.handle}" if handles else ""))
    return "\n".join([*lines, "\t}"])


def priority_text(priority: int, hook: str) -> str:
    for name, number in STD_PRIORITIES:
        if name == "dstnat" and hook != "prerouting":
            continue
        if name == "srcnat" and hook != "postrouting":
            continue
        offset = priority - number
        if abs(offset) <= 10:
            if offset == 0:
                return name
            return f"{name} {'+' if offset > 0 else '-'} {abs(offset)}"
    return str(priority)


# --- knftables Dump format ------------------------------------------------------------------
def dump(table: Table) -> str:
    """The table as knftables' fake `Dump()` writes it, one `add` command per object, in an
    order `nft -f` can load: table, sets and maps, chains, elements, rules."""
    where = f"{table.family} {table.name}"
    lines = [f"add table {where}" + _spec({"comment": table.comment})]
    elements: list[str] = []
    for s in table.sets.values():
        key = " . ".join(s.key_types)
        spec = {
            "type": f"{key} : {s.data_type}" if s.is_map else key,
            "flags": ",".join(s.flags) or None,
            "timeout": f"{s.timeout}s" if s.timeout is not None else None,
            "comment": s.comment,
        }
        lines.append(f"add {'map' if s.is_map else 'set'} {where} {s.name}" + _spec(spec))
        elements += [
            f"add element {where} {s.name} {{ {_element_text(e)} }}" for e in s.elements.values()
        ]
    rules: list[str] = []
    for chain in table.chains.values():
        chain_spec: dict[str, str | None] = {}
        if chain.is_base:
            chain_spec["type"] = f"{chain.type} hook {chain.hook} priority {chain.priority}"
        chain_spec["comment"] = chain.comment
        lines.append(f"add chain {where} {chain.name}" + _spec(chain_spec))
        rules += [f"add rule {where} {chain.name} {rule.text}" for rule in chain.rules]
    return "\n".join([*lines, *elements, *rules]) + "\n"


def _spec(values: dict[str, str | None]) -> str:
    parts = [f'{k} "{v}" ;' if k == "comment" else f"{k} {v} ;" for k, v in values.items() if v]
    return f" {{ {' '.join(parts)} }}" if parts else ""

"""The canonical order the upstream kube-proxy tests compare restore input in.

kube-proxy writes per-Service blocks in Go map order (random), so its unit tests normalise
the output before diffing (`sortIPTablesRules` in pkg/proxy/iptables/proxier_test.go):

1. tables by name; 2. chain lines: KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-* chains
alphabetically, then the rest alphabetically; 3. rules grouped under their chain in that
order; 4. in KUBE-NODEPORTS and KUBE-SERVICES rules stably sorted by "service name" (the
comment up to its first space or colon), nat KUBE-SERVICES' "must be the last rule" rule last;
5. other chains keep emission order; 6. `-X` lines after all rules, in chain order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SORTED_CHAINS = ("KUBE-NODEPORTS", "KUBE-SERVICES")
LAST_RULE_MARK = "must be the last rule"


@dataclass
class _Table:
    name: str
    chains: list[str] = field(default_factory=list)
    chain_lines: dict[str, str] = field(default_factory=dict)
    rules: dict[str, list[str]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)


def _chain_key(name: str) -> tuple[int, str]:
    if name == "KUBE-NODEPORTS":
        return (0, "")
    if name == "KUBE-SERVICES":
        return (1, "")
    return (2 if name.startswith("KUBE-") else 3, name)


def comment_of(rule: str) -> str:
    """The `--comment` value of a restore line, without quotes ("" if none)."""
    _head, sep, rest = rule.partition("--comment ")
    if not sep:
        return ""
    if rest.startswith('"'):
        return rest[1:].split('"', 1)[0]
    return rest.split(" ", 1)[0]


def service_name(rule: str) -> str:
    """The comment up to its first space or colon: `ns1/svc1` for `"ns1/svc1:p80 cluster IP"`."""
    comment = comment_of(rule)
    for i, ch in enumerate(comment):
        if ch in " :":
            return comment[:i]
    return comment


def _parse(text: str) -> list[_Table]:
    tables: list[_Table] = []
    table: _Table | None = None
    for line in text.splitlines():
        if line.startswith("*"):
            table = _Table(line[1:])
            tables.append(table)
        elif table is None or line == "COMMIT" or not line.strip():
            continue
        elif line.startswith(":"):
            name = line[1:].split()[0]
            if name not in table.chain_lines:
                table.chains.append(name)
            table.chain_lines[name] = line
        elif line.startswith("-X "):
            table.deleted.add(line.split()[1])
        else:
            chain = line.split()[1]
            if chain not in table.chains:  # a rule for a chain the input did not declare
                table.chains.append(chain)
            table.rules.setdefault(chain, []).append(line)
    return tables


def _sort_rules(table: str, chain: str, rules: list[str]) -> list[str]:
    if chain not in SORTED_CHAINS:
        return rules
    if table == "nat" and chain == "KUBE-SERVICES":
        return sorted(rules, key=lambda r: (LAST_RULE_MARK in comment_of(r), service_name(r)))
    return sorted(rules, key=service_name)


def canonical(text: str) -> str:
    """`text` (iptables-restore input) in the upstream tests' canonical order."""
    out: list[str] = []
    for table in sorted(_parse(text), key=lambda t: t.name):
        chains = sorted(table.chains, key=_chain_key)
        out.append(f"*{table.name}")
        out.extend(table.chain_lines[c] for c in chains if c in table.chain_lines)
        for chain in chains:
            out.extend(_sort_rules(table.name, chain, table.rules.get(chain, [])))
        out.extend(f"-X {c}" for c in chains if c in table.deleted)
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""

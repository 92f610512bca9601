"""Small readers of iptables-save text, just enough for the kernel harness.

The harness must not depend on the product's parser (it is what the harness checks), so it
reads the few things it needs itself: which tables a ruleset declares, and where to add the
builtin chains a table block leaves out.
"""

from __future__ import annotations

# iptables(8), TABLES: the builtin chains of each table.
BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}


def tables_of(text: str) -> list[str]:
    """The tables a ruleset declares (`*nat` ...), in order, each once."""
    names = [line.strip()[1:].strip() for line in text.splitlines() if line.strip()[:1] == "*"]
    return list(dict.fromkeys(names))


def _declared_chains(text: str) -> dict[str, set[str]]:
    chains: dict[str, set[str]] = {}
    table = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("*"):
            table = line[1:].strip()
            chains.setdefault(table, set())
        elif line.startswith(":") and table is not None:
            chains[table].add(line[1:].split()[0])
    return chains


def with_builtin_chains(text: str) -> str:
    """The ruleset with every builtin chain of each present table declared (policy ACCEPT
    unless the text gives one).

    iptables-save always prints every builtin chain, and the legacy backend always has them;
    iptables-nft-restore only creates the base chains a block names, so a block that leaves
    one out would lose that chain's policy step. Declaring them keeps the kernel's view equal
    to iptables-save's, which is what the engine models (a table starts with all builtins).
    """
    declared = _declared_chains(text)
    out: list[str] = []
    for line in text.splitlines():
        out.append(line)
        stripped = line.strip()
        if stripped.startswith("*"):
            table = stripped[1:].strip()
            missing = [c for c in BUILTIN_CHAINS.get(table, ()) if c not in declared[table]]
            out.extend(f":{chain} ACCEPT [0:0]" for chain in missing)
    return "\n".join(out) + "\n"

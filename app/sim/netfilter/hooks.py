"""Which (table, chain) run at each netfilter hook, in priority order.

Priorities are those of include/uapi/linux/netfilter_ipv4.h (kernel-facts §5.1): lower runs
first. The nat table registers twice: as NAT_DST (-100) where the destination can be
rewritten (PREROUTING, OUTPUT) and as NAT_SRC (+100) where the source can (INPUT,
POSTROUTING), which is why nat runs *after* filter on INPUT and POSTROUTING.
Conntrack itself sits at -200 (lookup) and INT_MAX (confirm); the engine places those.

One value differs from the uapi header: iptables-nft (the backend of iptables 1.8, and of
every current Kubernetes node) creates the security table's base chains at priority 150,
not NF_IP_PRI_SECURITY (50) as iptables-legacy does (iptables nft.c, builtin tables). So on
INPUT the security table runs *after* nat, as the kernel's own trace shows.
"""

from __future__ import annotations

from enum import StrEnum

from app.sim.netfilter.model import Rule, Ruleset


class Hook(StrEnum):
    """The five IPv4 netfilter hooks, by their iptables chain names."""

    PREROUTING = "PREROUTING"
    INPUT = "INPUT"
    FORWARD = "FORWARD"
    OUTPUT = "OUTPUT"
    POSTROUTING = "POSTROUTING"


# NF_IP_PRI_* values.
PRIORITY = {
    "raw": -300,
    "conntrack": -200,
    "mangle": -150,
    "nat_dst": -100,
    "filter": 0,
    "security": 150,  # iptables-nft's priority; iptables-legacy registers at 50
    "nat_src": 100,
}

# Per hook: (table, priority) of every table that registers there (kernel-facts §5.2).
HOOK_TABLES: dict[Hook, tuple[tuple[str, int], ...]] = {
    Hook.PREROUTING: (
        ("raw", PRIORITY["raw"]),
        ("mangle", PRIORITY["mangle"]),
        ("nat", PRIORITY["nat_dst"]),
    ),
    Hook.INPUT: (
        ("mangle", PRIORITY["mangle"]),
        ("filter", PRIORITY["filter"]),
        ("security", PRIORITY["security"]),
        ("nat", PRIORITY["nat_src"]),
    ),
    Hook.FORWARD: (
        ("mangle", PRIORITY["mangle"]),
        ("filter", PRIORITY["filter"]),
        ("security", PRIORITY["security"]),
    ),
    Hook.OUTPUT: (
        ("raw", PRIORITY["raw"]),
        ("mangle", PRIORITY["mangle"]),
        ("nat", PRIORITY["nat_dst"]),
        ("filter", PRIORITY["filter"]),
        ("security", PRIORITY["security"]),
    ),
    Hook.POSTROUTING: (
        ("mangle", PRIORITY["mangle"]),
        ("nat", PRIORITY["nat_src"]),
    ),
}

# The manip type the nat table performs at a hook (nf_nat_inet_fn, HOOK2MANIP).
NAT_MANIP = {
    Hook.PREROUTING: "DST",
    Hook.OUTPUT: "DST",
    Hook.INPUT: "SRC",
    Hook.POSTROUTING: "SRC",
}


def tables_at(hook: Hook, ruleset: Ruleset) -> list[tuple[str, int]]:
    """The (table, priority) pairs that run at `hook`, lowest priority first.

    Only tables present in the ruleset run: a table module that was never loaded has no
    base chains to traverse (and the kernel's trace shows none).
    """
    return [
        (table, prio)
        for table, prio in sorted(HOOK_TABLES[hook], key=lambda item: item[1])
        if table in ruleset.tables and hook.value in ruleset.tables[table].chains
    ]


# Matches and targets whose checkentry calls nf_ct_netns_get (conntrack on for the netns).
_CONNTRACK_MATCHES = {
    "conntrack",
    "state",
    "connmark",
    "connbytes",
    "connlabel",
    "connlimit",
    "helper",
    "cluster",
}
_CONNTRACK_TARGETS = {"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP", "CONNMARK", "CT"}


def loads_conntrack(ruleset: Ruleset) -> bool:
    """Conntrack runs in a netns only when a rule asks for it at load time
    (nf_ct_netns_get: NAT targets, conntrack-based matches, CONNMARK, CT with a template).
    A nat table without NAT targets does not: its chains are then never walked, because
    nf_nat_inet_fn finds no conntrack on the packet (the kernel's trace shows none).
    `CT --notrack` and NOTRACK do not load conntrack either."""
    return any(
        _loads_conntrack(rule)
        for table in ruleset.tables.values()
        for chain in table.chains.values()
        for rule in chain.rules
    )


def _loads_conntrack(rule: Rule) -> bool:
    target = rule.target
    notrack = target is not None and target.name == "CT" and "--notrack" in target.save_args()
    if target is not None and target.name in _CONNTRACK_TARGETS and not notrack:
        return True
    return any(match.name in _CONNTRACK_MATCHES for match in rule.matches)

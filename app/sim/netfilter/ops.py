"""Chain and rule operations on one table, with the kernel's refusals (nf_tables).

Both `iptables` commands (`commands.py`) and `iptables-restore` (`parse.py`) change a table
through these functions, so a rule is accepted or refused the same way on both paths:
targets outside their table or hooks, jumps to builtin chains, loops reachable from a builtin
chain, deleting a chain that is referenced or not empty.
"""

from __future__ import annotations

from collections.abc import Callable

from app.sim.netfilter.errors import (
    OTHER_PROBLEM,
    RESOURCE_PROBLEM,
    IptablesError,
    no_such_chain,
    param,
)
from app.sim.netfilter.matches import InterfaceMatch, ProtocolMatch
from app.sim.netfilter.model import BUILTIN_CHAINS, Chain, Rule, RuleInfo, Table
from app.sim.netfilter.targets import JumpTarget

MAX_CHAIN_NAME = 28  # XT_EXTENSION_MAXNAMELEN - 1 (iptables refuses longer names)


def kernel_error(action: str, reason: str, chain: str) -> IptablesError:
    """A batch refusal as iptables-nft reports it, e.g. `RULE_APPEND failed (Invalid
    argument): rule in chain X` (note iptables' double space after the colon)."""
    what = "rule in chain" if action.startswith("RULE") else "chain"
    return IptablesError(
        f" {action} failed ({reason}): {what} {chain}", RESOURCE_PROBLEM, "prefixed"
    )


def rule_info(rule: Rule) -> RuleInfo:
    """The `-p` part of a rule, as extensions see it."""
    for match in rule.matches:
        if isinstance(match, ProtocolMatch):
            return RuleInfo(match.proto, match.inverted)
    return RuleInfo()


def get_chain(table: Table, name: str) -> Chain:
    """The chain, or `iptables: No chain/target/match by that name.`"""
    if name not in table.chains:
        raise no_such_chain()
    return table.chains[name]


def _existing(table: Table, name: str) -> Chain:
    """A chain that must exist in the kernel (a builtin one not yet created does not)."""
    if name in table.lazy:
        raise no_such_chain()
    return get_chain(table, name)


def jump_of(rule: Rule) -> str | None:
    """The user chain a rule jumps or goes to, if any."""
    return rule.target.chain if isinstance(rule.target, JumpTarget) else None


def references(table: Table, name: str) -> int:
    """How many rules jump to chain `name` (the `(N references)` of `iptables -L`)."""
    return sum(1 for c in table.chains.values() for r in c.rules if jump_of(r) == name)


def reaching_hooks(table: Table, name: str) -> frozenset[str]:
    """The builtin chains from which chain `name` can be reached through jumps."""
    hooks = set()
    for start in BUILTIN_CHAINS.get(table.name, ()):
        if start in table.chains and name in _reachable(table, start):
            hooks.add(start)
    return frozenset(hooks)


def _always(rule: Rule) -> bool:
    return True


def _reachable(table: Table, start: str, present: Callable[[Rule], bool] = _always) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for rule in table.chains[todo.pop()].rules:
            target = jump_of(rule)
            if target in table.chains and target not in seen and present(rule):
                seen.add(target)
                todo.append(target)
    return seen


def _loops(table: Table, chain: str, target: str) -> bool:
    """Would the new jump `chain -> target` close a loop reachable from it (ELOOP)?"""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str) -> bool:
        state[name] = 1
        nexts = [jump_of(r) for r in table.chains[name].rules]
        nexts += [target] if name == chain else []
        for nxt in nexts:
            if nxt in table.chains and (state.get(nxt) == 1 or (nxt not in state and visit(nxt))):
                return True
        state[name] = 2
        return False

    return visit(chain)


def _subtree_ok(table: Table, start: str, hooks: frozenset[str]) -> bool:
    """Do all targets reachable from `start` allow being called from `hooks`?"""
    return all(
        rule.target is None or rule.target.hooks_ok(hooks)
        for name in _reachable(table, start)
        for rule in table.chains[name].rules
    )


def check_ifaces(chain: str, rule: Rule) -> None:
    """iptables' own check: no `-i` on the way out, no `-o` before routing (builtin chains)."""
    for match in rule.matches:
        if not isinstance(match, InterfaceMatch):
            continue
        forbidden = _NO_IFACE[match.flag]
        if chain in forbidden:
            raise param(f"Can't use {match.flag} with {chain}\n")


_NO_IFACE = {"-i": ("OUTPUT", "POSTROUTING"), "-o": ("PREROUTING", "INPUT")}


def check_rule(
    table: Table, chain: str, rule: Rule, action: str = "RULE_APPEND", deep: bool = True
) -> None:
    """Refuse the rule as iptables and the kernel would when it is added to `chain`.

    `deep=False` leaves out what nf_tables checks over the whole table (hooks reached
    through jumps, loops); a restore batch runs that once at COMMIT (`validate_batch`).
    """
    check_ifaces(chain, rule)
    info = rule_info(rule)
    direct = frozenset({chain}) if chain in BUILTIN_CHAINS[table.name] else frozenset()
    exts = [*rule.matches, *([rule.target] if rule.target else [])]
    if not all(ext.kernel_accepts(info, table.name, direct) for ext in exts):
        raise kernel_error(action, "Invalid argument", chain)
    if not deep:
        if jump_of(rule) in BUILTIN_CHAINS[table.name]:
            raise kernel_error(action, "Operation not supported", chain)
        _jump_exists(table, rule)
        return
    hooks = direct or reaching_hooks(table, chain)
    if rule.target is not None and not rule.target.hooks_ok(hooks):
        raise kernel_error(action, "Invalid argument", chain)
    target = jump_of(rule)
    if target is None:
        return
    if target in BUILTIN_CHAINS[table.name]:
        raise kernel_error(action, "Operation not supported", chain)
    _jump_exists(table, rule)
    if hooks and _loops(table, chain, target):
        raise kernel_error(action, "Too many links", chain)
    if hooks and not _subtree_ok(table, target, hooks):
        raise kernel_error(action, "Invalid argument", chain)


def _bad_rule() -> IptablesError:
    return IptablesError(
        "Bad rule (does a matching rule exist in that chain?).", OTHER_PROBLEM, "plain"
    )


def _jump_exists(table: Table, rule: Rule) -> None:
    """iptables looks the jump target up before anything else (xshared.c)."""
    target = jump_of(rule)
    if target is not None and target not in table.chains:
        raise param(f"Chain '{target}' does not exist")


def hooks_by_chain(table: Table, present: Callable[[Rule], bool] = _always) -> dict[str, set[str]]:
    """For every chain, the builtin chains that reach it (one walk per builtin chain)."""
    found: dict[str, set[str]] = {name: set() for name in table.chains}
    for start in BUILTIN_CHAINS[table.name]:
        if start in table.chains:
            for name in _reachable(table, start, present):
                found[name].add(start)
    return found


def _has_loop(table: Table, present: Callable[[Rule], bool]) -> bool:
    """Is a loop reachable from a builtin chain (iterative DFS, rules filtered by `present`)?"""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in BUILTIN_CHAINS[table.name]:
        if start not in table.chains or start in state:
            continue
        state[start] = 1
        stack = [(start, iter(table.chains[start].rules))]
        while stack:
            name, rules = stack[-1]
            rule = next(rules, None)
            if rule is None:
                state[name] = 2
                stack.pop()
                continue
            target = jump_of(rule)
            if target not in table.chains or not present(rule):
                continue
            if state.get(target) == 1:
                return True
            if target not in state:
                state[target] = 1
                stack.append((target, iter(table.chains[target].rules)))
    return False


def _misplaced(table: Table, present: Callable[[Rule], bool]) -> bool:
    """Does some target sit in a chain reached from a hook it may not run at?"""
    hooks = hooks_by_chain(table, present)
    return any(
        rule.target is not None and present(rule) and not rule.target.hooks_ok(frozenset(hooks[c]))
        for c, chain in table.chains.items()
        for rule in chain.rules
    )


def validate_batch(table: Table, added: dict[int, tuple[int, str]]) -> list[tuple[int, str]]:
    """nf_tables' table validation at COMMIT. `added` maps the uid of each rule the batch
    added to its (line, chain). The kernel refuses the first rule whose addition made a loop
    reachable or put a target where it may not run; adding rules never cures either, so a
    binary search over the batch finds that rule in O(n log k)."""
    lines = sorted(line for line, _ in added.values())

    def bad(upto: int) -> tuple[bool, bool]:
        def present(rule: Rule) -> bool:
            return rule.uid not in added or added[rule.uid][0] <= upto

        return _has_loop(table, present), _misplaced(table, present)

    if not lines or not any(bad(lines[-1])):
        return []
    low, high = 0, len(lines) - 1
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if any(bad(lines[middle])) else (middle + 1, high)
    line = lines[low]
    chain = next(name for at, name in added.values() if at == line)
    reason = "Too many links" if bad(line)[0] else "Invalid argument"
    return [(line, kernel_error("RULE_APPEND", reason, chain).message)]


def insert_rule(
    table: Table, chain: str, rule: Rule, position: int | None = None, deep: bool = True
) -> None:
    """`-A` (position None) or `-I chain N` (1-based)."""
    check_ifaces(chain, rule)
    _jump_exists(table, rule)
    target = get_chain(table, chain)
    # iptables-nft turns an insert at the end of a non-empty chain into an append.
    at_end = position is None or (position == len(target.rules) + 1 and target.rules)
    action = "RULE_APPEND" if at_end else "RULE_INSERT"
    if position is not None and position > len(target.rules) + 1:
        raise IptablesError("Index of insertion too big.", OTHER_PROBLEM, "plain")
    check_rule(table, chain, rule, action, deep)
    target.rules.insert(len(target.rules) if position is None else position - 1, rule)
    table.lazy.discard(chain)


def new_chain(table: Table, name: str) -> None:
    """`-N NAME` (and `:NAME - [0:0]` in a restore file)."""
    if name in table.chains:
        raise IptablesError("Chain already exists.", OTHER_PROBLEM, "plain")
    if len(name) > MAX_CHAIN_NAME:
        raise param(f"chain name `{name}' too long (must be under 29 chars)")
    if name.startswith("-") or name.startswith("!") or " " in name:
        raise param(f"Invalid chain name `{name}'")
    table.chains[name] = Chain(name)


def delete_chain(table: Table, name: str) -> None:
    """`-X NAME`: only an empty, unreferenced user chain can go."""
    chain = get_chain(table, name)
    if chain.builtin:
        raise IptablesError(
            "Invalid argument. Run `dmesg' for more information.", OTHER_PROBLEM, "plain"
        )
    if chain.rules or references(table, name):
        raise kernel_error("CHAIN_DEL", "Device or resource busy", name)
    del table.chains[name]


def delete_all_chains(table: Table) -> None:
    """`-X` with no name: every user chain, all or nothing."""
    users = [c.name for c in table.chains.values() if not c.builtin]
    for name in users:
        chain = table.chains[name]
        if chain.rules or references(table, name):
            raise kernel_error("CHAIN_DEL", "Device or resource busy", name)
    for name in users:
        del table.chains[name]
    # iptables-nft's -X also removes base chains that are empty with policy ACCEPT.
    for chain in table.chains.values():
        if chain.builtin and not chain.rules and chain.policy == "ACCEPT":
            table.lazy.add(chain.name)


def flush(table: Table, name: str | None) -> None:
    """`-F [chain]`: remove rules, keep chains and policies."""
    chains = [get_chain(table, name)] if name else list(table.chains.values())
    table.lazy.discard(name or "")
    for chain in chains:
        chain.rules.clear()


def rename_chain(table: Table, old: str, new: str) -> None:
    """`-E OLD NEW`: rename a user chain; jumps follow the new name."""
    if new in table.chains:
        raise IptablesError("File exists.", OTHER_PROBLEM, "plain")
    chain = get_chain(table, old)
    if chain.builtin:
        raise IptablesError(
            "Invalid argument. Run `dmesg' for more information.", OTHER_PROBLEM, "plain"
        )
    chain.name = new
    table.chains = {(new if k == old else k): v for k, v in table.chains.items()}
    for other in table.chains.values():
        for rule in other.rules:
            if jump_of(rule) == old:
                rule.target.chain = new  # type: ignore[union-attr]


def set_policy(table: Table, name: str, policy: str) -> None:
    """`-P CHAIN ACCEPT|DROP` (and a builtin chain's line in a restore file)."""
    if policy not in ("ACCEPT", "DROP"):
        raise IptablesError(
            "Bad policy name. Run `dmesg' for more information.", OTHER_PROBLEM, "plain"
        )
    if name not in BUILTIN_CHAINS[table.name]:
        raise IptablesError("Bad built-in chain name.", OTHER_PROBLEM, "plain")
    table.chains[name].policy = policy
    table.lazy.discard(name)


def rule_key(rule: Rule) -> list[list[str]]:
    """What makes two rules the same for `-D spec` and `-C` (their canonical text)."""
    return [m.save_args() for m in rule.matches] + [rule.target.save_args() if rule.target else []]


def find_rule(table: Table, chain: str, rule: Rule) -> int:
    """The 0-based position of the first rule equal to `rule`, or the kernel's refusal."""
    key = rule_key(rule)
    check_ifaces(chain, rule)
    _jump_exists(table, rule)
    if chain not in table.chains or chain in table.lazy:
        raise _bad_rule()
    rules = table.chains[chain].rules
    for index, candidate in enumerate(rules):
        if rule_key(candidate) == key:
            return index
    raise _bad_rule()


def delete_rule(table: Table, chain: str, number: int | None, rule: Rule | None) -> None:
    """`-D chain N` or `-D chain RULE-SPEC`."""
    if number is None:
        index = find_rule(table, chain, rule)  # type: ignore[arg-type]
        del table.chains[chain].rules[index]
        return
    rules = _existing(table, chain).rules
    if number is not None:
        if number > len(rules):
            raise IptablesError("Index of deletion too big.", OTHER_PROBLEM, "plain")
        del rules[number - 1]


def replace_rule(table: Table, chain: str, number: int, rule: Rule) -> None:
    """`-R chain N RULE-SPEC`."""
    check_ifaces(chain, rule)
    _jump_exists(table, rule)
    rules = _existing(table, chain).rules
    if number > len(rules):
        raise IptablesError("Index of replacement too big.", OTHER_PROBLEM, "plain")
    old = rules.pop(number - 1)
    try:
        check_rule(table, chain, rule, "RULE_REPLACE")
    finally:
        rules.insert(number - 1, old)
    rules[number - 1] = rule


def zero(table: Table, chain: str | None, number: int | None) -> None:
    """`-Z [chain [N]]`: reset packet and byte counters."""
    if chain in table.lazy:
        raise _bad_rule() if number is not None else no_such_chain()
    chains = [get_chain(table, chain)] if chain else list(table.chains.values())
    for target in chains:
        if number is None:
            target.packets = target.bytes = 0
        for index, rule in enumerate(target.rules, start=1):
            if number is None or index == number:
                rule.packets = rule.bytes = 0

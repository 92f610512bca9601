"""iptables argv and iptables-save/iptables-restore text -> the rule model.

`parse_rule_args` reads one rule specification the way iptables 1.8.9 does (builtin
`-s -d -i -o -p`, `-m` modules and their options, `-j`/`-g` and target options, `!`);
`parse_command` reads a whole `iptables ...` command line and `apply_edit` runs one that
changes rules; `parse_restore` / `apply_restore` read restore text (`*table`,
`:CHAIN POLICY [p:b]`, `[p:b] -A ...`, `-X`, `COMMIT`, comments) through `restore.py`.
Errors are `IptablesError`s worded as iptables words them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.sim.netfilter import ops
from app.sim.netfilter.context import Verdict
from app.sim.netfilter.errors import IptablesError, param
from app.sim.netfilter.matches import (
    BUILTIN_MATCHES,
    BUILTIN_ORDER,
    MATCHES,
    AddressMatch,
    ProtocolMatch,
)
from app.sim.netfilter.model import TABLE_NAMES, Extension, Match, Rule, RuleInfo, Ruleset, Target
from app.sim.netfilter.targets import STANDARD_VERDICTS, TARGETS, JumpTarget, VerdictTarget
from app.sim.netfilter.values import parse_network, parse_proto

_BUILTIN_FLAGS = {
    "-s": "-s", "--source": "-s", "--src": "-s",
    "-d": "-d", "--destination": "-d", "--dst": "-d",
    "-i": "-i", "--in-interface": "-i",
    "-o": "-o", "--out-interface": "-o",
    "-p": "-p", "--protocol": "-p",
}  # fmt: skip
_IMPLICIT_PROTO_MATCH = {6: "tcp", 17: "udp", 132: "sctp"}


class _RuleBuilder:
    """The state of reading one rule: builtin parts, loaded modules, target, pending `!`."""

    def __init__(self) -> None:
        self.builtins: dict[str, Match] = {}
        self.modules: list[Match] = []
        self.target: Target | None = None
        self.inverted = False
        self.counters: tuple[int, int] | None = None

    def info(self) -> RuleInfo:
        proto = self.builtins.get("-p")
        return RuleInfo(proto.proto, proto.inverted) if proto else RuleInfo()  # type: ignore[attr-defined]

    def take_invert(self) -> bool:
        inverted, self.inverted = self.inverted, False
        return inverted

    def builtin(self, flag: str, value: str) -> None:
        if flag in self.builtins:
            raise param(f"multiple {flag} flags not allowed")
        inverted = self.take_invert()
        cls = BUILTIN_MATCHES[flag]
        if flag in ("-s", "-d"):
            self.builtins[flag] = cls(flag, parse_network(value), inverted)  # type: ignore[call-arg]
        elif flag in ("-i", "-o"):
            if len(value) > 15:
                raise param(f"interface name `{value}' must be shorter than IFNAMSIZ (15)")
            self.builtins[flag] = cls(flag, value, inverted)  # type: ignore[call-arg]
        else:
            self.builtins[flag] = cls(parse_proto(value), inverted)  # type: ignore[call-arg]

    def load_match(self, name: str) -> Match:
        if name not in MATCHES:
            raise param(f"Couldn't load match `{name}':No such file or directory\n")
        match = MATCHES[name]()
        self.modules.append(match)
        return match

    def set_target(self, flag: str, name: str) -> None:
        if self.target is not None:
            raise param("multiple -j flags not allowed")
        if flag in ("-g", "--goto"):
            self.target = JumpTarget(chain=name, goto=True)
        elif name in STANDARD_VERDICTS:
            self.target = VerdictTarget(STANDARD_VERDICTS[name])
        elif name in TARGETS:
            self.target = TARGETS[name]()
        elif not name or name.startswith("-"):
            raise param(f'option "{flag}" requires an argument')
        else:
            self.target = JumpTarget(chain=name)

    def owner(self, option: str) -> tuple[Extension, str] | None:
        """The loaded extension that takes `option` and the option's full spelling: an exact
        name first (target, then the newest match), else an unambiguous abbreviation, as
        getopt_long(3) accepts one (`--dport` after `-m multiport` is its `--dports`)."""
        loaded: list[Extension] = [*([self.target] if self.target else []), *self.modules[::-1]]
        for ext in loaded:
            if option in ext.options:
                return ext, option
        prefixed = [
            (ext, name) for ext in loaded for name in ext.options if name.startswith(option)
        ]
        if len({(id(ext), ext.options[name][0]) for ext, name in prefixed}) == 1:
            return prefixed[0]
        proto = _IMPLICIT_PROTO_MATCH.get(self.info().proto)
        has_proto = any(m.name == proto for m in self.modules)
        if proto and not has_proto and option in MATCHES[proto].options and not prefixed:
            return self.load_match(proto), option  # iptables loads `-m tcp` for `-p tcp`
        return None

    def build(self, raw: str) -> Rule:
        info = self.info()
        if self.inverted:
            raise param("! not allowed with this option")  # a trailing `!`
        for ext in [*self.modules, *([self.target] if self.target else [])]:
            ext.finish(info)
        builtins = sorted(self.builtins.items(), key=lambda item: BUILTIN_ORDER[item[0]])
        matches = [m for _, m in builtins if not _is_anything(m)] + self.modules
        packets, byts = self.counters or (0, 0)
        return Rule(matches, self.target, raw=raw, packets=packets, bytes=byts)


def _is_anything(match: Match) -> bool:
    """`-p all` and `-s 0.0.0.0/0` match everything: iptables stores (and prints) nothing."""
    if isinstance(match, ProtocolMatch):
        return match.proto == 0 and not match.inverted
    if isinstance(match, AddressMatch):
        return match.network.prefixlen == 0 and not match.inverted
    return False


def _need(argv: Sequence[str], i: int, count: int, option: str) -> list[str]:
    values = list(argv[i + 1 : i + 1 + count])
    if len(values) < count or any(
        v.startswith("-") and len(v) > 1 and not _number(v) for v in values[:1]
    ):
        raise param(f'option "{option}" requires an argument')
    return values


def _number(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _counter(text: str) -> int:
    if not text.isdigit():
        raise param(f"invalid counter `{text}' specified")  # hmm
    return int(text)


def parse_rule_args(argv: Sequence[str], raw: str = "", table: str | None = None) -> Rule:
    """One rule specification (everything after `-A CHAIN`) -> a Rule. With `table`, the
    checks iptables makes against the table run too (no DROP in nat)."""
    builder = _RuleBuilder()
    i = 0
    while i < len(argv):
        token = argv[i]
        i += _take(builder, argv, i, token)
    target = builder.target
    if table == "nat" and isinstance(target, VerdictTarget) and target.name == "DROP":
        raise _nat_drop()  # checked before the extensions' final checks (xshared.c)
    return builder.build(raw or " ".join(argv))


def _take(builder: _RuleBuilder, argv: Sequence[str], i: int, token: str) -> int:
    """Consume the token at `i` (and its arguments); return how many tokens were used."""
    if token == "!":
        if builder.inverted:
            raise param("multiple consecutive ! not allowed")
        builder.inverted = True
        return 1
    if token in _BUILTIN_FLAGS:
        builder.builtin(_BUILTIN_FLAGS[token], _need(argv, i, 1, token)[0])
        return 2
    if token in ("-m", "--match"):
        builder.load_match(_need(argv, i, 1, token)[0])
        return 2
    if token in ("-j", "--jump", "-g", "--goto"):
        builder.set_target(token, _need(argv, i, 1, token)[0])
        return 2
    if token in ("-c", "--set-counters"):
        values = _need(argv, i, 2, token)
        builder.counters = (_counter(values[0]), _counter(values[1]))
        return 3
    if not token.startswith("-") or token == "-":
        raise IptablesError(f"Bad argument `{token}'", kind="bare")
    return _take_option(builder, argv, i, token)


def _take_option(builder: _RuleBuilder, argv: Sequence[str], i: int, token: str) -> int:
    option, eq, inline = token.partition("=")
    found = builder.owner(option) if option.startswith("--") and len(option) > 2 else None
    if found is None:
        raise param(f'unknown option "{token}"')
    ext, option = found
    canonical, nargs = ext.options[option]
    if eq:
        args, used = [inline, *argv[i + 1 : i + nargs]], nargs
    else:
        args, used = list(argv[i + 1 : i + 1 + nargs]), nargs + 1
    if len(args) < nargs:
        raise param(f'option "{option}" requires an argument')
    ext.prepare(builder.info())
    ext.set_option(canonical, args, builder.take_invert())
    return used


@dataclass
class Command:
    """One `iptables ...` command line, read but not yet run."""

    action: str  # the short command letter: A C D I R L S F Z N X P E
    table: str = "filter"
    chain: str | None = None
    number: int | None = None
    extra: str | None = None  # -P's policy, -E's new name
    rule: Rule | None = None
    flags: set[str] = field(default_factory=set)  # n v x line-numbers c
    warnings: list[str] = field(default_factory=list)  # printed on stderr even on success


_COMMANDS = {
    "-A": "A", "--append": "A", "-C": "C", "--check": "C", "-D": "D", "--delete": "D",
    "-I": "I", "--insert": "I", "-R": "R", "--replace": "R", "-L": "L", "--list": "L",
    "-S": "S", "--list-rules": "S", "-F": "F", "--flush": "F", "-Z": "Z", "--zero": "Z",
    "-N": "N", "--new-chain": "N", "-X": "X", "--delete-chain": "X", "-P": "P",
    "--policy": "P", "-E": "E", "--rename-chain": "E",
}  # fmt: skip
_FLAGS = {"-n": "n", "--numeric": "n", "-v": "v", "--verbose": "v", "-x": "x",
          "--exact": "x", "--line-numbers": "line-numbers"}  # fmt: skip
_RULE_NUMBER_ACTIONS = {"D", "I", "R", "L", "S", "Z"}


def _rule_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise param(f"Invalid rule number `{text}'")
    return int(text)


def parse_command(argv: Sequence[str]) -> Command:
    """A full `iptables` argv (without the program name) -> Command."""
    rest: list[str] = []
    cmd: Command | None = None
    table, warnings = "filter", []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in ("-t", "--table"):
            table, i = _need(argv, i, 1, token)[0], i + 2
        elif token in _WAIT_OPTIONS:
            i, note = _wait_option(argv, i, token)
            warnings += [note] if note else []
        elif token in _COMMANDS:
            previous = cmd
            cmd, i = _command_args(argv, i, _COMMANDS[token], token)
            if previous is not None:
                raise param(f"Can't use -{cmd.action} with -{previous.action}\n")
        else:
            rest.append(token)
            i += 1
    if cmd is None:
        stray = [t for t in rest if not t.startswith("-")]
        if stray:
            raise IptablesError(f"Bad argument `{stray[0]}'", kind="bare")
        raise param("no command specified")
    cmd.table, cmd.warnings = table, warnings
    return _finish_command(cmd, rest)


_WAIT_OPTIONS = ("-w", "--wait", "-W", "--wait-interval")


def _wait_option(argv: Sequence[str], i: int, token: str) -> tuple[int, str | None]:
    """`-w [seconds]` (the xtables lock; nothing to wait for here) and the deprecated `-W`."""
    value = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("-") else None
    if token in ("-W", "--wait-interval"):
        _need(argv, i, 1, token)
        return i + 2, "Ignoring deprecated --wait-interval option.\n"
    if value is not None and not value.isdigit():
        raise param("wait seconds not numeric")
    return i + (2 if value is not None else 1), None


def _command_args(argv: Sequence[str], i: int, action: str, token: str) -> tuple[Command, int]:
    """Read the chain and positional arguments that follow a command letter."""
    cmd = Command(action)
    i += 1
    required = action in "ACDIRNPE"
    has_chain = i < len(argv) and not argv[i].startswith("-")
    if required and not has_chain:
        raise param(f'option "{token}" requires an argument')
    if has_chain:
        cmd.chain = argv[i]
        i += 1
    nxt = argv[i] if i < len(argv) else None
    if action in "PE":
        if nxt is None or nxt.startswith("-"):
            raise param(f"-{action} requires a chain and a policy" if action == "P" else
                        "-E requires old-chain-name and new-chain-name")  # fmt: skip
        cmd.extra, i = nxt, i + 1
    elif action in _RULE_NUMBER_ACTIONS and nxt is not None and cmd.chain and _number(nxt):
        cmd.number, i = _rule_number(nxt), i + 1
    elif action == "R":
        raise param("-R requires a rule number")
    return cmd, i


def _finish_command(cmd: Command, rest: list[str]) -> Command:
    if cmd.table not in TABLE_NAMES:
        raise IptablesError(
            f"table '{cmd.table}' does not exist\n"
            "Perhaps iptables or your kernel needs to be upgraded.",
            3,
            "prefixed",
        )
    spec = [t for t in rest if t not in _FLAGS]
    cmd.flags = {_FLAGS[t] for t in rest if t in _FLAGS}
    takes_rule = cmd.action in "ACIR" or (cmd.action == "D" and cmd.number is None)
    if takes_rule:
        cmd.rule = parse_rule_args(spec, table=cmd.table)
    elif spec:
        raise IptablesError(f"Bad argument `{spec[0]}'", kind="bare")
    if cmd.action == "P" and cmd.table == "nat" and cmd.extra == "DROP":
        raise _nat_drop()
    return cmd


def _nat_drop() -> IptablesError:
    """iptables refuses DROP (as a target or a policy) in the nat table by itself."""
    return param(
        '\nThe "nat" table is not intended for filtering, '
        "the use of DROP is therefore inhibited.\n\n"
    )


def apply_edit(ruleset: Ruleset, cmd: Command, deep: bool = True) -> None:
    """Run a command that changes the ruleset: A I D R N X F E P Z. `deep=False` leaves
    the table-wide checks of an added rule to the caller (a restore batch)."""
    table = ruleset.table(cmd.table)
    chain = cmd.chain or ""
    if cmd.action in ("A", "I"):
        position = (cmd.number or 1) if cmd.action == "I" else None
        ops.insert_rule(table, chain, cmd.rule, position, deep)  # type: ignore[arg-type]
    elif cmd.action == "D":
        ops.delete_rule(table, chain, cmd.number, cmd.rule)
    elif cmd.action == "R":
        ops.replace_rule(table, chain, cmd.number or 0, cmd.rule)  # type: ignore[arg-type]
    elif cmd.action == "N":
        ops.new_chain(table, chain)
    elif cmd.action == "X":
        ops.delete_chain(table, chain) if cmd.chain else ops.delete_all_chains(table)
    elif cmd.action == "F":
        ops.flush(table, cmd.chain)
    elif cmd.action == "E":
        ops.rename_chain(table, chain, cmd.extra or "")
    elif cmd.action == "P":
        ops.set_policy(table, chain, cmd.extra or "")
    elif cmd.action == "Z":
        ops.zero(table, cmd.chain, cmd.number)
    else:
        raise param(f"-{cmd.action} does not change the rules")


def parse_restore(text: str, counters: bool = True) -> Ruleset:
    """iptables-save / iptables-restore text -> a new Ruleset (counters kept by default).

    The line machine lives in `restore.py`, which builds on this module.
    """
    from app.sim.netfilter.restore import parse_restore as parse_text

    return parse_text(text, counters)


def apply_restore(
    ruleset: Ruleset, text: str, noflush: bool = False, counters: bool = False
) -> None:
    """Load restore text into `ruleset` (see `restore.apply_restore`)."""
    from app.sim.netfilter.restore import apply_restore as apply_text

    apply_text(ruleset, text, noflush, counters)


__all__ = [
    "Command",
    "Verdict",
    "apply_edit",
    "apply_restore",
    "parse_command",
    "parse_restore",
    "parse_rule_args",
]

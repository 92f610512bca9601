"""iptables-restore: restore text (`*table`, `:CHAIN POLICY [p:b]`, `[p:b] -A ...`, `-X`,
`COMMIT`, comments) applied to a Ruleset the way iptables-nft-restore 1.8.9 applies it.

Each `*table ... COMMIT` block is built on a copy and swapped in at COMMIT, so a failing
block changes nothing (blocks committed earlier stay). As in iptables-nft, a block's commands
run at COMMIT: the first unknown jump target or failed lookup stops it, otherwise the kernel
answers the whole batch (every refused rule with its line) after validating the table once.
"""

from __future__ import annotations

import copy
import re

from app.sim.netfilter import ops
from app.sim.netfilter.errors import OTHER_PROBLEM, RESOURCE_PROBLEM, IptablesError, param
from app.sim.netfilter.model import TABLE_NAMES, Ruleset
from app.sim.netfilter.parse import Command, apply_edit, parse_command
from app.sim.netfilter.values import split_line

_COUNTERS = re.compile(r"^\[(\d+):(\d+)\]\s*(.*)$")
_CHAIN_LINE = re.compile(r"^:(\S+)\s+(\S+)(?:\s+\[(\d+):(\d+)\])?\s*$")


def parse_restore(text: str, counters: bool = True) -> Ruleset:
    """iptables-save / iptables-restore text -> a new Ruleset (counters kept by default)."""
    ruleset = Ruleset()
    apply_restore(ruleset, text, noflush=False, counters=counters)
    return ruleset


def apply_restore(
    ruleset: Ruleset, text: str, noflush: bool = False, counters: bool = False
) -> None:
    """Load restore text into `ruleset`, one table per `*name ... COMMIT` block.

    Each block is built on a copy and swapped in at COMMIT, so a failing block changes
    nothing (tables committed earlier stay, as with iptables-nft-restore). Errors carry the
    line number the way iptables-restore reports it.
    """
    state = _RestoreState(ruleset, noflush, counters)
    lineno = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        state.lineno = lineno
        try:
            state.line(line.strip())
        except _Reported as reported:
            raise reported.error from None
        except _LineFailed:
            raise IptablesError(f"line {lineno} failed", OTHER_PROBLEM, "plain") from None
        except IptablesError as err:
            raise restore_error(err, lineno) from None
    if state.table is not None:
        raise IptablesError(f"COMMIT expected at line {lineno + 1}", OTHER_PROBLEM, "plain")


def restore_error(err: IptablesError, lineno: int) -> IptablesError:
    """Re-word an error for iptables-restore (`Error occurred at line: N`)."""
    if err.kind == "prefixed" and err.message.startswith(" "):
        return IptablesError(f"\nline {lineno}:{err.message}", err.status, "prefixed")
    if err.kind == "plain":
        detail = err.message.removesuffix(" Run `dmesg' for more information.")
        return IptablesError(f"line {lineno} failed: {detail}", err.status, "plain")
    return IptablesError(f"{err.message}\nError occurred at line: {lineno}", err.status, err.kind)


def _restore_param(message: str, lineno: int) -> IptablesError:
    """iptables-restore's own parse errors, which repeat the program name."""
    return param(f"iptables-restore: line {lineno} {message}")


class _LineFailed(Exception):
    """A line iptables-restore cannot place at all (outside a table)."""


def _missing_chain(err: IptablesError) -> bool:
    return err.message.startswith("Chain '") and err.message.endswith("' does not exist")


class _Reported(Exception):
    """An error already worded for iptables-restore (reported at COMMIT)."""

    def __init__(self, error: IptablesError) -> None:
        super().__init__(error.message)
        self.error = error


class _RestoreState:
    """The line state machine of iptables-restore."""

    def __init__(self, ruleset: Ruleset, noflush: bool, counters: bool) -> None:
        self.ruleset, self.noflush, self.counters = ruleset, noflush, counters
        self.table: str | None = None
        self.work: Ruleset = Ruleset()
        self.lineno = 0
        # iptables-nft-restore runs a table's queued commands at COMMIT: the first unknown
        # jump target (reported at the COMMIT line) or failed lookup (at its own line) stops
        # it; otherwise the kernel answers the whole batch, each refusal with its line.
        self.failed: IptablesError | None = None
        self.failed_line, self.missing = 0, False
        self.refused: list[str] = []
        self.added: dict[int, tuple[int, str]] = {}  # rule uid -> (line, chain)

    def line(self, line: str) -> None:
        if not line or line.startswith("#"):
            return
        if line.startswith("*") and self.table is None:
            self._open(line[1:].strip())
        elif self.table is None:
            raise _LineFailed
        elif line == "COMMIT":
            self._commit()
        elif line.startswith(":"):
            self._chain(line)
        else:
            self._rule(line)

    def _commit(self) -> None:
        if self.failed is not None:
            lineno = self.lineno if self.missing else self.failed_line
            raise _Reported(restore_error(self.failed, lineno))
        work = self.work.tables[self.table or ""]
        if not self.refused:  # nf_tables validates the table once all messages went through
            for line, message in ops.validate_batch(work, self.added):
                self.refused.append(f"\nline {line}:{message}")
        if self.refused:  # the kernel answers every refused message of the batch
            raise _Reported(IptablesError("".join(self.refused), RESOURCE_PROBLEM, "prefixed"))
        untouched = len(work.lazy) == len(work.chains)  # an empty block creates no table
        if self.table in self.ruleset.tables or not untouched:
            self.ruleset.tables[self.table or ""] = work
        self.table = None

    def _edit(self, cmd: Command) -> None:
        try:
            apply_edit(self.work, cmd, deep=False)
            if cmd.action in "AI" and cmd.rule is not None:
                self.added[cmd.rule.uid] = (self.lineno, cmd.chain or "")
        except IptablesError as err:
            if err.kind == "prefixed" and err.message.startswith(" "):
                self.refused.append(restore_error(err, self.lineno).message)
                if cmd.action == "X" and cmd.chain:  # gone from iptables' own view already
                    self.work.table(cmd.table).chains.pop(cmd.chain, None)
            elif err.kind == "plain" or _missing_chain(err):
                if self.failed is None:
                    self.failed, self.failed_line, self.missing = (
                        err,
                        self.lineno,
                        err.kind != "plain",
                    )
            else:
                raise

    def _open(self, name: str) -> None:
        if name not in TABLE_NAMES:
            raise _restore_param(f"table name '{name}' invalid", self.lineno)
        self.table, self.failed, self.refused, self.added = name, None, [], {}
        self.work = Ruleset()
        if self.noflush and name in self.ruleset.tables:
            self.work.tables[name] = copy.deepcopy(self.ruleset.tables[name])
        self.work.table(name)

    def _chain(self, line: str) -> None:
        found = _CHAIN_LINE.match(line)
        if not found:
            raise _restore_param("policy invalid", self.lineno)
        name, policy, packets, byts = found.groups()
        table = self.work.table(self.table or "")
        if policy != "-":
            ops.set_policy(table, name, policy)
            kept = self.counters and packets is not None  # without -c they start at zero
            chain = table.chains[name]
            chain.packets, chain.bytes = (int(packets), int(byts)) if kept else (0, 0)
        elif name in table.chains:
            table.chains[name].rules.clear()  # a declared user chain starts empty
        else:
            ops.new_chain(table, name)

    def _rule(self, line: str) -> None:
        packets = byts = None
        found = _COUNTERS.match(line)
        if found:
            packets, byts, line = int(found.group(1)), int(found.group(2)), found.group(3)
        argv = split_line(line)
        cmd = parse_command(["-t", self.table or "", *argv])
        if cmd.rule is not None:
            cmd.rule.raw = line
            if self.counters and packets is not None:
                cmd.rule.packets, cmd.rule.bytes = packets, byts or 0
        if cmd.action not in "LSC":  # listing and checking change nothing
            self._edit(cmd)

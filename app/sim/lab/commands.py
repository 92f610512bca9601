"""The console's programs: a registry keyed by the real tool's name.

Each `Command` runs as `(lab, argv, stdin, lang) -> Reply` and carries its help in both
languages; an import-time check refuses an entry without them. Output and errors are the
real tools' own wording (iptables 1.8.9, kubectl 1.30, conntrack-tools 1.4.7, curl 8, bash);
only the lab's own explanations are translated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.sim.cluster import run_kubectl
from app.sim.lab import curl
from app.sim.lab.modes import MODES, PROGRAM_MODES
from app.sim.lab.result import Reply
from app.sim.lab.text import lookup, say
from app.sim.netfilter.commands import run_iptables, run_iptables_restore, run_iptables_save

if TYPE_CHECKING:
    from app.sim.lab.lab import Lab

Handler = Callable[["Lab", list[str], str, str], Reply]
# iptables actions that only read (iptables(8): -L, -S, -C); everything else edits.
_READ_ONLY = {"-L", "--list", "-S", "--list-rules", "-C", "--check", "-h", "--help", "-V"}


@dataclass(frozen=True)
class Command:
    """A console program: its handler, a one-line summary and a longer help per language."""

    run: Handler
    summary: dict[str, str]
    help: dict[str, str]


def _kubectl(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    result = run_kubectl(lab.cluster, argv[1:], stdin or None)
    return Reply(result.status, result.stdout, result.stderr)


def _iptables(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    world = lab.shell_world()
    result = run_iptables(world.ruleset, argv[1:])
    if result.ok and not _READ_ONLY.intersection(argv[1:]):
        lab.rules_edited(world)
    return Reply(result.status, result.stdout, result.stderr)


def _iptables_save(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    result = run_iptables_save(lab.shell_world().ruleset, argv[1:], lab.timestamp())
    return Reply(result.status, result.stdout, result.stderr)


def _iptables_restore(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    world = lab.shell_world()
    result = run_iptables_restore(world.ruleset, argv[1:], stdin)
    if result.ok and not {"-t", "--test"}.intersection(argv[1:]):
        lab.rules_edited(world)
    return Reply(result.status, result.stdout, result.stderr)


CONNTRACK_VERSION = "conntrack v1.4.7 (conntrack-tools)"


def _conntrack(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    world, args = lab.shell_world(), argv[1:]
    table = world.conntrack
    if args in (["-L"], ["--dump"], ["-L", "-n"]):
        return Reply(0, table.listing(lab.clock), table.summary())
    if args in (["-F"], ["--flush"]):
        for conn in list(table.connections):
            table._remove(conn)
        return Reply(0, "", f"{CONNTRACK_VERSION}: connection tracking table has been emptied.\n")
    if args in (["-C"], ["--count"]):
        table.expire(lab.clock)
        return Reply(0, f"{len(table.connections)}\n")
    if not args:
        return Reply(
            2, "", f"{CONNTRACK_VERSION}: no command specified\n" + say("conntrack_hint", lang)
        )
    return Reply(
        2, "", f"{CONNTRACK_VERSION}: unknown option `{args[0]}'\n" + say("conntrack_hint", lang)
    )


def _mode_program(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    """ipvsadm, nft, ipset: the current mode's handler, or a word on which mode runs here."""
    mode = MODES[lab.mode]
    handler = mode.programs.get(argv[0])
    if handler is not None:
        return handler(lab, argv, stdin, lang)
    wanted = PROGRAM_MODES[argv[0]]
    key = "mode_other" if wanted in MODES else "mode_later"
    return Reply(1, "", say(key, lang, program=argv[0], mode=lab.mode, wanted=wanted))


def _help(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    if len(argv) > 1:
        command = COMMANDS.get(argv[1])
        if command is None:
            return Reply(1, "", say("help_unknown", lang, name=argv[1]))
        return Reply(0, command.help[lang].rstrip("\n") + "\n")
    rows = [f"  {name:<18}{c.summary[lang]}" for name, c in COMMANDS.items()]
    return Reply(0, say("help_head", lang) + "\n".join(rows) + "\n" + say("help_tail", lang))


def _clear(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    return Reply(0, "", "", clear=True)


def _history(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    lines = [f"{i:>5}  {line}" for i, line in enumerate(lab.console_history, 1)]
    return Reply(0, "".join(line + "\n" for line in lines))


def _ssh(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    if len(argv) != 2:
        return Reply(
            255, "", "usage: ssh NODE\n" + say("ssh_hint", lang, nodes=", ".join(lab.nodes))
        )
    name = argv[1].split("@")[-1]
    if name not in lab.nodes:
        return Reply(
            255, "", f"ssh: Could not resolve hostname {name}: Name or service not known\n"
        )
    lab.shell_node = name
    return Reply(0, say("ssh_done", lang, node=name))


def _hostname(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    return Reply(0, lab.shell_world().name + "\n")


def _text(key: str) -> dict[str, str]:
    return {"en": lookup(key, "en"), "zh": lookup(key, "zh")}


def _entry(run: Handler, key: str) -> Command:
    return Command(run, _text(f"sum_{key}"), _text(f"help_{key}"))


COMMANDS: dict[str, Command] = {
    "kubectl": _entry(_kubectl, "kubectl"),
    "iptables": _entry(_iptables, "iptables"),
    "iptables-save": _entry(_iptables_save, "iptables_save"),
    "iptables-restore": _entry(_iptables_restore, "iptables_restore"),
    "conntrack": _entry(_conntrack, "conntrack"),
    "curl": _entry(curl.run, "curl"),
    "ipvsadm": _entry(_mode_program, "ipvsadm"),
    "ipset": _entry(_mode_program, "ipset"),
    "nft": _entry(_mode_program, "nft"),
    "ssh": _entry(_ssh, "ssh"),
    "hostname": _entry(_hostname, "hostname"),
    "history": _entry(_history, "history"),
    "clear": _entry(_clear, "clear"),
    "help": _entry(_help, "help"),
}


def _check() -> None:
    """Every program has its summary and help in zh and en (ARCHITECTURE.md, principle 7)."""
    for name, command in COMMANDS.items():
        for lang in ("en", "zh"):
            if not command.summary.get(lang) or not command.help.get(lang):
                raise RuntimeError(f"console command {name}: help text missing in {lang}")
    missing = set(PROGRAM_MODES) - set(COMMANDS)
    if missing:
        raise RuntimeError(f"mode programs without a console entry: {sorted(missing)}")


_check()

"""The console: run what the learner typed or pasted against a lab, as a root shell on a node.

Each job of the input (see shell.py) runs one program of the `COMMANDS` registry. After
each job the logical clock moves one second (plus whatever `kubectl lab advance` moved the
cluster's clock), and if the cluster changed, kube-proxy syncs every node.

Limits: an input above 256 KiB, or a command leaving more than 5,000 rules on a node, is
refused with a message in the learner's language and the lab stays as it was. Nothing here
raises: an unexpected failure is reported as such (`text.py` "internal") and undone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.sim.lab import snapshot
from app.sim.lab.commands import COMMANDS
from app.sim.lab.result import ConsoleResult, Reply
from app.sim.lab.shell import Job, ShellError, jobs
from app.sim.lab.text import say

if TYPE_CHECKING:
    from app.sim.lab.lab import Lab

MAX_INPUT = 256 * 1024
MAX_RULES = 5000
SECONDS_PER_COMMAND = 1.0
_SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "&", "2>&1"}


class _Refused(Exception):
    def __init__(self, result: ConsoleResult) -> None:
        super().__init__(result.error)
        self.result = result


def too_big(text: str, lang: str) -> ConsoleResult | None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= MAX_INPUT:
        return None
    message = say("too_big", lang, size=size // 1024, limit=MAX_INPUT // 1024)
    return ConsoleResult(False, "", message, status=1)


def too_many(node: str, count: int, lang: str) -> ConsoleResult:
    message = say("too_many_rules", lang, node=node, count=count, limit=MAX_RULES)
    return ConsoleResult(False, "", message, status=1)


def run(lab: Lab, line: Any, lang: str = "en") -> ConsoleResult:
    lang = lang if lang in ("en", "zh") else "en"
    line = line if isinstance(line, str) else str(line)
    refused = too_big(line, lang)
    if refused is not None:
        return refused
    lab.console_history.append(line)
    lab.commands.append(line)
    before = snapshot.state(lab)
    version, lab.dirty = lab.cluster.version, False
    try:
        result = _run_jobs(lab, line, lang)
        _check_rules(lab, lang)
    except _Refused as err:
        snapshot.restore_state(lab, before)
        return err.result
    except Exception:  # the last line of defence: report it and leave the lab unharmed
        snapshot.restore_state(lab, before)
        return ConsoleResult(False, "", say("internal", lang), status=1)
    result.changed = lab.dirty or lab.cluster.version != version
    if result.changed:
        lab.push_history(before)
    return result


def _check_rules(lab: Lab, lang: str) -> None:
    for world in lab.nodes.values():
        count = world.rule_count()
        if count > MAX_RULES:
            raise _Refused(too_many(world.name, count, lang))


def _run_jobs(lab: Lab, line: str, lang: str) -> ConsoleResult:
    try:
        todo = jobs(line)
    except ShellError as err:
        return ConsoleResult(False, "", err.text, status=err.status)
    result = ConsoleResult()
    for job in todo:
        reply = _job(lab, job, lang)
        result.output += reply.stdout
        result.error += reply.stderr
        result.traces += reply.traces
        result.clear = result.clear or reply.clear
        result.status = reply.status
        result.ok = result.ok and reply.status == 0
        _merge(result, _after(lab))
    return result


def _job(lab: Lab, job: Job, lang: str) -> Reply:
    name = job.argv[0]
    if _SHELL_OPERATORS.intersection(job.argv):
        return Reply(2, "", say("pipe", lang))
    command = COMMANDS.get(name)
    if command is None:
        names = ", ".join(COMMANDS)
        return Reply(
            127, "", f"bash: {name}: command not found\n" + say("not_found", lang, names=names)
        )
    now = lab.cluster.now
    reply = command.run(lab, job.argv, job.stdin, lang)
    lab.clock += SECONDS_PER_COMMAND + max(0, lab.cluster.now - now)
    return reply


def _after(lab: Lab) -> dict[str, Any] | None:
    """kube-proxy notices a cluster change (its informers) and syncs."""
    report = lab.sync()
    if report is not None:
        lab.last_sync = report
    return report


def _merge(result: ConsoleResult, report: dict[str, Any] | None) -> None:
    if report is None:
        return
    if result.sync is None:
        result.sync = report
        return
    result.sync = {
        "changes": result.sync["changes"] + report["changes"],
        "nodes": result.sync["nodes"] + report["nodes"],
        "summary": {
            lang: f"{result.sync['summary'][lang]}\n{report['summary'][lang]}"
            for lang in ("en", "zh")
        },
    }

"""How the console reads what the learner typed or pasted, as a shell would.

A line is split like bash splits words (shlex); unbalanced quotes get bash's message. A
pasted block becomes several jobs: a line ending in a here-document (`<<EOF`, `<<'EOF'`,
`<<-EOF`) takes the lines up to the terminator as its standard input; a program that reads
standard input when given no file (`iptables-restore`, `kubectl apply -f -`) takes the rest
of the paste; any other line is a job of its own. A leading `sudo` or `$ ` prompt is dropped
(the console is a root shell).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2\s*$")


class ShellError(ValueError):
    """The line cannot be split; `text` is bash's message, `status` its exit status."""

    def __init__(self, text: str, status: int = 2) -> None:
        super().__init__(text)
        self.text, self.status = text, status


@dataclass(frozen=True)
class Job:
    """One command to run: its words, its standard input, and the line as typed."""

    argv: list[str]
    stdin: str
    line: str


def split_words(line: str) -> list[str]:
    """Words of one command line; `#` starts a comment as in bash."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words = list(lexer)
    except ValueError as err:
        quote = "'" if "quotation" in str(err) and line.count("'") % 2 else '"'
        raise ShellError(f"bash: unexpected EOF while looking for matching `{quote}'\n") from None
    while words and words[0] in ("sudo", "$"):
        words = words[1:]
    return words


def reads_stdin(argv: list[str]) -> bool:
    """Does this program read the rest of the paste as its standard input?"""
    if not argv:
        return False
    if argv[0] == "iptables-restore":
        return True
    if argv[0] == "kubectl":
        return (any(a in ("-f", "--filename") for a in argv) and "-" in argv) or "-f-" in argv
    return False


def jobs(text: str) -> list[Job]:
    """The jobs of a typed line or a pasted block (see the module docstring)."""
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[Job] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        heredoc = HEREDOC.search(line)
        if heredoc:
            strip_tabs, end = heredoc.group(1) == "-", heredoc.group(3)
            body, i = _until(lines, i, end, strip_tabs)
            argv = split_words(line[: heredoc.start()])
            if argv:  # bash reads a here-document for an empty command and runs nothing
                out.append(Job(argv, body, line))
            continue
        argv = split_words(line)
        if not argv:
            continue
        if reads_stdin(argv) and i < len(lines):
            out.append(Job(argv, "\n".join(lines[i:]).strip("\n") + "\n", line))
            break
        out.append(Job(argv, "", line))
    return out


def _until(lines: list[str], start: int, end: str, strip_tabs: bool) -> tuple[str, int]:
    """The here-document body up to the `end` line (bash warns if it never comes and takes
    everything)."""
    body = []
    for j in range(start, len(lines)):
        text = lines[j].lstrip("\t") if strip_tabs else lines[j]
        if text == end:
            return "".join(b + "\n" for b in body), j + 1
        body.append(text)
    return "".join(b + "\n" for b in body), len(lines)

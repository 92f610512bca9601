"""What the lab hands back: `ConsoleResult` for a console line, `LabError` for bad API input.

A console line never raises: whatever goes wrong is in `ConsoleResult.error`, worded as the
real tool (iptables, kubectl, curl, bash) would word it. `LabError` is for the programmatic
API only (an unknown scenario or mode, a malformed request), with a message fit for the user
in both languages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class LabError(ValueError):
    """Bad input to the lab API. `message` is English, `messages` holds {"en", "zh"}."""

    def __init__(self, messages: dict[str, str] | str) -> None:
        if isinstance(messages, str):
            messages = {"en": messages, "zh": messages}
        super().__init__(messages["en"])
        self.messages = messages

    @property
    def message(self) -> str:
        return self.messages["en"]

    def text(self, lang: str = "en") -> str:
        return self.messages.get(lang, self.messages["en"])


@dataclass
class ConsoleResult:
    """One console line's outcome.

    * `ok`: exit status 0 (for several jobs in one paste: all of them).
    * `output` / `error`: stdout and stderr, in the real tool's wording.
    * `changed`: the cluster or a node's rules changed (the line can be undone).
    * `sync`: what kube-proxy rewrote after a cluster change (see `sync.py`), or None.
    * `traces`: trace JSON of every request the line sent (curl).
    * `status`: the exit status of the last job; `clear`: the screen should be cleared.
    """

    ok: bool = True
    output: str = ""
    error: str = ""
    changed: bool = False
    sync: dict[str, Any] | None = None
    traces: list[dict[str, Any]] = field(default_factory=list)
    status: int = 0
    clear: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain data for the HTTP API."""
        return {
            "ok": self.ok,
            "output": self.output,
            "error": self.error,
            "changed": self.changed,
            "sync": self.sync,
            "traces": self.traces,
            "status": self.status,
            "clear": self.clear,
        }


@dataclass
class Reply:
    """One job's outcome inside a console line (a command handler's return value)."""

    status: int = 0
    stdout: str = ""
    stderr: str = ""
    traces: list[dict[str, Any]] = field(default_factory=list)
    clear: bool = False

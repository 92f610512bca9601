"""The result of one simulated shell command, shared by every tool the lab imitates.

`iptables`, `kubectl`, `ipvsadm`, `nft` and the rest all answer the way a shell sees a process:
an exit status and two text streams.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommandResult:
    """What a shell would see: exit status, standard output, standard error."""

    status: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 0

"""The one error type of the rule layer, worded and numbered as iptables 1.8.9 does.

iptables prints a parameter problem as `iptables v1.8.9 (nf_tables): MESSAGE` followed by a
`Try ...` hint and exits 2 (xtables.h: PARAMETER_PROBLEM); a kernel-side refusal ("No
chain/target/match by that name.") exits 1, a rejected rule (`RULE_APPEND failed`) exits 4.
`IptablesError.text(tool)` reproduces those texts for `iptables` and `iptables-restore`.
"""

from __future__ import annotations

PROGRAM_VERSION = "v1.8.9 (nf_tables)"

# Exit statuses of iptables(8) (xtables.h: enum xtables_exittype).
OTHER_PROBLEM = 1
PARAMETER_PROBLEM = 2
VERSION_PROBLEM = 3
RESOURCE_PROBLEM = 4


class IptablesError(Exception):
    """A clear, iptables-worded refusal. `kind` says how the real tool frames the message:

    * "param": `iptables v1.8.9 (nf_tables): MSG` plus the `Try ...` hint (status 2);
    * "plain": `iptables: MSG` (status 1, kernel-side lookups);
    * "prefixed": `iptables v1.8.9 (nf_tables): MSG` without the hint;
    * "bare": `MSG` plus the hint (`Bad argument ...`).
    """

    def __init__(self, message: str, status: int = PARAMETER_PROBLEM, kind: str = "param"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind

    def text(self, tool: str = "iptables") -> str:
        """The stderr text the real `tool` prints for this error."""
        if self.kind == "plain":
            return f"{tool}: {self.message}\n"
        head = f"{tool} {PROGRAM_VERSION}: {self.message}\n"
        if self.kind == "bare":
            head = f"{self.message}\n"
        if self.kind in ("param", "bare"):
            head += f"Try `{tool} -h' or '{tool} --help' for more information.\n"
        return head


def param(message: str) -> IptablesError:
    """A parameter problem (bad option, bad value): exit status 2."""
    return IptablesError(message, PARAMETER_PROBLEM, "param")


def ext_param(message: str) -> IptablesError:
    """An extension's own option error; xtables prints it with an extra newline."""
    return IptablesError(message + "\n", PARAMETER_PROBLEM, "param")


def no_such_chain() -> IptablesError:
    """The kernel answer to a lookup of a missing chain (status 1)."""
    return IptablesError("No chain/target/match by that name.", OTHER_PROBLEM, "plain")

"""Network-namespace plumbing for the kernel tests: run a command in a namespace, enter one
from Python, write sysctls, and find namespaces that a crashed run left behind.

Every namespace this package creates is named `kpl<pid>n<counter>-<role>`, so a later run can
tell its own leftovers (a dead pid) from namespaces of a run still in progress.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shlex
import subprocess
from collections.abc import Iterator, Sequence

NETNS_DIR = "/run/netns"
NAME_RE = re.compile(r"^kpl(\d+)n\d+-[a-z]+$")
CLONE_NEWNET = 0x40000000  # sched.h: setns(2) nstype for a network namespace

_libc = ctypes.CDLL(None, use_errno=True)


class KernelError(RuntimeError):
    """A kernel-side step failed (a tool exited non-zero, a trace never completed)."""


def run(
    argv: Sequence[str], *, stdin: str | None = None, check: bool = True, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a tool; with `check`, a non-zero exit becomes a KernelError carrying its stderr."""
    proc = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise KernelError(f"`{shlex.join(argv)}` exited {proc.returncode}: {detail}")
    return proc


def in_ns(ns: str, *argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a tool inside network namespace `ns` (ip-netns(8) exec)."""
    return run(["ip", "netns", "exec", ns, *argv], **kwargs)  # type: ignore[arg-type]


def ip_batch(ns: str | None, commands: Sequence[str]) -> None:
    """Run many `ip` commands in one process (ip(8) -batch): one fork instead of dozens."""
    if commands:
        prefix = ["ip", "-n", ns] if ns else ["ip"]
        run([*prefix, "-batch", "-"], stdin="\n".join(commands) + "\n")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def entered(ns: str) -> Iterator[None]:
    """Move the calling thread into `ns` for the body. A socket created inside keeps that
    namespace for its whole life (network_namespaces(7)), so probes are built this way."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"{NETNS_DIR}/{ns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def write_sysctls(ns: str, values: dict[str, object]) -> None:
    """Write `net.*` sysctls of one namespace through /proc/sys (they are per namespace)."""
    with entered(ns):
        for key, value in values.items():
            path = "/proc/sys/" + key.replace(".", "/")
            try:
                with open(path, "w") as handle:
                    handle.write(f"{value}\n")
            except OSError as exc:
                raise KernelError(f"cannot set sysctl {key}={value}: {exc.strerror}") from exc


def existing() -> list[str]:
    """Names of all namespaces of this package currently present."""
    if not os.path.isdir(NETNS_DIR):
        return []
    return sorted(name for name in os.listdir(NETNS_DIR) if NAME_RE.match(name))


def delete(names: Sequence[str]) -> None:
    """Delete namespaces; a name already gone is not an error."""
    present = [name for name in names if os.path.exists(f"{NETNS_DIR}/{name}")]
    if present:
        ip_batch(None, [f"netns del {name}" for name in present])


def cleanup_leftovers() -> list[str]:
    """Delete the namespaces of runs whose process no longer exists; return their names.

    A run killed with SIGKILL cannot clean up after itself; its namespaces (and an
    xtables-monitor still inside one, which exits when its parent dies) are removed here.
    """
    stale = [
        name
        for name in existing()
        if not os.path.exists(f"/proc/{NAME_RE.match(name).group(1)}")  # type: ignore[union-attr]
    ]
    delete(stale)
    return stale

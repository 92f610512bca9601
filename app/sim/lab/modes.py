"""The kube-proxy modes a lab node can run, as a registry keyed by the mode's flag spelling
(`kube-proxy --proxy-mode=iptables`).

A mode says how a node's rules follow the cluster (`sync`) and which console programs show
its state (`programs`, e.g. `ipvsadm` for IPVS). The console looks programs up here, so a new
mode (ipvs, nftables, userspace) is added by registering it, without touching the console:
until then, `ipvsadm` or `nft` answer that this node runs another mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.sim.lab.lab import Lab
    from app.sim.lab.result import Reply

SyncFn = Callable[["Lab", float], dict[str, Any] | None]
ProgramFn = Callable[["Lab", list[str], str, str], "Reply"]
# (lab, world, node, packet, rng, clock, origin, in_iface, matched_only) -> Trace
TraceFn = Callable[..., Any]
# (lab, node name) -> [(command, its output)]: the mode's own state beside the rules view
ViewsFn = Callable[["Lab", str], list[tuple[str, str]]]


@dataclass(frozen=True)
class Mode:
    """One proxy mode. `sync(lab, now)` brings every node's rules in line with the cluster and
    reports what it rewrote; `watch(lab, now)`, if given, runs after a command that left the
    cluster unchanged (what the proxy notices on the node itself); `programs` maps a console
    program to its handler `(lab, argv, stdin, lang) -> Reply`; `trace(lab, world, node,
    packet, rng, *, clock, origin, in_iface, matched_only) -> Trace`, if given, replaces the
    engine's plain netfilter walk for requests (IPVS's director, the userspace proxy);
    `views(lab, node)` lists console commands and their output that show the mode's own
    state on a node (`ipvsadm -Ln`), for the rules panel."""

    name: str
    title: dict[str, str]
    sync: SyncFn
    programs: dict[str, ProgramFn] = field(default_factory=dict)
    watch: SyncFn | None = None
    trace: TraceFn | None = None
    views: ViewsFn | None = None


# Which mode's state each mode-specific program shows (ipvsadm(8), nft(8), ipset(8)).
PROGRAM_MODES: dict[str, str] = {"ipvsadm": "ipvs", "ipset": "ipvs", "nft": "nftables"}

MODES: dict[str, Mode] = {}


def register(mode: Mode) -> Mode:
    """Add a mode; its programs must be among PROGRAM_MODES (the console knows them)."""
    if not mode.title.get("en") or not mode.title.get("zh"):
        raise ValueError(f"mode {mode.name}: a title in en and zh is required")
    unknown = set(mode.programs) - set(PROGRAM_MODES)
    if unknown:
        raise ValueError(f"mode {mode.name}: add {sorted(unknown)} to PROGRAM_MODES")
    MODES[mode.name] = mode
    return mode


def _iptables_sync(lab: Lab, now: float) -> dict[str, Any] | None:
    from app.sim.lab.sync import sync_all

    return sync_all(lab, now)


def _iptables_watch(lab: Lab, now: float) -> dict[str, Any] | None:
    from app.sim.lab.sync import watch_canaries

    return watch_canaries(lab, now)


register(
    Mode(
        "iptables",
        {"en": "iptables mode", "zh": "iptables 模式"},
        _iptables_sync,
        watch=_iptables_watch,
    )
)


def _register_modes() -> None:
    """The other modes live in their own modules (mode_<name>.py) and register on import."""
    import importlib

    for name in ("mode_ipvs", "mode_userspace", "mode_nftables"):
        importlib.import_module(f"app.sim.lab.{name}")


_register_modes()

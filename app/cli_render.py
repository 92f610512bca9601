"""`kube-proxy-lab render`: the rules kube-proxy would write for a cluster.

    kube-proxy-lab render --cluster cluster.yaml [--mode iptables] [--format restore|save]
                          [--canonical] [--step N]

`cluster.yaml` uses the kube-proxy corpus schema (node, proxy, services, endpointSlices).
`--format restore` prints kube-proxy's iptables-restore input for a first, full sync
(`--canonical`: in the order the upstream tests compare it); `--format save` prints what
`iptables-save` shows on the node afterwards. `--step N` applies the file's `steps:` up to
step N, one partial sync each, and prints the last sync. Bad input: a message on stderr,
exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from app.cli import Command, UsageError, register
from app.sim.kubeproxy.iptables import render_restore
from app.sim.kubeproxy.ipvs_cli import render_ipvs_text
from app.sim.kubeproxy.nftables_cli import render_nftables_text
from app.sim.kubeproxy.options import StateError
from app.sim.kubeproxy.save import render_save
from app.sim.kubeproxy.state import ProxyState

MODES = ("iptables", "nftables", "ipvs", "userspace")
IMPLEMENTED = ("iptables", "ipvs", "nftables")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `render` options (CONTRACTS.md "render")."""
    parser.add_argument("--cluster", required=True, metavar="FILE", help="cluster.yaml")
    parser.add_argument(
        "--mode", choices=MODES, default=None, help="kube-proxy mode (default: the file's mode)"
    )
    parser.add_argument(
        "--format",
        choices=("restore", "save"),
        default="restore",
        help="iptables-restore input (default) or the node's iptables-save afterwards",
    )
    parser.add_argument(
        "--canonical",
        action="store_true",
        help="restore input in the upstream tests' canonical order",
    )
    parser.add_argument(
        "--step",
        type=int,
        default=1,
        metavar="N",
        help="sync after the file's steps up to N (partial syncs after the first)",
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `render` on an argparse sub-parser set (for callers without `app.cli`)."""
    parser = subparsers.add_parser("render", help=HELP, description=HELP)
    add_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def load_cluster(path: str) -> dict[str, Any]:
    """Read cluster.yaml; every failure becomes a UsageError with the reason."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UsageError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping with node, proxy, services, endpointSlices")
    return data


def render_text(
    data: dict[str, Any], mode: str, fmt: str, canonical: bool = False, step: int = 1
) -> str:
    """The text `render` prints for an already loaded cluster."""
    if mode not in IMPLEMENTED:
        raise UsageError(f"mode {mode} is not implemented yet")
    if mode == "ipvs":
        try:
            return render_ipvs_text(data, step)
        except StateError as err:
            raise UsageError(str(err)) from None
    if mode == "nftables":  # `nft list table ip kube-proxy`; --canonical: knftables' Dump
        try:
            return render_nftables_text(data, step, canonical)
        except StateError as err:
            raise UsageError(str(err)) from None
    try:
        state = ProxyState.from_dict(data)
        result = render_restore(state)
        for change in _steps(data, step):
            state.apply_changes(change)
            result = render_restore(state, full=False, previous=result)
        if fmt == "save":
            return render_save(state, result)
    except StateError as err:
        raise UsageError(str(err)) from None
    return result.canonical() if canonical else result.restore


def _steps(data: dict[str, Any], upto: int) -> list[dict[str, Any]]:
    """The `steps:` entries after the first (the initial sync) up to step `upto`."""
    steps = data.get("steps") or []
    if upto == 1:
        return []
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise UsageError("steps: expected a list of mappings")
    numbers = [s.get("step") for s in steps]
    if upto not in numbers:
        raise UsageError(f"--step {upto}: the file has steps {numbers or 'none'}")
    return [s for s in steps if s.get("step") != 1][: numbers.index(upto)]


def run(args: argparse.Namespace) -> int:
    data = load_cluster(args.cluster)
    mode = args.mode or str(data.get("mode") or "iptables")
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
    sys.stdout.write(render_text(data, mode, args.format, args.canonical, args.step))
    return 0


HELP = "print the rules kube-proxy writes for a cluster"
register(Command("render", HELP, add_arguments, run))

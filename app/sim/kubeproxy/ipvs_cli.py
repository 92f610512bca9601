"""`kube-proxy-lab render --mode ipvs`: `ipvsadm -Ln`, `ipset list` and the iptables-restore
input of one IPVS-mode sync of a cluster file (CONTRACTS.md `render`). Bad input raises
StateError with a message for the user."""

from __future__ import annotations

from typing import Any

from app.sim.kubeproxy.ipvs import IpvsOptions, render_ipvs
from app.sim.kubeproxy.state import ProxyState


def render_ipvs_text(data: dict[str, Any], step: int = 1) -> str:
    """The text after the file's steps up to `step` (IPVS mode reconciles everything on
    every sync, so only the state at that step matters)."""
    state = ProxyState.from_dict(data)
    options = IpvsOptions.from_dict(data)
    for change in data.get("steps") or []:
        number = change.get("step", 1) if isinstance(change, dict) else 1
        if isinstance(number, int) and 1 < number <= step:
            state.apply_changes(change)
    return render_ipvs(state, options).text()

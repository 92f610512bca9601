"""What `iptables-save` shows on the node after kube-proxy's sync.

kube-proxy's restore input is not what an administrator sees: `iptables-save` prints every
table the kernel has, the builtin chains with their policies and counters, the jumps kube-proxy
put into them, and each rule re-ordered the way iptables stores it (`-d 10.0.0.1/32 -p tcp
-m comment ... -m tcp --dport 80`, `MARK --set-xmark`, `-m recent ... --mask ... --rsource`).
The node's tables are loaded into the netfilter rule model and printed by its iptables-save
renderer, which follows iptables 1.8.9 (nf_tables) byte for byte.
"""

from __future__ import annotations

from app.sim.kubeproxy.iptables import SyncResult, render_restore
from app.sim.kubeproxy.iptables_node import node_text
from app.sim.kubeproxy.options import StateError
from app.sim.kubeproxy.state import ProxyState
from app.sim.netfilter import render
from app.sim.netfilter.errors import IptablesError
from app.sim.netfilter.model import Ruleset
from app.sim.netfilter.parse import apply_restore

__all__ = ["render_save", "save_ruleset"]


def save_ruleset(result: SyncResult) -> Ruleset:
    """The node after the sync as a netfilter `Ruleset` (what the packet engine walks).
    Raises StateError if the rule model cannot hold one of the rules (it names which)."""
    ruleset = Ruleset()
    try:
        apply_restore(ruleset, node_text(result.node))
    except IptablesError as err:
        raise StateError(f"the simulated node cannot load these rules: {err.message}") from None
    return ruleset


def render_save(state: ProxyState, result: SyncResult | None = None) -> str:
    """`iptables-save` on the node after `result` (by default: a first, full sync of `state`)."""
    if state.options.ipv6:
        raise StateError("the iptables-save view is available for IPv4 clusters only")
    return render.render_save(save_ruleset(result or render_restore(state)))

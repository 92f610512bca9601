"""nftables mode on the lab's clusters: the scenarios' requests, traced through kube-proxy's
nftables table, reach the same endpoints with the same shares as through iptables mode."""

from __future__ import annotations

import pytest

from app.sim.cluster.addressing import request
from app.sim.kubeproxy.iptables import render_restore
from app.sim.kubeproxy.nftables import render_nftables
from app.sim.kubeproxy.nftables_trace import trace_sync_json
from app.sim.kubeproxy.save import render_save
from app.sim.kubeproxy.state import ProxyState
from app.sim.netfilter.engine import trace_json
from app.sim.scenarios import build, seed_cluster


def _shares(data: dict) -> dict:
    shares: dict = {}
    for branch in data["branches"]:
        key = (branch["dnat_to"], branch["verdict"])
        shares[key] = shares.get(key, 0.0) + branch["probability"]
    return {k: round(v, 6) for k, v in shares.items()}


@pytest.mark.parametrize(
    ("scenario", "source", "destination"),
    [
        ("seed", "pod/my-first-deploy-785c6c79d9-7bgf5", "svc/my-first-deploy:8080"),
        ("seed", "external", "svc/my-first-deploy:8080"),
        ("traffic-policy-local", "external", "node/node1:30090"),
        ("traffic-policy-local", "external", "node/node3:30090"),
    ],
)
def test_nftables_and_iptables_modes_agree(scenario: str, source: str, destination: str) -> None:
    cluster = seed_cluster() if scenario == "seed" else build(scenario)
    req = request(cluster, source, destination)
    state = ProxyState.from_dict(cluster.to_proxy_dict(req.node))
    nft = trace_sync_json(render_nftables(state), req.packet, all_branches=True)
    ipt = trace_json(render_save(state, render_restore(state)), req.packet, all_branches=True)
    assert _shares(nft) == _shares(ipt)
    assert nft["final"]["verdict"] == ipt["final"]["verdict"]
    assert any(s["table"] == "kube-proxy" for s in nft["steps"])


def test_tracing_a_sync_leaves_it_unchanged() -> None:
    cluster = seed_cluster()
    req = request(cluster, "external", "svc/my-first-deploy:8080")
    sync = render_nftables(ProxyState.from_dict(cluster.to_proxy_dict(req.node)))
    before = sync.listing()
    trace_sync_json(sync, req.packet, all_branches=True)
    assert sync.listing() == before

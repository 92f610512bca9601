"""kube-proxy's rules driven through the packet engine: for every lab scenario, a pod's request
to each ClusterIP reaches exactly the endpoints the flow analysis lists, each with the share
`-m statistic` gives it (about 1/n)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from app.sim.conntrack import Conntrack
from app.sim.kubeproxy.flows import trace_flow
from app.sim.kubeproxy.iptables import render_restore
from app.sim.kubeproxy.save import save_ruleset
from app.sim.kubeproxy.state import ProxyState
from app.sim.netfilter.branches import endpoint_shares
from app.sim.netfilter.engine import explore_branches
from app.sim.node import Node
from app.sim.packet import Packet
from app.sim.scenarios import SCENARIOS


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_engine_reaches_the_endpoints_the_flow_analysis_lists(scenario: str) -> None:
    cluster = SCENARIOS[scenario].build(0)
    node_name = sorted(cluster.nodes)[-1]
    data = cluster.to_proxy_dict(node_name)
    result = render_restore(ProxyState.from_dict(data))
    ruleset = save_ruleset(result)
    node = Node(node_ip=f"{data['node']['primaryIP']}/24", pod_cidr=["10.244.0.0/16"])
    for svc in data["services"]:
        port = svc["ports"][0]
        if port["protocol"] != "TCP":
            continue
        src, dst, dport = "10.244.7.7", svc["clusterIP"], port["port"]
        flow = trace_flow(result.node, src=src, proto="tcp", dst=dst, dport=dport)
        packet = Packet(src=src, dst=dst, proto="tcp", sport=40000, dport=dport)
        branches = explore_branches(
            ruleset, packet, node, Conntrack(), origin="external", in_iface="cni0"
        )
        shares = endpoint_shares(branches)
        assert sorted(k for k in shares if k) == sorted(flow.endpoints), svc["name"]
        for share in shares.values():
            assert abs(share - Fraction(1, len(shares))) < Fraction(1, 10**6)

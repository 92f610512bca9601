"""internalTrafficPolicy and externalTrafficPolicy both Local on a NodePort Service whose only
endpoint runs on another node: this node has no endpoint of its own, yet its pods and the
node itself still reach the remote one through the NodePort (the KUBE-EXT short-circuit to
KUBE-SVC, pkg/proxy/serviceport.go UsesClusterEndpoints), while outside clients are dropped."""

from __future__ import annotations

from app.sim.kubeproxy.iptables import render_restore
from app.sim.kubeproxy.save import render_save
from app.sim.kubeproxy.state import ProxyState
from app.sim.netfilter.engine import trace_json

CLUSTER = {
    "proxy": {"localDetector": {"mode": "ClusterCIDR", "cidr": "10.244.0.0/16"}},
    "node": {"name": "node-a", "primaryIP": "192.168.49.3",
             "interfaces": {"eth0": ["192.168.49.3/24"]}},
    "services": [{"namespace": "ns", "name": "web", "type": "NodePort", "clusterIP": "10.96.0.10",
                  "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
                  "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]}],
    "endpointSlices": [{"namespace": "ns", "name": "web-1", "service": "web",
                        "addressType": "IPv4",
                        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                        "endpoints": [{"addresses": ["10.244.2.5"], "nodeName": "node-b"}]}],
}  # fmt: skip
NODE = {"node_ip": "192.168.49.3/24", "pod_cidr": ["10.244.1.0/24"], "pod_iface": "cni0",
        "pod_iface_ip": "10.244.1.1/24"}  # fmt: skip


def _rules() -> str:
    state = ProxyState.from_dict(CLUSTER)
    result = render_restore(state)
    return render_save(state, result)  # raises if a jump names a chain the sync left out


def test_the_short_circuit_chain_exists_and_holds_the_remote_endpoint() -> None:
    rules = _rules()
    svc_chains = [
        line.split()[0][1:] for line in rules.splitlines() if line.startswith(":KUBE-SVC-")
    ]
    assert len(svc_chains) == 1
    assert f"-j {svc_chains[0]}" in rules  # KUBE-EXT's "pod traffic" and "route LOCAL" rules
    assert "--to-destination 10.244.2.5:8080" in rules


def test_pods_and_the_node_reach_the_remote_endpoint_outsiders_are_dropped() -> None:
    rules = _rules()
    to_nodeport = {"dst": "192.168.49.3", "proto": "tcp", "sport": 40000, "dport": 30080}
    from_pod = {**NODE, **to_nodeport, "origin": "external", "src": "10.244.1.7",
                "in_iface": "cni0"}  # fmt: skip
    from_node = {**NODE, **to_nodeport, "origin": "local", "src": "192.168.49.3"}
    for packet in (from_pod, from_node):
        final = trace_json(rules, packet)["final"]
        assert (final["packet"]["dst"], final["packet"]["dport"]) == ("10.244.2.5", 8080)
    outsider = {**NODE, **to_nodeport, "origin": "external", "src": "192.168.49.100"}
    trace = trace_json(rules, outsider)
    assert trace["final"]["verdict"] == "DROP"
    last = [s for s in trace["steps"] if s["matched"] and s["kind"] == "rule"][-1]
    assert last["chain"] == "KUBE-EXTERNAL-SERVICES"
    assert '"ns/web:http has no local endpoints"' in last["rule_text"]

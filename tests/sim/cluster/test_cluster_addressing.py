"""From lab names to engine packets, and the whole learner's world end to end: the cluster's
Services rendered by kube-proxy, a request traced through the node's netfilter, landing on a
ready endpoint of the right Service."""

from __future__ import annotations

import pytest
from cluster_builders import kubectl

from app.sim.cluster.addressing import request, resolve_destination, service_at, who_has
from app.sim.cluster.errors import ClusterError
from app.sim.kubeproxy.iptables import render_restore
from app.sim.kubeproxy.save import render_save
from app.sim.kubeproxy.state import ProxyState
from app.sim.netfilter.engine import trace_json
from app.sim.netfilter.packet_input import parse_packet_json
from app.sim.scenarios import build, seed_cluster


def _final(cluster, req, seed: int) -> dict:  # type: ignore[no-untyped-def]
    state = ProxyState.from_dict(cluster.to_proxy_dict(req.node))
    rules = render_save(state, render_restore(state))
    return trace_json(rules, req.packet, seed=seed, matched_only=True)["final"]


def test_pod_to_cluster_ip_packet() -> None:
    cluster = seed_cluster()
    req = request(cluster, "pod/my-first-deploy-785c6c79d9-7bgf5", "svc/my-first-deploy:8080")
    assert req.node == "node1"
    assert req.service == ("default", "my-first-deploy")
    assert req.packet == {
        "origin": "external",
        "src": "10.244.1.137",
        "in_iface": "cni0",
        "dst": "10.97.139.74",
        "proto": "tcp",
        "sport": 40000,
        "dport": 8080,
        "node_ip": "192.168.49.3/24",
        "pod_cidr": ["10.244.1.0/24"],
        "pod_iface": "cni0",
        "pod_iface_ip": "10.244.1.1/24",
    }
    parse_packet_json(req.packet)  # the engine accepts it as is


def test_sources_and_destinations() -> None:
    cluster = build("multi-node")
    from_node = request(cluster, "node/node2", "svc/web-nodeport:http")
    assert (from_node.node, from_node.packet["origin"], from_node.packet["src"]) == (
        "node2",
        "local",
        "192.168.49.4",
    )
    external = request(cluster, "external", "node/node3:30080")
    assert (external.node, external.packet["in_iface"], external.packet["dst"]) == (
        "node3",
        "eth0",
        "192.168.49.5",
    )
    assert external.service == ("default", "web-nodeport")
    lb_ip = cluster.services[("default", "web-lb")].load_balancer_ingress[0]
    to_lb = request(cluster, "external", f"{lb_ip}:80", proto="UDP")
    assert (to_lb.node, to_lb.packet["proto"], to_lb.service) == ("node1", "udp", None)
    assert who_has(cluster, lb_ip) == "svc/web-lb"
    assert who_has(cluster, "192.168.49.5") == "node/node3"
    assert who_has(cluster, "8.8.8.8") == ""
    assert service_at(cluster, "192.168.49.2", 30080) == ("default", "web-nodeport")


@pytest.mark.parametrize(
    ("source", "destination", "error"),
    [
        ("pod/nope", "svc/web-lb:80", 'pods "nope" not found'),
        ("external", "svc/web-lb:443", 'service "web-lb" has no port "443" (ports: 80 (http))'),
        ("external", "web:80", 'bad destination "web:80"'),
        ("external", "10.0.0.1:99999", "port out of range"),
        ("somewhere", "10.0.0.1:80", 'bad source "somewhere"'),
        ("external", "svc/nope:80", 'services "nope" not found'),
    ],
)
def test_bad_requests_are_explained(source: str, destination: str, error: str) -> None:
    with pytest.raises(ClusterError) as err:
        request(build("multi-node"), source, destination)
    assert error in err.value.message


def test_headless_service_has_no_destination() -> None:
    cluster = seed_cluster()
    kubectl(cluster, "create service clusterip hl --clusterip=None --tcp=80")
    with pytest.raises(ClusterError, match="no cluster IP"):
        resolve_destination(cluster, "svc/hl:80")


def test_requests_land_on_ready_endpoints_only() -> None:
    """A pod failing its readiness probe never receives traffic; the others all do."""
    cluster = build("multi-node")
    victim = sorted(cluster.pods.values(), key=lambda p: p.name)[0]
    kubectl(cluster, f"lab set-ready pod/{victim.name} false")
    ready = {p.ip for p in cluster.pods.values() if p.ready}
    client = sorted(cluster.pods)[1][1]
    req = request(cluster, f"pod/{client}", "svc/web-lb:http")
    landed = {_final(cluster, req, seed)["packet"]["dst"] for seed in range(40)}
    assert landed == ready
    assert victim.ip not in landed


def test_external_traffic_policy_local_drops_on_a_node_without_endpoints() -> None:
    cluster = build("traffic-policy-local")
    with_pods = request(cluster, "external", "node/node1:30090")
    without = request(cluster, "external", "node/node3:30090")
    assert _final(cluster, with_pods, 0)["delivered"] == "out"
    assert _final(cluster, without, 0)["verdict"] == "DROP"

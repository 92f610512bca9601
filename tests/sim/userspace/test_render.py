"""userspace mode's rules (pkg/proxy/userspace/proxier.go, 2017): portals per ClusterIP
service port, NodePort rules, proxy ports kept across syncs; the rules load and route."""

from __future__ import annotations

from app.sim.kubeproxy.state import ProxyState
from app.sim.kubeproxy.userspace import (
    PORT_FIRST,
    PORT_LAST,
    PORTALS_CONTAINER,
    PORTALS_HOST,
    render_userspace,
)
from app.sim.netfilter.parse import parse_restore
from app.sim.scenarios import build, random_cluster


def _state(cluster, node="node1") -> ProxyState:
    return ProxyState.from_dict(cluster.to_proxy_dict(node))


def test_seed_portals_redirect_pods_and_dnat_the_node():
    sync = render_userspace(_state(build("seed", 1)), seed=1)
    (portal,) = sync.portals
    assert (portal.cluster_ip, portal.port, portal.protocol) == ("10.97.139.74", 8080, "tcp")
    assert PORT_FIRST <= portal.proxy_port <= PORT_LAST
    assert sorted(portal.endpoints) == ["10.244.1.137:8080", "10.244.1.138:8080"]
    p = portal.proxy_port
    assert (
        f"-A {PORTALS_CONTAINER} -d 10.97.139.74/32 -p tcp -m comment --comment "
        f'"default/my-first-deploy" -m tcp --dport 8080 -j REDIRECT --to-ports {p}'
    ) in sync.restore
    assert f"-j DNAT --to-destination 192.168.49.3:{p}" in sync.restore
    assert f"-A {PORTALS_HOST} -d 10.97.139.74/32" in sync.restore
    parse_restore(sync.restore)  # iptables-restore accepts it


def test_proxy_ports_are_distinct_and_kept_by_the_next_sync():
    cluster = random_cluster(4, services=40)
    first = render_userspace(_state(cluster, sorted(cluster.nodes)[1]), seed=4)
    ports = [p.proxy_port for p in first.portals]
    assert len(set(ports)) == len(ports) == 40
    again = render_userspace(
        _state(cluster, sorted(cluster.nodes)[1]), seed=99, previous=first.ports()
    )
    assert again.ports() == first.ports()


def test_node_ports_get_container_host_and_non_local_rules():
    cluster = random_cluster(2, services=20)
    sync = render_userspace(_state(cluster, sorted(cluster.nodes)[1]), seed=2)
    node_ports = [p for p in sync.portals if p.node_port]
    assert node_ports  # a share of random_cluster's Services are NodePort
    p = node_ports[0]
    assert "-A KUBE-NODEPORT-CONTAINER -p tcp" in sync.restore
    assert f"--dport {p.node_port} -j REDIRECT --to-ports {p.proxy_port}" in sync.restore
    assert "-A KUBE-NODEPORT-NON-LOCAL -p tcp" in sync.restore
    assert f"--dport {p.proxy_port} -j ACCEPT" in sync.restore


def test_not_ready_endpoints_are_left_out():
    cluster = build("readiness", 1)
    sync = render_userspace(_state(cluster, sorted(cluster.nodes)[-1]), seed=1)
    data = cluster.to_proxy_dict(sorted(cluster.nodes)[-1])
    not_ready = {
        f"{e['addresses'][0]}"
        for s in data["endpointSlices"]
        for e in s["endpoints"]
        if not e["ready"]
    }
    listed = {ep.rsplit(":", 1)[0] for p in sync.portals for ep in p.endpoints}
    assert not_ready and not (not_ready & listed)

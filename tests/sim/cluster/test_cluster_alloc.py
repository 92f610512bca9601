"""IP and port allocation: ranges, determinism and the API server's refusals."""

from __future__ import annotations

import ipaddress

import pytest
from cluster_builders import kubectl, two_workers

from app.sim.cluster.alloc import pod_template_hash, safe_encode
from app.sim.cluster.errors import AlreadyExists, Invalid
from app.sim.cluster.objects import Service, ServicePort


def _svc(cluster, name: str, type_: str = "ClusterIP", **kw: object) -> Service:  # type: ignore[no-untyped-def]
    node_port = int(kw.pop("node_port", 0))
    svc = Service(
        cluster.new_meta(name),
        type=type_,
        selector={"app": name},
        ports=[ServicePort(80, node_port=node_port)],
    )
    for key, value in kw.items():
        setattr(svc, key, value)
    return cluster.create_service(svc)


def test_cluster_ips_come_from_the_service_cidr_and_differ() -> None:
    cluster = two_workers()
    ips = [_svc(cluster, f"s{i}").cluster_ip for i in range(50)]
    network = ipaddress.ip_network("10.96.0.0/12")
    assert all(ipaddress.ip_address(ip) in network for ip in ips)
    assert len(set(ips)) == 50
    assert "10.96.0.0" not in ips


def test_cluster_ips_are_deterministic_given_the_seed() -> None:
    first = [_svc(two_workers(seed=1), "a").cluster_ip for _ in range(2)]
    other = _svc(two_workers(seed=2), "a").cluster_ip
    assert first[0] == first[1]
    assert other != first[0]


def test_requested_cluster_ip_already_allocated() -> None:
    cluster = two_workers()
    _svc(cluster, "a", cluster_ip="10.96.0.10")
    with pytest.raises(Invalid) as err:
        _svc(cluster, "b", cluster_ip="10.96.0.10")
    assert str(err.value) == (
        'The Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: '
        "failed to allocate IP 10.96.0.10: provided IP is already allocated"
    )


def test_requested_cluster_ip_out_of_range() -> None:
    cluster = two_workers()
    with pytest.raises(Invalid) as err:
        _svc(cluster, "b", cluster_ip="192.168.1.1")
    assert (
        "the provided IP (192.168.1.1) is not in the valid range. The range of valid IPs is "
        "10.96.0.0/12" in str(err.value)
    )


def test_node_port_already_allocated_is_refused_with_api_wording() -> None:
    cluster = two_workers()
    _svc(cluster, "a", "NodePort", node_port=30080)
    result = kubectl(cluster, "get svc")
    assert "80:30080/TCP" in result.stdout
    with pytest.raises(Invalid) as err:
        _svc(cluster, "x", "NodePort", node_port=30080)
    assert str(err.value) == (
        'The Service "x" is invalid: spec.ports[0].nodePort: Invalid value: 30080: '
        "provided port is already allocated"
    )
    assert ("default", "x") not in cluster.services


def test_node_port_out_of_range() -> None:
    cluster = two_workers()
    with pytest.raises(Invalid) as err:
        _svc(cluster, "x", "NodePort", node_port=80)
    assert str(err.value).endswith(
        "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"
    )


def test_failed_create_gives_back_what_it_took() -> None:
    cluster = two_workers()
    _svc(cluster, "a", "NodePort", node_port=30080)
    svc = Service(
        cluster.new_meta("b"),
        type="NodePort",
        ports=[
            ServicePort(80, name="x", node_port=30081),
            ServicePort(81, name="y", node_port=30080),
        ],
    )
    with pytest.raises(Invalid):
        cluster.create_service(svc)
    assert _svc(cluster, "c", "NodePort", node_port=30081).ports[0].node_port == 30081


def test_deleting_a_service_frees_its_ip_and_node_port() -> None:
    cluster = two_workers()
    _svc(cluster, "a", "NodePort", node_port=30080, cluster_ip="10.96.0.20")
    cluster.delete_service("a")
    again = _svc(cluster, "b", "NodePort", node_port=30080, cluster_ip="10.96.0.20")
    assert (again.cluster_ip, again.ports[0].node_port) == ("10.96.0.20", 30080)


def test_allocated_node_ports_are_in_range_and_distinct() -> None:
    cluster = two_workers()
    ports = [_svc(cluster, f"n{i}", "NodePort").ports[0].node_port for i in range(40)]
    assert all(30000 <= p <= 32767 for p in ports)
    assert len(set(ports)) == 40


def test_load_balancer_gets_ingress_ip_and_health_check_port_when_local() -> None:
    cluster = two_workers(lb_pool="192.168.49.240/30")
    svc = _svc(cluster, "lb", "LoadBalancer", external_traffic_policy="Local")
    assert svc.load_balancer_ingress == ["192.168.49.240"]
    assert 30000 <= svc.health_check_node_port <= 32767
    assert svc.ports[0].node_port and svc.ports[0].node_port != svc.health_check_node_port


def test_load_balancer_without_pool_stays_pending() -> None:
    cluster = two_workers()
    _svc(cluster, "lb", "LoadBalancer")
    assert "<pending>" in kubectl(cluster, "get svc lb").stdout


def test_pod_ips_come_from_each_nodes_slash_24_in_order() -> None:
    cluster = two_workers()
    cluster.create_deployment("web", "nginx", replicas=4)
    by_node = sorted((p.node_name, p.ip) for p in cluster.pods.values())
    assert by_node == [
        ("node1", "10.244.1.2"),
        ("node1", "10.244.1.3"),
        ("node2", "10.244.2.2"),
        ("node2", "10.244.2.3"),
    ]


def test_duplicate_names_are_refused() -> None:
    cluster = two_workers()
    _svc(cluster, "a")
    with pytest.raises(AlreadyExists) as err:
        _svc(cluster, "a")
    assert str(err.value) == 'Error from server (AlreadyExists): services "a" already exists'


def test_validation_reports_every_cause() -> None:
    cluster = two_workers()
    svc = Service(
        cluster.new_meta("bad"), type="ClusterIP", ports=[ServicePort(0, "ICMP", node_port=30001)]
    )
    with pytest.raises(Invalid) as err:
        cluster.create_service(svc)
    text = str(err.value)
    assert text.startswith('The Service "bad" is invalid: [')
    assert "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive" in text
    assert 'spec.ports[0].protocol: Unsupported value: "ICMP"' in text
    assert "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'" in text


def test_pod_template_hash_has_the_safe_alphabet_shape() -> None:
    value = pod_template_hash({"containers": [{"image": "nginx"}]})
    assert set(value) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert value == pod_template_hash({"containers": [{"image": "nginx"}]})
    assert value != pod_template_hash({"containers": [{"image": "httpd"}]})
    # rand.SafeEncodeString maps decimal digits onto these ten letters/digits
    assert safe_encode("0123456789") == "456789bcdf"

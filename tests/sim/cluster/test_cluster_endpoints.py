"""The endpoints controllers: ready/serving/terminating exactly as Kubernetes sets them."""

from __future__ import annotations

from cluster_builders import kubectl, two_workers

from app.sim.cluster.cluster import Cluster
from app.sim.cluster.objects import Container, ContainerPort, Pod, Service, ServicePort


def _web(cluster: Cluster, replicas: int = 3, target: int | str = 80) -> Service:
    container = Container("nginx", "nginx:1.25", [ContainerPort(80, "http")])
    cluster.create_deployment("web", "nginx:1.25", replicas=replicas, containers=[container])
    svc = Service(
        cluster.new_meta("web"),
        selector={"app": "web"},
        ports=[ServicePort(80, target_port=target)],
    )
    return cluster.create_service(svc)


def _conditions(cluster: Cluster) -> dict[str, tuple[bool, bool, bool]]:
    return {
        e.pod_name: (e.ready, e.serving, e.terminating)
        for s in cluster.slices.values()
        for e in s.endpoints
    }


def test_every_ready_pod_is_a_ready_endpoint() -> None:
    cluster = two_workers()
    _web(cluster)
    conditions = _conditions(cluster)
    assert len(conditions) == 3
    assert set(conditions.values()) == {(True, True, False)}
    slc = next(iter(cluster.slices.values()))
    assert slc.meta.labels["kubernetes.io/service-name"] == "web"
    assert [(p.name, p.port, p.protocol) for p in slc.ports] == [("", 80, "TCP")]


def test_failing_readiness_probe_leaves_the_ready_set_and_comes_back() -> None:
    cluster = two_workers()
    _web(cluster)
    victim = sorted(cluster.pods)[0][1]
    cluster.set_pod_ready(victim, False)
    assert _conditions(cluster)[victim] == (False, False, False)
    assert sum(ready for ready, _, _ in _conditions(cluster).values()) == 2
    assert cluster.pods[("default", victim)].phase == "Running"  # still running, just not ready
    cluster.set_pod_ready(victim, True)
    assert _conditions(cluster)[victim] == (True, True, False)


def test_terminating_pod_is_serving_but_not_ready_until_it_is_gone() -> None:
    cluster = two_workers()
    _web(cluster)
    victim = sorted(cluster.pods)[0][1]
    cluster.delete_pod(victim, wait=False)  # 30 s grace period on the logical clock
    assert _conditions(cluster)[victim] == (False, True, True)
    assert len(_conditions(cluster)) == 4  # the ReplicaSet already started a replacement
    cluster.advance(29)
    assert victim in _conditions(cluster)
    cluster.advance(1)
    assert victim not in _conditions(cluster)
    assert len(_conditions(cluster)) == 3


def test_terminating_and_failing_pod_is_neither_ready_nor_serving() -> None:
    cluster = two_workers()
    _web(cluster)
    victim = sorted(cluster.pods)[0][1]
    cluster.set_pod_ready(victim, False)
    cluster.delete_pod(victim, wait=False)
    assert _conditions(cluster)[victim] == (False, False, True)


def test_legacy_endpoints_drop_terminating_and_list_unready_apart() -> None:
    cluster = two_workers()
    _web(cluster, replicas=2)
    first, second = (name for _, name in sorted(cluster.pods))
    cluster.set_pod_ready(first, False)
    cluster.delete_pod(second, wait=False)
    out = kubectl(cluster, "get endpoints web -o json").stdout
    assert '"notReadyAddresses"' in out
    pods = cluster.pods
    assert pods[("default", second)].ip not in out  # terminating: not in v1 Endpoints at all
    assert pods[("default", first)].ip in out


def test_named_target_port_is_resolved_per_pod() -> None:
    cluster = two_workers()
    svc = Service(
        cluster.new_meta("mixed"),
        selector={"tier": "be"},
        ports=[ServicePort(80, name="web", target_port="http")],
    )
    cluster.create_service(svc)
    for name, port in (("a", 8080), ("b", 9090), ("c", 8080)):
        container = Container("app", "img", [ContainerPort(port, "http")])
        cluster.create_pod(Pod(cluster.new_meta(name, labels={"tier": "be"}), [container]))
    bare = Container("app", "img", [ContainerPort(7000, "other")])
    cluster.create_pod(Pod(cluster.new_meta("d", labels={"tier": "be"}), [bare]))
    by_port = {
        tuple(p.port for p in s.ports): sorted(e.pod_name for e in s.endpoints)
        for s in cluster.slices.values()
    }
    # one slice per resolved port number; a pod without the named port gets a port-less slice
    assert by_port == {(8080,): ["a", "c"], (9090,): ["b"], (): ["d"]}
    assert {s.ports[0].name for s in cluster.slices.values() if s.ports} == {"web"}


def test_named_target_port_matches_protocol_too() -> None:
    cluster = two_workers()
    svc = Service(
        cluster.new_meta("dns"), selector={"k": "dns"}, ports=[ServicePort(53, "UDP", "dns", "dns")]
    )
    cluster.create_service(svc)
    tcp_only = Container("c", "img", [ContainerPort(5353, "dns", "TCP")])
    cluster.create_pod(Pod(cluster.new_meta("p", labels={"k": "dns"}), [tcp_only]))
    (slc,) = cluster.slices.values()
    assert slc.ports == []


def test_publish_not_ready_addresses_keeps_unready_pods_ready() -> None:
    cluster = two_workers()
    svc = _web(cluster, replicas=2)
    replacement = Service(svc.meta, selector=svc.selector, ports=svc.ports, publish_not_ready=True)
    cluster.replace_service(replacement)
    victim = sorted(cluster.pods)[0][1]
    cluster.set_pod_ready(victim, False)
    assert _conditions(cluster)[victim] == (True, False, False)


def test_relabelled_pod_leaves_the_service() -> None:
    cluster = two_workers()
    _web(cluster, replicas=1)
    (pod_key,) = cluster.pods
    cluster.label_pod(pod_key[1], {"app": "debug"}, overwrite=True)
    names = set(_conditions(cluster))
    assert pod_key[1] not in names  # the ReplicaSet also replaced it, so one endpoint remains
    assert len(names) == 1


def test_service_without_selector_gets_no_slices_and_headless_does() -> None:
    cluster = two_workers()
    _web(cluster, replicas=1)
    cluster.create_service(Service(cluster.new_meta("manual"), ports=[ServicePort(80)]))
    headless = Service(
        cluster.new_meta("hl"), selector={"app": "web"}, ports=[ServicePort(80)], cluster_ip="None"
    )
    cluster.create_service(headless)
    assert sorted(s.service for s in cluster.slices.values()) == ["hl", "web"]
    cluster.delete_service("hl")
    assert sorted(s.service for s in cluster.slices.values()) == ["web"]


def test_node_not_ready_makes_its_pods_unready() -> None:
    cluster = two_workers()
    _web(cluster, replicas=2)
    cluster.set_node_ready("node1", False)
    on_node1 = {p.name for p in cluster.pods_on("node1")}
    assert on_node1
    for name, (ready, serving, _) in _conditions(cluster).items():
        assert ready == serving == (name not in on_node1)


def test_no_ready_pod_leaves_the_endpoints_column_blank() -> None:
    """kubectl prints an empty ENDPOINTS cell (not `<none>`) when the Endpoints object exists
    but holds only notReadyAddresses -- the classic sign of failing readiness probes."""
    cluster = two_workers()
    _web(cluster, replicas=2)
    for _, name in sorted(cluster.pods):
        cluster.set_pod_ready(name, False)
    row = kubectl(cluster, "get ep web").stdout.splitlines()[1]
    assert row.split() == ["web", "0s"]
    assert "Endpoints:                \n" in kubectl(cluster, "describe svc web").stdout
    cluster.scale_deployment("web", 0)
    assert kubectl(cluster, "get ep web").stdout.splitlines()[1].split()[1] == "<none>"

"""Deployments, ReplicaSets, scheduling, garbage collection, events and the change log."""

from __future__ import annotations

from cluster_builders import kubectl, two_workers

from app.sim.cluster.objects import Container, Service, ServicePort


def _events(cluster, reason: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.message for e in cluster.events if e.reason == reason]


def test_deployment_creates_a_hashed_replicaset_and_pods() -> None:
    cluster = two_workers()
    cluster.create_deployment("web", "nginx:1.25", replicas=2)
    (rs,) = cluster.replicasets.values()
    assert rs.meta.name == f"web-{rs.template_hash}"
    assert 9 <= len(rs.template_hash) <= 10  # decimal FNV-32a, safe-encoded
    names = sorted(p.name for p in cluster.pods.values())
    assert all(n.startswith(rs.meta.name + "-") and len(n) == len(rs.meta.name) + 6 for n in names)
    assert _events(cluster, "ScalingReplicaSet") == [
        f"Scaled up replica set {rs.meta.name} to 2 from 0"
    ]


def test_pods_spread_over_workers_never_on_the_control_plane() -> None:
    cluster = two_workers()
    cluster.create_deployment("web", "nginx", replicas=5)
    nodes = [p.node_name for p in cluster.pods.values()]
    assert "master" not in nodes
    assert sorted(nodes.count(n) for n in ("node1", "node2")) == [2, 3]


def test_scale_up_and_down_removes_youngest_first() -> None:
    cluster = two_workers()
    cluster.create_deployment("web", "nginx", replicas=2)
    oldest = set(cluster.pods)
    cluster.advance(60)
    cluster.scale_deployment("web", 4)
    assert len(cluster.pods) == 4
    cluster.scale_deployment("web", 2)
    assert set(cluster.pods) == oldest
    assert [m.split(" to ")[1] for m in _events(cluster, "ScalingReplicaSet")] == [
        "2 from 0",
        "4 from 2",
        "2 from 4",
    ]


def test_changed_template_rolls_out_a_new_replicaset() -> None:
    cluster = two_workers()
    deploy = cluster.create_deployment("web", "nginx:1.25", replicas=4)
    old_rs = next(iter(cluster.replicasets.values()))
    deploy.template.containers = [Container("nginx", "nginx:1.26")]
    cluster.update_deployment(deploy)
    new_rs = next(rs for rs in cluster.replicasets.values() if rs is not old_rs)
    assert (old_rs.replicas, new_rs.replicas) == (0, 4)
    assert {p.meta.owner for p in cluster.pods.values()} == {("ReplicaSet", new_rs.meta.name)}
    steps = _events(cluster, "ScalingReplicaSet")[1:]
    # maxSurge 25% of 4 = 1, maxUnavailable 25% of 4 = 1: never more than 5 pods, never < 3 ready
    assert steps[0] == f"Scaled up replica set {new_rs.meta.name} to 1 from 0"
    assert steps[1] == f"Scaled down replica set {old_rs.meta.name} to 2 from 4"
    assert steps[2:] == [
        f"Scaled up replica set {new_rs.meta.name} to 3 from 1",
        f"Scaled down replica set {old_rs.meta.name} to 0 from 2",
        f"Scaled up replica set {new_rs.meta.name} to 4 from 3",
    ]
    assert kubectl(cluster, "get deploy web").stdout.split("\n")[1].split()[1:4] == [
        "4/4",
        "4",
        "4",
    ]


def test_going_back_to_the_old_template_reuses_the_old_replicaset() -> None:
    cluster = two_workers()
    deploy = cluster.create_deployment("web", "nginx:1.25", replicas=2)
    first = set(cluster.replicasets)
    original = deploy.template.containers
    deploy.template.containers = [Container("nginx", "nginx:1.26")]
    cluster.update_deployment(deploy)
    deploy.template.containers = original
    cluster.update_deployment(deploy)
    assert len(cluster.replicasets) == 2
    live = [rs for rs in cluster.replicasets.values() if rs.replicas]
    assert {(rs.meta.namespace, rs.meta.name) for rs in live} == first


def test_deleting_a_deployment_collects_its_replicasets_and_pods() -> None:
    cluster = two_workers()
    cluster.create_deployment("web", "nginx", replicas=3)
    cluster.create_deployment("api", "httpd", replicas=1)
    cluster.delete_deployment("web")
    assert [rs.meta.name.split("-")[0] for rs in cluster.replicasets.values()] == ["api"]
    assert all(p.name.startswith("api-") for p in cluster.pods.values())


def test_deleted_pod_is_replaced_by_its_replicaset() -> None:
    cluster = two_workers()
    cluster.create_deployment("web", "nginx", replicas=2)
    victim = sorted(cluster.pods)[0][1]
    cluster.delete_pod(victim)
    assert len(cluster.pods) == 2
    assert ("default", victim) not in cluster.pods
    assert _events(cluster, "SuccessfulCreate")[-1].startswith("Created pod: web-")


def test_scaling_an_owned_replicaset_is_undone_by_its_deployment() -> None:
    cluster = two_workers()
    cluster.create_deployment("web", "nginx", replicas=2)
    (rs,) = cluster.replicasets.values()
    cluster.scale_replicaset(rs.meta.name, 5)
    assert rs.replicas == 2
    assert len(cluster.pods) == 2


def test_no_schedulable_node_leaves_pods_pending_with_a_reason() -> None:
    cluster = two_workers()
    for name in ("node1", "node2"):
        cluster.nodes[name].unschedulable = True
    cluster.create_deployment("web", "nginx", replicas=1)
    (pod,) = cluster.pods.values()
    assert (pod.phase, pod.node_name, pod.ip) == ("Pending", "", "")
    message = _events(cluster, "FailedScheduling")[0]
    assert message.startswith("0/3 nodes are available: 1 node(s) had untolerated taint")
    assert "2 node(s) were unschedulable" in message
    cluster.nodes["node1"].unschedulable = False
    cluster.advance(1)
    assert (pod.phase, pod.node_name) == ("Running", "node1")


def test_change_log_tells_which_services_changed_since_a_version() -> None:
    cluster = two_workers()
    cluster.create_deployment("web", "nginx", replicas=2)
    for name in ("web", "other"):
        svc = Service(cluster.new_meta(name), selector={"app": name}, ports=[ServicePort(80)])
        cluster.create_service(svc)
    mark = cluster.version
    assert cluster.changed_services(mark) == set()
    cluster.scale_deployment("web", 3)  # only web's EndpointSlice changes
    assert cluster.changed_services(mark) == {("default", "web")}
    mark = cluster.version
    cluster.delete_service("other")
    assert cluster.changed_services(mark) == {("default", "other")}
    assert cluster.changed_services(0) == {("default", "web"), ("default", "other")}


def test_resource_versions_only_move_when_something_changed() -> None:
    cluster = two_workers()
    cluster.create_deployment("web", "nginx", replicas=2)
    svc = cluster.create_service(
        Service(cluster.new_meta("web"), selector={"app": "web"}, ports=[ServicePort(80)])
    )
    (slc,) = cluster.slices.values()
    before = (svc.meta.resource_version, slc.meta.resource_version)
    cluster.advance(10)
    cluster.create_deployment("unrelated", "httpd")
    assert (svc.meta.resource_version, slc.meta.resource_version) == before


def test_repeated_event_counts_up() -> None:
    cluster = two_workers()
    cluster.create_deployment("web", "nginx", replicas=1)
    name = next(iter(cluster.pods))[1]
    for ready in (False, True, False):
        cluster.set_pod_ready(name, ready)
    (event,) = [e for e in cluster.events if e.reason == "Unhealthy"]
    assert (event.count, event.type) == (2, "Warning")


def test_same_seed_same_cluster_different_seed_different_names() -> None:
    def build(seed: int) -> str:
        cluster = two_workers(seed)
        cluster.create_deployment("web", "nginx", replicas=3)
        cluster.create_service(
            Service(cluster.new_meta("web"), selector={"app": "web"}, ports=[ServicePort(80)])
        )
        return kubectl(cluster, "get pods,svc,endpointslices -o wide").stdout

    assert build(11) == build(11)
    assert build(11) != build(12)

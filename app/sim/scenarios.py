"""Named starting clusters for the lab, and a seeded random cluster generator.

`seed` is the experiment of the course chapter the app grew from: `kubectl get svc` and
`kubectl get pod -o wide` on it print exactly the chapter's listings (names, IPs, ages). The
others each show one Service feature: NodePort and LoadBalancer across nodes, ClientIP session
affinity, externalTrafficPolicy Local, a pod whose readiness probe fails.

`SCENARIOS` maps an id to a `Scenario` (zh/en title and description, and a builder taking the
seed). Everything is deterministic given the seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from app.sim.cluster.cluster import Cluster
from app.sim.cluster.objects import (
    Container,
    ContainerPort,
    Deployment,
    Pod,
    PodTemplate,
    ReplicaSet,
    Service,
    ServicePort,
)
from app.sim.cluster.workloads import HASH_LABEL, MAX_PODS, clone_containers

DAY = 86400
HOUR = 3600
LB_POOL = "192.168.49.240/28"
SEED_IMAGE = "jocatalin/kubernetes-bootcamp:v1"  # the tutorial app that listens on 8080


def _nodes(cluster: Cluster, workers: int) -> None:
    """`master` plus `workers` nodes; node i gets the i-th /24 of pods from 10.244.0.0/14."""
    cluster.add_node("master", "192.168.49.2", "10.244.0.0/24", control_plane=True)
    for i in range(1, workers + 1):
        address = f"192.168.{49 + (2 + i) // 256}.{(2 + i) % 256}"
        cluster.add_node(f"node{i}", address, f"10.{244 + i // 256}.{i % 256}.0/24")
    if workers > 255:  # past 10.244.0.0/16: widen the pod network kube-proxy treats as local
        cluster.proxy_config["localDetector"] = {"mode": "ClusterCIDR", "cidr": "10.244.0.0/14"}


def _pinned_workload(
    cluster: Cluster, name: str, template_hash: str, container: Container, pods: list[tuple]
) -> None:
    """A Deployment whose ReplicaSet and pods have fixed names, IPs and creation times.

    `pods` holds (suffix, node, ip, created). Used to reproduce a cluster someone printed;
    the controllers then adopt it as their own (the ReplicaSet's template matches).
    """
    labels = {"app": name}
    created = min(p[3] for p in pods)
    meta = cluster.new_meta(name, labels=dict(labels), creation=created)
    deploy = Deployment(meta, len(pods), labels, PodTemplate(dict(labels), [container]))
    cluster.deployments[("default", name)] = deploy
    cluster._touch("Deployment", deploy.meta, "created")
    rs = _pinned_replicaset(cluster, deploy, template_hash, created)
    for suffix, node, ip, when in pods:
        meta = cluster.new_meta(f"{rs.meta.name}-{suffix}", labels=dict(rs.selector), creation=when)
        meta.owner = ("ReplicaSet", rs.meta.name)
        pod = Pod(meta, clone_containers([container]), node, ip)
        pod.phase, pod.started = "Running", when
        cluster.pods[("default", pod.name)] = pod
        cluster._touch("Pod", meta, "created")


def _pinned_replicaset(
    cluster: Cluster, deploy: Deployment, template_hash: str, created: int
) -> ReplicaSet:
    labels = deploy.template.labels | {HASH_LABEL: template_hash}
    meta = cluster.new_meta(f"{deploy.meta.name}-{template_hash}", labels=labels, creation=created)
    meta.owner = ("Deployment", deploy.meta.name)
    meta.annotations["deployment.kubernetes.io/revision"] = "1"
    template = PodTemplate(dict(labels), clone_containers(deploy.template.containers))
    rs = ReplicaSet(meta, deploy.replicas, dict(labels), template, template_hash)
    cluster.replicasets[("default", meta.name)] = rs
    cluster._touch("ReplicaSet", meta, "created")
    return rs


def seed_cluster(seed: int = 0) -> Cluster:
    """The chapter's cluster: my-first-deploy (2 pods on node1) behind ClusterIP 10.97.139.74."""
    now = 20 * DAY
    cluster = Cluster(seed)
    _nodes(cluster, 1)
    container = Container("kubernetes-bootcamp", SEED_IMAGE, [ContainerPort(8080)])
    with cluster.batch():
        _pinned_workload(
            cluster,
            "my-first-deploy",
            "785c6c79d9",
            container,
            [
                ("7bgf5", "node1", "10.244.1.137", now - 18 * DAY - 3 * HOUR),
                ("g4xr7", "node1", "10.244.1.138", now - 17 * DAY - 5 * HOUR),
            ],
        )
        cluster.now = now - 18 * DAY - 2 * HOUR
        svc_meta = cluster.new_meta("my-first-deploy", labels={"app": "my-first-deploy"})
        port = ServicePort(8080, "TCP", target_port=8080)
        cluster.create_service(
            Service(
                svc_meta,
                selector={"app": "my-first-deploy"},
                ports=[port],
                cluster_ip="10.97.139.74",
            )
        )
    cluster.nodes["node1"].next_host = 139
    cluster.advance(now - cluster.now)
    cluster.events.clear()  # events expire after an hour (kube-apiserver --event-ttl=1h)
    return cluster


def _web(cluster: Cluster, name: str, replicas: int, image: str = "nginx:1.25") -> None:
    ports = [ContainerPort(80, "http")]
    cluster.create_deployment(
        name, image, replicas=replicas, containers=[Container("nginx", image, ports)]
    )


def _service(
    cluster: Cluster, name: str, app: str, type_: str = "ClusterIP", **spec: object
) -> Service:
    port = ServicePort(
        80, "TCP", name="http", target_port="http", node_port=int(spec.pop("node_port", 0))
    )
    svc = Service(
        cluster.new_meta(name, labels={"app": app}), type=type_, selector={"app": app}, ports=[port]
    )
    for key, value in spec.items():
        setattr(svc, key, value)
    return cluster.create_service(svc)


def _aged(cluster: Cluster, hours: int) -> Cluster:
    cluster.advance(hours * HOUR)
    cluster.events.clear()
    return cluster


def multi_node(seed: int = 0) -> Cluster:
    """Three workers; web behind a NodePort (30080) and a LoadBalancer Service."""
    cluster = Cluster(seed, lb_pool=LB_POOL)
    _nodes(cluster, 3)
    _web(cluster, "web", 3)
    _service(cluster, "web-nodeport", "web", "NodePort", node_port=30080)
    _service(cluster, "web-lb", "web", "LoadBalancer")
    return _aged(cluster, 2)


def session_affinity(seed: int = 0) -> Cluster:
    """Three replicas behind a Service with sessionAffinity ClientIP (3 h timeout)."""
    cluster = Cluster(seed)
    _nodes(cluster, 2)
    _web(cluster, "sticky", 3)
    _service(cluster, "sticky", "sticky", session_affinity="ClientIP")
    return _aged(cluster, 1)


def traffic_policy_local(seed: int = 0) -> Cluster:
    """Pods on node1 and node2 only; a NodePort Service with externalTrafficPolicy Local."""
    cluster = Cluster(seed, lb_pool=LB_POOL)
    _nodes(cluster, 3)
    cluster.nodes["node3"].unschedulable = True  # cordoned, so it runs no replica
    _web(cluster, "local", 2)
    cluster.nodes["node3"].unschedulable = False
    _service(
        cluster, "local", "local", "LoadBalancer", node_port=30090, external_traffic_policy="Local"
    )
    return _aged(cluster, 1)


def readiness(seed: int = 0) -> Cluster:
    """Three replicas, one failing its readiness probe: it is serving nothing."""
    cluster = Cluster(seed)
    _nodes(cluster, 2)
    _web(cluster, "probe", 3)
    _service(cluster, "probe", "probe")
    victim = sorted(p.name for p in cluster.pods.values())[0]
    _aged(cluster, 1)
    cluster.set_pod_ready(victim, False)
    return cluster


def random_cluster(
    seed: int,
    services: int = 10,
    *,
    nodes: int = 3,
    endpoints: int = 3,
    node_port_share: float = 0.2,
) -> Cluster:
    """A seeded random cluster: `services` Deployments of `endpoints` pods, each exposed.

    A share of the Services is NodePort; the rest ClusterIP. Built in one batch, so even
    10 000 Services come up quickly. More nodes are added when the pods would not fit in
    `nodes` (a kubelet runs at most 110 pods).
    """
    rng = random.Random(f"{seed}/random-cluster")
    cluster = Cluster(seed)
    with cluster.batch():
        _nodes(cluster, max(nodes, -(-services * endpoints // MAX_PODS)))
        for i in range(services):
            name = f"svc-{i:05d}"
            port = rng.choice((80, 443, 8080, 9090))
            image = rng.choice(("nginx:1.25", "httpd:2.4", "registry.k8s.io/echoserver:1.10"))
            container = Container("app", image, [ContainerPort(port, "http")])
            cluster.create_deployment(name, image, replicas=endpoints, containers=[container])
            type_ = "NodePort" if rng.random() < node_port_share else "ClusterIP"
            svc = Service(
                cluster.new_meta(name, labels={"app": name}), type=type_, selector={"app": name}
            )
            svc.ports = [ServicePort(port, "TCP", name="http", target_port="http")]
            cluster.create_service(svc)
    return cluster


@dataclass(frozen=True)
class Scenario:
    id: str
    title: dict[str, str]  # language -> text ("zh", "en")
    description: dict[str, str]
    build: Callable[[int], Cluster]


_SEED_ZH = (
    "课程中的实验:Deployment my-first-deploy 的 2 个 Pod(node1 上的 "
    "10.244.1.137 和 10.244.1.138)由 ClusterIP Service 10.97.139.74:8080 负载均衡。"
)
_SEED_EN = (
    "The chapter's experiment: the 2 pods of Deployment my-first-deploy "
    "(10.244.1.137 and 10.244.1.138 on node1) load-balanced by the ClusterIP Service "
    "10.97.139.74:8080."
)
_MULTI_ZH = (
    "3 个工作节点上的 3 个 nginx Pod,通过 NodePort 30080 和 LoadBalancer "
    "Service 暴露。从任意节点进入的流量都可能被转发(DNAT)到其他节点上的 Pod。"
)
_MULTI_EN = (
    "3 nginx pods on 3 workers, exposed through NodePort 30080 and a LoadBalancer "
    "Service. Traffic entering any node may be DNATed to a pod on another node."
)
_AFFINITY_ZH = (
    "Service 设置了 sessionAffinity: ClientIP,同一客户端 IP 的请求在 3 小时内"
    "总是到达同一个 Pod(iptables 的 recent 模块)。"
)
_AFFINITY_EN = (
    "The Service sets sessionAffinity: ClientIP, so requests from one client IP "
    "keep reaching the same pod for 3 hours (iptables `recent` match)."
)
_LOCAL_ZH = (
    "Pod 只在 node1 和 node2 上。外部流量只会转发到本节点的 Pod,"
    "并保留客户端源 IP;到达 node3 的外部流量会被丢弃。"
)
_LOCAL_EN = (
    "Pods run on node1 and node2 only. External traffic goes only to pods on the "
    "node it arrives at, keeping the client's source IP; on node3 it is dropped."
)
_READY_ZH = (
    "3 个副本中有一个 Pod 的就绪探针失败:它仍在运行(READY 0/1),"
    "但已不在 Service 的就绪端点中,kube-proxy 不再把流量转给它。"
)
_READY_EN = (
    "One of 3 replicas fails its readiness probe: it keeps running (READY 0/1) "
    "but has left the Service's ready endpoints, so kube-proxy sends it no traffic."
)


def _scenario(
    id_: str, titles: tuple[str, str], texts: tuple[str, str], build: Callable[[int], Cluster]
) -> Scenario:
    return Scenario(
        id_, {"zh": titles[0], "en": titles[1]}, {"zh": texts[0], "en": texts[1]}, build
    )


SCENARIOS: dict[str, Scenario] = {
    s.id: s
    for s in (
        _scenario(
            "seed",
            ("第一个 Service:my-first-deploy", "First Service: my-first-deploy"),
            (_SEED_ZH, _SEED_EN),
            seed_cluster,
        ),
        _scenario(
            "multi-node",
            ("多节点:NodePort 与 LoadBalancer", "Multi-node: NodePort and LoadBalancer"),
            (_MULTI_ZH, _MULTI_EN),
            multi_node,
        ),
        _scenario(
            "session-affinity",
            ("会话保持:sessionAffinity ClientIP", "Session affinity: ClientIP"),
            (_AFFINITY_ZH, _AFFINITY_EN),
            session_affinity,
        ),
        _scenario(
            "traffic-policy-local",
            ("externalTrafficPolicy: Local", "externalTrafficPolicy: Local"),
            (_LOCAL_ZH, _LOCAL_EN),
            traffic_policy_local,
        ),
        _scenario(
            "readiness",
            ("就绪探针失败", "A failing readiness probe"),
            (_READY_ZH, _READY_EN),
            readiness,
        ),
    )
}


def build(scenario_id: str, seed: int = 0) -> Cluster:
    """The cluster of a named scenario; KeyError for an unknown id."""
    return SCENARIOS[scenario_id].build(seed)

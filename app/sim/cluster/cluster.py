"""The simulated cluster: object store, logical clock, change log and the public operations.

`Cluster` is what kubectl, the scenarios and kube-proxy talk to. Every mutation goes through
`_touch`, which bumps one cluster-wide resource version and appends to the change log, so a
proxier can ask which Services changed since the version it last synced
(`changed_services(since)`). Controllers (`controllers.py`) run after each operation, the way
the real controllers react to a watch event -- but synchronously, so each command leaves the
cluster settled and the result is deterministic given the seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from app.sim.cluster import controllers, proxy_dict, workloads
from app.sim.cluster.alloc import AddressPool, ClusterIPAllocator, NodePortAllocator
from app.sim.cluster.changelog import Change, changed_services, record_event
from app.sim.cluster.errors import AlreadyExists, ClusterError, Invalid, NotFound
from app.sim.cluster.index import StoreIndex
from app.sim.cluster.objects import (
    Container,
    ContainerPort,
    Deployment,
    EndpointSlice,
    Event,
    Meta,
    Namespace,
    Node,
    Pod,
    PodTemplate,
    ReplicaSet,
    Service,
)
from app.sim.cluster.services import (
    ServiceAllocators,
    default_service,
    drop_type_dependent_fields,
    validate_service,
)
from app.sim.cluster.validation import validate_name

EVENT_TTL = 3600
NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


class Cluster:
    """A whole cluster's API state plus its controllers, deterministic given `seed`."""

    def __init__(self, seed: int = 0, *, now: int = 0, lb_pool: str = "") -> None:
        self.seed = seed
        self.now = now
        self.rng = random.Random(f"{seed}/names")
        self.allocators = ServiceAllocators(
            ClusterIPAllocator(random.Random(f"{seed}/cluster-ip")),
            NodePortAllocator(random.Random(f"{seed}/node-port")),
            AddressPool(lb_pool),
        )
        self.namespaces: dict[str, Namespace] = {}
        for name in NAMESPACES:
            self.add_namespace(name)
        self.nodes: dict[str, Node] = {}
        self.pods: dict[tuple[str, str], Pod] = {}
        self.deployments: dict[tuple[str, str], Deployment] = {}
        self.replicasets: dict[tuple[str, str], ReplicaSet] = {}
        self.services: dict[tuple[str, str], Service] = {}
        self.slices: dict[tuple[str, str], EndpointSlice] = {}
        self.events: list[Event] = []
        self.version = 0
        self.changes: list[Change] = []
        self.proxy_config: dict[str, object] = {}
        self.index = StoreIndex()
        self.deferred = 0  # >0 inside `batch()`: controllers wait until the batch ends

    @contextmanager
    def batch(self) -> Iterator[Cluster]:
        """Make many changes, then run the controllers once (fast bulk set-up)."""
        self.deferred += 1
        try:
            yield self
        finally:
            self.deferred -= 1
            controllers.reconcile(self)

    # -- bookkeeping -------------------------------------------------------------------------

    def new_meta(self, name: str, namespace: str = "default", **kw: object) -> Meta:
        a, b, c, d, e = (self.rng.getrandbits(n) for n in (32, 16, 16, 16, 48))
        c, d = (c & 0x0FFF) | 0x4000, (d & 0x3FFF) | 0x8000  # RFC 4122 version 4 layout
        uid = f"{a:08x}-{b:04x}-{c:04x}-{d:04x}-{e:012x}"
        meta = Meta(name=name, namespace=namespace, uid=uid, creation=self.now)
        for key, value in kw.items():
            setattr(meta, key, value)
        return meta

    def _touch(self, kind: str, meta: Meta, action: str, service: str = "") -> None:
        self.version += 1
        meta.resource_version = self.version
        store = self.nodes if kind in ("Node", "Event") else self._store(kind)
        self.index.changed(store, kind, (meta.namespace, meta.name), service)
        self.changes.append(Change(self.version, kind, meta.namespace, meta.name, action, service))

    def record(
        self,
        kind: str,
        meta: Meta,
        reason: str,
        message: str,
        source: str,
        type_: str = "Normal",
        **where: str,
    ) -> None:
        """Record an Event (`where`: host=, field_path=; see changelog.record_event)."""
        record_event(self, kind, meta, (reason, message, source, type_), where)

    def changed_services(self, since: int) -> set[tuple[str, str]]:
        """Services (namespace, name) whose Service or EndpointSlices changed after version
        `since`, deleted ones included: what a proxier needs for a partial sync."""
        return changed_services(self.changes, since)

    def settle(self) -> None:
        """Run the controllers until nothing is left to do (after a direct change)."""
        controllers.reconcile(self)

    def to_proxy_dict(self, node_name: str) -> dict:
        """The corpus-schema dict kube-proxy on `node_name` consumes (see proxy_dict.py)."""
        return proxy_dict.to_proxy_dict(self, node_name)

    # -- lookups -----------------------------------------------------------------------------

    def get(self, kind: str, name: str, namespace: str = "default") -> object:
        """Fetch one object or raise the API server's NotFound."""
        store = self.nodes if kind == "Node" else self._store(kind)
        found = store.get(name if kind == "Node" else (namespace, name))
        if found is None:
            raise NotFound(kind, name)
        return found

    def _store(self, kind: str) -> dict:
        return {
            "Pod": self.pods,
            "Deployment": self.deployments,
            "ReplicaSet": self.replicasets,
            "Service": self.services,
            "EndpointSlice": self.slices,
        }[kind]

    def pods_on(self, node: str) -> list[Pod]:
        return [p for p in self.pods.values() if p.node_name == node]

    # -- namespaces --------------------------------------------------------------------------

    def add_namespace(self, name: str) -> Namespace:
        validate_name("Namespace", name)
        if name in self.namespaces:
            raise AlreadyExists("Namespace", name)
        labels = {"kubernetes.io/metadata.name": name}
        namespace = Namespace(self.new_meta(name, "", labels=labels))
        self.namespaces[name] = namespace
        return namespace

    def require_namespace(self, name: str) -> None:
        """Creating an object in a namespace that does not exist is refused."""
        if name not in self.namespaces:
            raise NotFound("Namespace", name)

    # -- nodes -------------------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        internal_ip: str,
        pod_cidr: str,
        *,
        control_plane: bool = False,
        **kw: object,
    ) -> Node:
        if name in self.nodes:
            raise AlreadyExists("Node", name)
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
        if control_plane:
            labels["node-role.kubernetes.io/control-plane"] = ""
        node = Node(
            self.new_meta(name, "", labels=labels),
            internal_ip,
            pod_cidr,
            control_plane=control_plane,
        )
        for key, value in kw.items():
            setattr(node, key, value)
        self.nodes[name] = node
        self._touch("Node", node.meta, "created")
        self.record("Node", node.meta, "Starting", "Starting kubelet.", "kubelet")
        self.record(
            "Node", node.meta, "NodeReady", f"Node {name} status is now: NodeReady", "kubelet"
        )
        controllers.reconcile(self)
        return node

    def set_node_ready(self, name: str, ready: bool) -> None:
        node = self.get("Node", name)
        assert isinstance(node, Node)
        node.ready = ready
        self._touch("Node", node.meta, "updated")
        status = "NodeReady" if ready else "NodeNotReady"
        self.record("Node", node.meta, status, f"Node {name} status is now: {status}", "kubelet")
        for pod in self.pods_on(name):
            pod.unreachable = not ready
            self._touch("Pod", pod.meta, "updated")
        controllers.reconcile(self)

    # -- clock -------------------------------------------------------------------------------

    def advance(self, seconds: int) -> None:
        """Move the logical clock; pods whose grace period ran out are removed."""
        if seconds < 0:
            raise ClusterError("error: the clock only moves forward")
        self.now += seconds
        # kube-apiserver --event-ttl defaults to one hour: older events are gone
        self.events = [e for e in self.events if self.now - e.last < EVENT_TTL]
        controllers.reconcile(self)

    # -- workloads ---------------------------------------------------------------------------

    def create_deployment(
        self,
        name: str,
        image: str,
        *,
        replicas: int = 1,
        port: int = 0,
        namespace: str = "default",
        labels: dict[str, str] | None = None,
        containers: list[Container] | None = None,
    ) -> Deployment:
        self.require_namespace(namespace)
        if (namespace, name) in self.deployments:
            raise AlreadyExists("Deployment", name)
        labels = dict(labels or {"app": name})
        if containers is None:
            ports = [ContainerPort(port)] if port else []
            containers = [Container(container_name(image), image, ports)]
        template = PodTemplate(dict(labels), containers)
        meta = self.new_meta(name, namespace, labels=dict(labels))
        return self.add_deployment(Deployment(meta, replicas, dict(labels), template))

    def add_deployment(self, deploy: Deployment) -> Deployment:
        """Store a new Deployment; the controllers create its ReplicaSet and pods."""
        key = (deploy.meta.namespace, deploy.meta.name)
        validate_name("Deployment", deploy.meta.name)
        self.require_namespace(key[0])
        if key in self.deployments:
            raise AlreadyExists("Deployment", deploy.meta.name)
        if deploy.replicas < 0:
            value = deploy.replicas
            cause = f"spec.replicas: Invalid value: {value}: must be greater than or equal to 0"
            raise Invalid("Deployment", deploy.meta.name, [cause])
        self.deployments[key] = deploy
        self._touch("Deployment", deploy.meta, "created")
        controllers.reconcile(self)
        return deploy

    def scale_replicaset(self, name: str, replicas: int, namespace: str = "default") -> ReplicaSet:
        """Scale a ReplicaSet directly; one owned by a Deployment is scaled back by it."""
        rs = self.get("ReplicaSet", name, namespace)
        assert isinstance(rs, ReplicaSet)
        rs.replicas = replicas
        self._touch("ReplicaSet", rs.meta, "updated")
        workloads.sync_replicaset(self, rs)
        controllers.reconcile(self)
        return rs

    def delete_replicaset(self, name: str, namespace: str = "default") -> None:
        rs = self.get("ReplicaSet", name, namespace)
        assert isinstance(rs, ReplicaSet)
        del self.replicasets[(namespace, name)]
        self._touch("ReplicaSet", rs.meta, "deleted")
        controllers.reconcile(self)

    def scale_deployment(self, name: str, replicas: int, namespace: str = "default") -> Deployment:
        deploy = self.get("Deployment", name, namespace)
        assert isinstance(deploy, Deployment)
        deploy.replicas = replicas
        self._touch("Deployment", deploy.meta, "updated")
        controllers.reconcile(self)
        return deploy

    def update_deployment(self, deploy: Deployment) -> None:
        """Store a changed Deployment; a changed template starts a rolling update."""
        deploy.meta.generation += 1
        self._touch("Deployment", deploy.meta, "updated")
        controllers.reconcile(self)

    def delete_deployment(self, name: str, namespace: str = "default") -> None:
        deploy = self.get("Deployment", name, namespace)
        assert isinstance(deploy, Deployment)
        del self.deployments[(namespace, name)]
        self._touch("Deployment", deploy.meta, "deleted")
        controllers.reconcile(self)  # the garbage collector removes its ReplicaSets and pods

    def create_pod(self, pod: Pod) -> Pod:
        key = (pod.meta.namespace, pod.name)
        validate_name("Pod", pod.name)
        self.require_namespace(key[0])
        if key in self.pods:
            raise AlreadyExists("Pod", pod.name)
        self.pods[key] = pod
        self._touch("Pod", pod.meta, "created")
        workloads.start_pod(self, pod)
        controllers.reconcile(self)
        return pod

    def delete_pod(
        self, name: str, namespace: str = "default", *, wait: bool = True, grace: int | None = None
    ) -> Pod:
        """Delete a pod. With `wait` it is gone at once (its container stopped promptly);
        without, it stays Terminating for its grace period on the logical clock."""
        pod = self.get("Pod", name, namespace)
        assert isinstance(pod, Pod)
        if grace is not None:
            pod.grace_period = grace
        if wait or pod.grace_period == 0:
            workloads.remove_pod(self, pod)
        elif not pod.terminating:
            pod.meta.deletion = self.now + pod.grace_period
            self._touch("Pod", pod.meta, "updated")
            name = pod.containers[0].name
            where = {"host": pod.node_name, "field_path": f"spec.containers{{{name}}}"}
            self.record(
                "Pod", pod.meta, "Killing", f"Stopping container {name}", "kubelet", **where
            )
        controllers.reconcile(self)
        return pod

    def restart_container(self, name: str, namespace: str = "default") -> Pod:
        """The kubelet restarts the pod's container (it exited, or failed its liveness probe)."""
        pod = self.get("Pod", name, namespace)
        assert isinstance(pod, Pod)
        if pod.phase != "Running":
            raise ClusterError(f'error: pod "{name}" is not running')
        pod.restarts += 1
        pod.last_restart = self.now
        pod.app_dead = False  # a restarted container listens again
        self._touch("Pod", pod.meta, "updated")
        workloads.run_containers(self, pod)
        controllers.reconcile(self)
        return pod

    def set_pod_ready(self, name: str, ready: bool, namespace: str = "default") -> Pod:
        """Make the pod's readiness probe pass or fail (a lab stand-in for a real probe)."""
        pod = self.get("Pod", name, namespace)
        assert isinstance(pod, Pod)
        if pod.probe_failing == (not ready):
            return pod
        pod.probe_failing = not ready
        self._touch("Pod", pod.meta, "updated")
        if not ready:
            message = "Readiness probe failed: HTTP probe failed with statuscode: 503"
            where = {
                "host": pod.node_name,
                "field_path": f"spec.containers{{{pod.containers[0].name}}}",
            }
            self.record("Pod", pod.meta, "Unhealthy", message, "kubelet", "Warning", **where)
        controllers.reconcile(self)
        return pod

    def label_pod(
        self,
        name: str,
        labels: dict[str, str | None],
        namespace: str = "default",
        *,
        overwrite: bool = False,
    ) -> Pod:
        """Set (value) or remove (None) pod labels, refusing to overwrite like `kubectl label`."""
        pod = self.get("Pod", name, namespace)
        assert isinstance(pod, Pod)
        for key, value in labels.items():
            old = pod.meta.labels.get(key)
            if value is not None and old is not None and old != value and not overwrite:
                raise ClusterError(
                    f"error: '{key}' already has a value ({old}), and --overwrite is false"
                )
        for key, value in labels.items():
            if value is None:
                pod.meta.labels.pop(key, None)
            else:
                pod.meta.labels[key] = value
        self._touch("Pod", pod.meta, "updated")
        controllers.reconcile(self)
        return pod

    # -- services ----------------------------------------------------------------------------

    def create_service(self, svc: Service) -> Service:
        key = (svc.meta.namespace, svc.name)
        validate_name("Service", svc.name)
        self.require_namespace(key[0])
        if key in self.services:
            raise AlreadyExists("Service", svc.name)
        default_service(svc)
        validate_service(svc)
        self.allocators.allocate(svc)
        self.services[key] = svc
        self._touch("Service", svc.meta, "created")
        controllers.reconcile(self)
        return svc

    def replace_service(self, svc: Service) -> Service:
        """Update a Service in place of the stored one (keeps ClusterIP, NodePorts, UID)."""
        key = (svc.meta.namespace, svc.name)
        old = self.get("Service", svc.name, svc.meta.namespace)
        assert isinstance(old, Service)
        drop_type_dependent_fields(svc, old)
        default_service(svc)
        validate_service(svc)
        self.allocators.allocate(svc, previous=old)
        if old.type == "LoadBalancer" and svc.type == "LoadBalancer":
            svc.load_balancer_ingress = old.load_balancer_ingress
        self.allocators.release(old, keep=svc)
        svc.meta.uid, svc.meta.creation = old.meta.uid, old.meta.creation
        self.services[key] = svc
        self._touch("Service", svc.meta, "updated")
        if old.type != svc.type:
            self.record(
                "Service", svc.meta, "Type", f"{old.type} -> {svc.type}", "service-controller"
            )
        controllers.reconcile(self)
        return svc

    def delete_service(self, name: str, namespace: str = "default") -> Service:
        svc = self.get("Service", name, namespace)
        assert isinstance(svc, Service)
        del self.services[(namespace, name)]
        self.allocators.release(svc)
        self._touch("Service", svc.meta, "deleted")
        controllers.reconcile(self)
        return svc


def container_name(image: str) -> str:
    """`kubectl create deployment` names the container after the image (`nginx:1.25` -> nginx)."""
    base = image.rsplit("/", 1)[-1]
    return base.split("@", 1)[0].split(":", 1)[0]

"""Secondary indexes over the store, and the "dirty" sets that drive the controllers.

The controllers ask the same questions for many objects (the pods of this ReplicaSet, the
Services selecting this label, the pods on this node); answering them by scanning the whole
store made a 10 000-Service cluster take minutes per command. `Cluster._touch` calls
`StoreIndex.changed` for every change it records, so the indexes are exactly as current as
the change log, and the same call marks what the controllers must look at next (`Dirty`) --
the way an informer's event handlers enqueue keys for a controller's work queue.
Buckets are insertion-ordered dicts, never sets, so iteration is deterministic.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]
Bucket = dict[Key, None]


@dataclass
class Dirty:
    """Keys the controllers have to reconcile (work queues)."""

    deployments: Bucket = field(default_factory=dict)
    replicasets: Bucket = field(default_factory=dict)
    services: Bucket = field(default_factory=dict)
    labels: dict[tuple[str, str, str], None] = field(default_factory=dict)  # (ns, key, value)

    def __bool__(self) -> bool:
        return bool(self.deployments or self.replicasets or self.services or self.labels)


@dataclass
class _PodState:
    owner: Key | None
    node: str
    ip: str
    labels: tuple[tuple[str, str], ...]


def _add(index: dict[Any, Bucket], bucket: Any, key: Key) -> None:
    index.setdefault(bucket, {})[key] = None


class StoreIndex:
    def __init__(self) -> None:
        self.pods_by_owner: dict[Key, Bucket] = {}
        self.pods_by_label: dict[tuple[str, str, str], Bucket] = {}
        self.replicasets_by_owner: dict[Key, Bucket] = {}
        self.services_by_label: dict[tuple[str, str, str], Bucket] = {}
        self.slices_by_service: dict[Key, Bucket] = {}
        self.node_load: dict[str, int] = {}
        self.schedule_heap: list[tuple[int, str]] = []  # (pods on node, node): see workloads
        self.pod_ips: set[str] = set()  # membership only, never iterated
        self.terminating: Bucket = {}
        self.unstarted: Bucket = {}
        self.dirty = Dirty()
        self._pods: dict[Key, _PodState] = {}
        self._replicasets: dict[Key, Key | None] = {}
        self._services: dict[Key, tuple[tuple[str, str], ...]] = {}
        self._slices: dict[Key, Key] = {}

    def changed(self, store: dict[Key, Any], kind: str, key: Key, service: str = "") -> None:
        """Re-index one object of `kind` after it was created, changed or deleted."""
        if kind == "Pod":
            self._pod(store, key)
        elif kind == "ReplicaSet":
            self._replicaset(store, key)
        elif kind == "Deployment":
            self.dirty.deployments[key] = None
        elif kind == "Service":
            self._service(store, key)
        elif kind == "EndpointSlice":
            self._slice(store, key, (key[0], service))

    def _pod(self, pods: dict[Key, Any], key: Key) -> None:
        old = self._pods.pop(key, None)
        if old is not None:
            self._unindex_pod(key, old)
        self.terminating.pop(key, None)
        self.unstarted.pop(key, None)
        pod = pods.get(key)
        if pod is None:
            return
        owner = pod.meta.owner
        state = _PodState(
            (key[0], owner[1]) if owner and owner[0] == "ReplicaSet" else None,
            pod.node_name,
            pod.ip,
            tuple(pod.meta.labels.items()),
        )
        self._pods[key] = state
        if state.owner:
            _add(self.pods_by_owner, state.owner, key)
            self.dirty.replicasets[state.owner] = None
        for label in state.labels:
            _add(self.pods_by_label, (key[0], *label), key)
            self.dirty.labels[(key[0], *label)] = None
        if state.node:
            self.node_load[state.node] = self.node_load.get(state.node, 0) + 1
            heapq.heappush(self.schedule_heap, (self.node_load[state.node], state.node))
        if state.ip:
            self.pod_ips.add(state.ip)
        if pod.terminating:
            self.terminating[key] = None
        elif not state.ip:
            self.unstarted[key] = None

    def _unindex_pod(self, key: Key, old: _PodState) -> None:
        if old.owner:
            self.pods_by_owner.get(old.owner, {}).pop(key, None)
            self.dirty.replicasets[old.owner] = None
        for label in old.labels:
            self.pods_by_label.get((key[0], *label), {}).pop(key, None)
            self.dirty.labels[(key[0], *label)] = None
        if old.node:
            self.node_load[old.node] -= 1
            heapq.heappush(self.schedule_heap, (self.node_load[old.node], old.node))
        self.pod_ips.discard(old.ip)

    def _replicaset(self, replicasets: dict[Key, Any], key: Key) -> None:
        self.dirty.replicasets[key] = None
        old = self._replicasets.pop(key, None)
        if old is not None:
            self.replicasets_by_owner.get(old, {}).pop(key, None)
            self.dirty.deployments[old] = None
        rs = replicasets.get(key)
        if rs is None or not rs.meta.owner:
            return
        owner = (key[0], rs.meta.owner[1])
        _add(self.replicasets_by_owner, owner, key)
        self._replicasets[key] = owner
        self.dirty.deployments[owner] = None

    def _service(self, services: dict[Key, Any], key: Key) -> None:
        self.dirty.services[key] = None
        for pair in self._services.pop(key, ()):
            self.services_by_label.get((key[0], *pair), {}).pop(key, None)
        svc = services.get(key)
        if svc is None:
            return
        self._services[key] = tuple(svc.selector.items())
        for pair in self._services[key]:
            _add(self.services_by_label, (key[0], *pair), key)

    def _slice(self, slices: dict[Key, Any], key: Key, service: Key) -> None:
        old = self._slices.pop(key, None)
        if old is not None:
            self.slices_by_service.get(old, {}).pop(key, None)
        if key in slices:
            self._slices[key] = service
            _add(self.slices_by_service, service, key)

    def services_for(self, labels: dict[tuple[str, str, str], None]) -> Bucket:
        """Services whose selector mentions any of these (namespace, key, value) labels."""
        found: Bucket = {}
        for label in labels:
            found.update(self.services_by_label.get(label, {}))
        return found

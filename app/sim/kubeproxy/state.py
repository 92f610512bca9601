"""The proxier's input: Services and EndpointSlices as kube-proxy's change trackers see them.

`ProxyState.from_dict` reads the corpus `cluster.yaml` schema (already parsed into plain dicts:
YAML is read outside `app/sim`). It keeps the raw objects, and per Service a read-only
`ServiceView`: one `PortEndpoints` per service port, with the endpoints matched by port name
and protocol as pkg/proxy/endpointslicecache.go does, plus a content `version` that a sync
compares to decide whether the Service's chains must be rewritten (partial sync).

Updates (`set_service`, `delete_endpoint_slice`, ...) recompute only the Service they touch,
so a cluster of 10,000 Services re-syncs after one endpoint change in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.sim.kubeproxy import fields
from app.sim.kubeproxy.options import NodeInfo, ProxyOptions, StateError, options_from_dict
from app.sim.kubeproxy.service import Endpoint, PortEndpoints, ServicePort, ServiceView
from app.sim.kubeproxy.views import build_view, endpoint_count, object_key, slice_service

__all__ = ["Endpoint", "PortEndpoints", "ProxyState", "ServicePort", "ServiceView", "StateError"]


@dataclass
class ProxyState:
    """The proxier's whole input: node, options, Services and EndpointSlices."""

    node: NodeInfo
    options: ProxyOptions
    services: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    slices: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    _by_service: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _views: dict[str, ServiceView] = field(default_factory=dict, repr=False)
    _endpoint_count: int = field(default=0, repr=False)
    _order: list[str] | None = field(default=None, repr=False)
    # Change journal: every Service view change gets the next serial; `_journal` maps a key to
    # the serial of its last change, oldest first, so "what changed since serial s" costs the
    # number of changes, not the number of Services. `_lineage` tells journals apart.
    _serial: int = field(default=0, repr=False)
    _journal: dict[str, int] = field(default_factory=dict, repr=False)
    _lineage: object = field(default_factory=object, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProxyState:
        """Build from the cluster.yaml schema; raises StateError with a clear message."""
        if not isinstance(data, Mapping):
            raise StateError("cluster: expected a mapping at the top level")
        node, options = options_from_dict(data)
        state = cls(node, options)
        # Load every object first and build each Service's view once (set_service and
        # set_endpoint_slice would rebuild a view per slice); a later duplicate wins.
        for svc in fields.mappings(data.get("services"), "services"):
            state.services[object_key(svc, "service")] = svc
        for eps in fields.mappings(data.get("endpointSlices"), "endpointSlices"):
            key = object_key(eps, "endpointSlice")
            if key in state.slices:
                state._by_service[slice_service(state.slices[key])].discard(key)
            state.slices[key] = eps
            state._by_service.setdefault(slice_service(eps), set()).add(key)
        for key in state.services:
            state._refresh(key)
        return state

    def copy(self) -> ProxyState:
        """An independent copy (objects are shared: they are never mutated in place)."""
        return ProxyState(
            self.node,
            self.options,
            dict(self.services),
            dict(self.slices),
            {k: set(v) for k, v in self._by_service.items()},
            dict(self._views),
            self._endpoint_count,
        )  # a new lineage: its journal starts afresh

    # --- updates -----------------------------------------------------------------------
    def set_service(self, svc: Mapping[str, Any]) -> None:
        """Add or replace a Service (a malformed one is refused and changes nothing)."""
        key = object_key(svc, "service")
        view = self._view(key, svc, self._slices_of(key))
        self.services[key] = svc
        self._install(key, view)

    def delete_service(self, key: str) -> None:
        """Remove Service `namespace/name` (its EndpointSlices stay, as in the API)."""
        if self.services.pop(key, None) is None:
            raise StateError(f"service {key!r} not found")
        self._refresh(key)

    def set_endpoint_slice(self, eps: Mapping[str, Any]) -> None:
        """Add or replace an EndpointSlice (keyed by namespace/name)."""
        key = object_key(eps, "endpointSlice")
        svc_key = slice_service(eps)
        slices = {k: self.slices[k] for k in self._by_service.get(svc_key, ())} | {key: eps}
        view = self._view(svc_key, self.services.get(svc_key), [slices[k] for k in sorted(slices)])
        old = self.slices.get(key)
        self.slices[key] = eps
        if old is not None and slice_service(old) != svc_key:
            self._by_service[slice_service(old)].discard(key)
            self._refresh(slice_service(old))
        self._by_service.setdefault(svc_key, set()).add(key)
        self._install(svc_key, view)

    def delete_endpoint_slice(self, key: str) -> None:
        """Remove EndpointSlice `namespace/name`."""
        eps = self.slices.pop(key, None)
        if eps is None:
            raise StateError(f"endpointSlice {key!r} not found")
        svc_key = slice_service(eps)
        self._by_service[svc_key].discard(key)
        self._refresh(svc_key)

    def apply_changes(self, step: Mapping[str, Any]) -> None:
        """One `steps:` entry of cluster.yaml: addServices, deleteServices (namespace/name),
        addEndpointSlices, updateEndpointSlices, deleteEndpointSlices, in that order."""
        what = f"step {step.get('step', '?')}"
        for svc in fields.mappings(step.get("addServices"), f"{what}: addServices"):
            self.set_service(svc)
        for key in fields.strings(step.get("deleteServices"), f"{what}: deleteServices"):
            self.delete_service(key)
        for name in ("addEndpointSlices", "updateEndpointSlices"):
            for eps in fields.mappings(step.get(name), f"{what}: {name}"):
                self.set_endpoint_slice(eps)
        for key in fields.strings(
            step.get("deleteEndpointSlices"), f"{what}: deleteEndpointSlices"
        ):
            self.delete_endpoint_slice(key)

    # --- reading -----------------------------------------------------------------------
    @property
    def views(self) -> dict[str, ServiceView]:
        """Services that exist (and are not skipped), keyed by namespace/name."""
        return self._views

    @property
    def journal_mark(self) -> tuple[object, int]:
        """Where the change journal stands now (for `changed_since`)."""
        return (self._lineage, self._serial)

    def changed_since(self, mark: tuple[object, int] | None) -> set[str] | None:
        """Services (namespace/name) whose view changed after `mark`; None when unknown
        (a mark from another state)."""
        if mark is None or mark[0] is not self._lineage:
            return None
        changed = set()
        for key, serial in reversed(self._journal.items()):
            if serial <= mark[1]:
                break
            changed.add(key)
        return changed

    def keys_in_order(self) -> list[str]:
        """namespace/name of every Service, sorted (kept between changes to the set)."""
        if self._order is None:
            self._order = sorted(self._views)
        return self._order

    def total_endpoints(self) -> int:
        """Endpoints over all service ports (the large-cluster-mode count)."""
        return self._endpoint_count

    def _slices_of(self, key: str) -> list[Mapping[str, Any]]:
        return [self.slices[k] for k in sorted(self._by_service.get(key, ()))]

    def _view(
        self, key: str, svc: Mapping[str, Any] | None, slices: list[Mapping[str, Any]]
    ) -> ServiceView | None:
        return build_view(key, svc, slices, self.node, self.options) if svc else None

    def _refresh(self, key: str) -> None:
        self._install(key, self._view(key, self.services.get(key), self._slices_of(key)))

    def _install(self, key: str, view: ServiceView | None) -> None:
        old = self._views.pop(key, None)
        if old is not None:
            self._endpoint_count -= endpoint_count(old)
        if view is not None:
            self._views[key] = view
            self._endpoint_count += endpoint_count(view)
        if (old is None) != (view is None):
            self._order = None  # a Service appeared or went away
        if old is not view:
            self._serial += 1
            self._journal.pop(key, None)
            self._journal[key] = self._serial

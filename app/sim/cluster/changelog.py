"""The change log and the event recorder: what happened, at which version, as data.

Every mutation appends a `Change` (one cluster-wide resource version, like etcd's revision),
so a proxier can ask which Services changed since its last sync. Events are what `kubectl
get events` shows; a recent identical event is counted up instead of repeated, as client-go's
event correlator does.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.sim.cluster.objects import Event, Meta
from app.sim.cluster.timefmt import EPOCH

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

EPOCH_UNIX = int(EPOCH.timestamp())
CORRELATION_WINDOW = 20  # how many recent events a repeat is looked for among


@dataclass(frozen=True)
class Change:
    """One change-log entry: what changed at which resource version."""

    version: int
    kind: str
    namespace: str
    name: str
    action: str  # "created" | "updated" | "deleted"
    service: str = ""  # for an EndpointSlice: the Service it belongs to


def changed_services(changes: list[Change], since: int) -> set[tuple[str, str]]:
    """(namespace, name) of Services whose Service or EndpointSlices changed after `since`
    (deleted ones included): what a proxier re-renders in a partial sync."""
    first = bisect.bisect_right(changes, since, key=lambda c: c.version)  # versions only grow
    changed = set()
    for change in changes[first:]:
        if change.kind == "Service":
            changed.add((change.namespace, change.name))
        elif change.kind == "EndpointSlice":
            changed.add((change.namespace, change.service))
    return changed


def record_event(
    cluster: Cluster, kind: str, meta: Meta, what: tuple[str, str, str, str], where: dict[str, str]
) -> None:
    """Record `what` = (reason, message, source component, type) about the object."""
    reason, message, source, type_ = what
    for event in reversed(cluster.events[-CORRELATION_WINDOW:]):
        old = (event.namespace, event.kind, event.object_name, event.reason, event.message)
        if old == (meta.namespace, kind, meta.name, reason, message):
            event.count += 1
            event.last = cluster.now
            return
    event = Event(meta.namespace, kind, meta.name, reason, message, source, type_)
    event.first = event.last = cluster.now
    # client-go names events `<object>.<UnixNano in hex>`; the version keeps them unique
    event.name = f"{meta.name}.{(EPOCH_UNIX + cluster.now) * 10**9 + cluster.version:x}"
    event.host, event.field_path = where.get("host", ""), where.get("field_path", "")
    cluster.events.append(event)

"""Which endpoints a service port uses, per traffic policy (pkg/proxy/topology.go).

An endpoint is usable when it is ready. When no endpoint is ready, endpoints that are serving
but terminating are used instead, so connections drain gracefully during a rollout; the same
fallback is applied on its own to the node-local subset used by policy Local.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.sim.kubeproxy.service import Endpoint, ServicePort


@dataclass(frozen=True)
class Categorized:
    """`cluster`: endpoints for policy Cluster; `local`: for policy Local; `reachable`: every
    endpoint that needs a KUBE-SEP chain; `has_any`: something usable exists anywhere."""

    cluster: tuple[Endpoint, ...]
    local: tuple[Endpoint, ...]
    reachable: tuple[Endpoint, ...]
    has_any: bool


def _serving_terminating(ep: Endpoint) -> bool:
    return ep.serving and ep.terminating


def categorize(port: ServicePort, endpoints: tuple[Endpoint, ...]) -> Categorized:
    """Split `endpoints` (already sorted) the way CategorizeEndpoints does."""
    cluster: tuple[Endpoint, ...] = ()
    if port.uses_cluster_endpoints:
        cluster = tuple(ep for ep in endpoints if ep.ready)
        if not cluster:
            cluster = tuple(ep for ep in endpoints if _serving_terminating(ep))
    has_any = bool(cluster)
    if not port.uses_local_endpoints:
        return Categorized(cluster, (), cluster, has_any)
    has_any = has_any or any(ep.ready or _serving_terminating(ep) for ep in endpoints)
    local = tuple(ep for ep in endpoints if ep.is_local and ep.ready)
    fallback = not local
    if fallback:
        local = tuple(ep for ep in endpoints if ep.is_local and _serving_terminating(ep))
    if not port.uses_cluster_endpoints:
        return Categorized(cluster, local, local, has_any)
    if not fallback or not local:
        # `local` holds only ready endpoints, all of which are in `cluster` already.
        return Categorized(cluster, local, cluster, has_any)
    merged = {ep.endpoint: ep for ep in cluster + local}
    return Categorized(cluster, local, tuple(merged[k] for k in sorted(merged)), has_any)

"""Small builders shared by the cluster tests: a two-worker cluster and a kubectl runner."""

from __future__ import annotations

import shlex

from app.sim.cluster.cluster import Cluster
from app.sim.cluster.kubectl import CommandResult, run_kubectl


def two_workers(seed: int = 7, lb_pool: str = "") -> Cluster:
    cluster = Cluster(seed, lb_pool=lb_pool)
    cluster.add_node("master", "192.168.49.2", "10.244.0.0/24", control_plane=True)
    cluster.add_node("node1", "192.168.49.3", "10.244.1.0/24")
    cluster.add_node("node2", "192.168.49.4", "10.244.2.0/24")
    return cluster


def kubectl(cluster: Cluster, line: str, stdin: str | None = None) -> CommandResult:
    return run_kubectl(cluster, shlex.split(line), stdin)

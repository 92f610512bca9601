"""The simulated Kubernetes cluster the learner works on, and the kubectl that drives it.

Public surface:
- `Cluster` (cluster.py): objects, logical clock, change log, controllers run after each change;
  `cluster.to_proxy_dict(node)` is what kube-proxy on that node consumes (corpus schema).
- `run_kubectl(cluster, argv, stdin=None) -> CommandResult` (kubectl.py): kubectl's own
  output and errors; `kubectl lab ...` holds the lab-only commands.
- `to_data` / `from_data` (persist.py): the cluster as JSON-ready data and back.
- `ClusterError` (errors.py): every refusal, worded as kubectl prints it.
"""

from app.sim.cluster.cluster import Cluster
from app.sim.cluster.errors import ClusterError
from app.sim.cluster.kubectl import CommandResult, run_kubectl
from app.sim.cluster.persist import from_data, to_data

__all__ = ["Cluster", "ClusterError", "CommandResult", "from_data", "run_kubectl", "to_data"]

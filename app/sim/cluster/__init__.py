"""The simulated Kubernetes cluster the learner works on, and the kubectl that drives it.

Public surface:
- `Cluster` (cluster.py): objects, logical clock, change log, controllers run after each change;
  `cluster.to_proxy_dict(node)` is what kube-proxy on that node consumes (corpus schema).
- `run_kubectl(cluster, argv, stdin=None) -> CommandResult` (kubectl.py): kubectl's own
  output and errors (`run_line` takes a whole command line); `kubectl lab ...` holds the
  lab-only commands.
- `to_data` / `from_data` (persist.py): the cluster as JSON-ready data and back.
- `request(cluster, "pod/NAME", "svc/NAME:PORT")` (addressing.py): the engine's packet JSON
  and the node it meets; `who_has(cluster, ip)` names what owns an address.
- `summary(cluster)` (view.py): nodes, pods, Services and endpoints as plain data.
- `ClusterError` (errors.py): every refusal, worded as kubectl prints it.
"""

from app.sim.cluster.addressing import Request, request, who_has
from app.sim.cluster.cluster import Cluster
from app.sim.cluster.errors import ClusterError
from app.sim.cluster.kubectl import CommandResult, run_kubectl, run_line
from app.sim.cluster.persist import from_data, to_data
from app.sim.cluster.view import summary

__all__ = [
    "Cluster",
    "ClusterError",
    "CommandResult",
    "Request",
    "from_data",
    "request",
    "run_kubectl",
    "run_line",
    "summary",
    "to_data",
    "who_has",
]

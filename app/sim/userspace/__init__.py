"""The userspace proxy process of kube-proxy's historical userspace mode (removed in
Kubernetes v1.26): the round-robin load balancer and the connect-with-retry loop."""

from app.sim.userspace.proxy import Attempt, Choice, ProxyProcess

__all__ = ["Attempt", "Choice", "ProxyProcess"]

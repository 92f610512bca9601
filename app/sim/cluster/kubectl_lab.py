"""`kubectl lab ...`: lab-only commands standing in for what happens on a real cluster
without a command (a readiness probe starting to fail, time passing, a node going down),
plus the `--help` text of the other commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.sim.cluster.errors import ClusterError
from app.sim.cluster.flags import Parsed
from app.sim.cluster.kubectl import NAMESPACE, Command, Output, split_targets
from app.sim.cluster.timefmt import parse_duration

if TYPE_CHECKING:
    from app.sim.cluster.cluster import Cluster

# -------------------------------------------------------------------------------------

LAB_HELP = """Lab-only commands. They are not part of the real kubectl: they stand in for
things that happen on a real cluster without any command, so you can make them happen.

Commands:
  set-ready pod/NAME true|false    Make the pod's readiness probe pass or fail. A real
                                   cluster has no such command: a failing readiness probe
                                   does this. The pod stays Running but shows READY 0/1,
                                   and the endpoints controller takes it out of the
                                   Service's ready endpoints.
  advance DURATION                 Move the cluster clock forward (30s, 5m, 2h, 1d). Pods
                                   deleted with --wait=false finish terminating once their
                                   grace period has passed.
  restart pod/NAME                 Restart the pod's container, as the kubelet does when a
                                   liveness probe fails or the process exits: RESTARTS
                                   goes up and the pod keeps its name and IP.
  node-ready node/NAME true|false  Make a node Ready or NotReady (its pods stop being ready).
  kill-app pod/NAME                Make the pod's application stop listening while the pod
                                   stays Running and Ready (no readiness probe notices): its
                                   endpoint stays in the Service, connections are refused.
                                   `kubectl lab restart pod/NAME` brings the app back.
  ipvs-scheduler NAME              kube-proxy's --ipvs-scheduler for IPVS mode (rr, wrr,
                                   lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh,
                                   twos).
  ipvs-modules node/NAME true|false
                                   Load or unload the node's IPVS kernel modules. Without
                                   them kube-proxy in IPVS mode falls back to iptables mode.

Examples:
  kubectl lab set-ready pod/my-first-deploy-785c6c79d9-7bgf5 false
  kubectl delete pod my-first-deploy-785c6c79d9-7bgf5 --wait=false
  kubectl lab advance 30s
"""


def _bool_arg(text: str) -> bool:
    if text not in ("true", "false"):
        raise ClusterError(f'error: invalid value "{text}": expected true or false')
    return text == "true"


def cmd_lab(cluster: Cluster, parsed: Parsed, stdin: str | None, out: Output) -> None:
    args = parsed.args
    if not args:
        out.out.append(LAB_HELP)
        return
    action, rest = args[0], args[1:]
    namespace = str(parsed.get("namespace"))
    if action == "set-ready" and len(rest) == 2:
        ((resource, names),) = split_targets(rest[:1]) or [(None, [])]
        if resource is None or resource.kind != "Pod" or not names:
            raise ClusterError("error: set-ready takes pod/NAME")
        cluster.set_pod_ready(names[0], _bool_arg(rest[1]), namespace)
        out.out.append(
            f"pod/{names[0]} readiness probe now {'passes' if rest[1] == 'true' else 'fails'}\n"
        )
    elif action == "restart" and len(rest) == 1:
        name = rest[0].split("/", 1)[-1]
        pod = cluster.restart_container(name, namespace)
        out.out.append(f"pod/{name} container restarted (RESTARTS {pod.restarts})\n")
    elif action == "kill-app" and len(rest) == 1:
        name = rest[0].split("/", 1)[-1]
        pod = cluster.get("Pod", name, namespace)
        pod.app_dead = True  # type: ignore[attr-defined]
        cluster._touch("Pod", pod.meta, "updated")  # type: ignore[attr-defined]
        out.out.append(f"pod/{name} application stopped (the pod stays Ready)\n")
    elif action == "ipvs-scheduler" and len(rest) == 1:
        _ipvs_scheduler(cluster, rest[0])
        out.out.append(f"kube-proxy --ipvs-scheduler={rest[0]}\n")
    elif action == "ipvs-modules" and len(rest) == 2:
        name = rest[0].split("/", 1)[-1]
        cluster.get("Node", name)
        off = set(cluster.proxy_config.get("ipvsUnavailable") or ())  # type: ignore[arg-type]
        off = off - {name} if _bool_arg(rest[1]) else off | {name}
        cluster.proxy_config["ipvsUnavailable"] = sorted(off)
        cluster.version += 1  # kube-proxy restarts on that node: a new sync
        out.out.append(f"node/{name} IPVS modules {'loaded' if rest[1] == 'true' else 'absent'}\n")
    elif action == "node-ready" and len(rest) == 2:
        name = rest[0].split("/", 1)[-1]
        cluster.set_node_ready(name, _bool_arg(rest[1]))
        out.out.append(f"node/{name} {'Ready' if rest[1] == 'true' else 'NotReady'}\n")
    elif action == "advance" and len(rest) == 1:
        try:
            seconds = parse_duration(rest[0])
        except ValueError:
            raise ClusterError(
                f'error: invalid duration "{rest[0]}" (examples: 30s, 5m, 2h, 1d)'
            ) from None
        cluster.advance(seconds)
        out.out.append(f"clock advanced by {rest[0]}\n")
    else:
        raise ClusterError(f'error: unknown lab command "{" ".join(args)}"\n\n' + LAB_HELP)


def _ipvs_scheduler(cluster: Cluster, name: str) -> None:
    """Restart kube-proxy with another --ipvs-scheduler (ip_vs_<name>.ko, ipvsadm(8))."""
    from app.sim.ipvs.schedulers import SCHEDULERS

    if name not in SCHEDULERS:
        known = ", ".join(sorted(SCHEDULERS))
        raise ClusterError(f'error: unknown IPVS scheduler "{name}" (one of {known})')
    cluster.proxy_config["scheduler"] = name
    cluster.version += 1  # the restarted kube-proxy syncs every virtual server


def help_text(name: str, command: Command) -> str:
    if name == "lab":
        return LAB_HELP
    flags = "".join(
        f"    {'-' + f.short + ', ' if f.short else ''}--{f.name}{'=' if f.takes_value else ''}\n"
        for f in command.flags
    )
    return f"{command.short}.\n\nOptions:\n{flags}\nUsage:\n  kubectl {name} [options]\n"


LAB = Command(
    cmd_lab, [NAMESPACE], "Lab-only commands (not in real kubectl): readiness, clock, nodes"
)

"""Whatever a learner types, kubectl answers with output or kubectl's own error: never a
Python exception, and the cluster stays consistent (every slice endpoint is a live pod)."""

from __future__ import annotations

from cluster_builders import two_workers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.sim.cluster.kubectl import run_kubectl

WORDS = [
    "get",
    "describe",
    "create",
    "expose",
    "scale",
    "delete",
    "label",
    "apply",
    "run",
    "lab",
    "patch",
    "set",
    "rollout",
    "version",
    "pods",
    "pod",
    "po",
    "svc",
    "service",
    "deploy",
    "deployment",
    "rs",
    "nodes",
    "ep",
    "endpointslices",
    "events",
    "ns",
    "all",
    "web",
    "api",
    "deployment/web",
    "svc/web",
    "pod/x",
    "node/node1",
    "-o",
    "wide",
    "yaml",
    "json",
    "name",
    "-owide",
    "-n",
    "default",
    "kube-system",
    "-A",
    "-l",
    "app=web",
    "app!=web",
    "--replicas=3",
    "--replicas=-1",
    "--replicas",
    "0",
    "--image=nginx",
    "--port=80",
    "--port=abc",
    "--target-port=http",
    "--type=NodePort",
    "--type=LoadBalancer",
    "--name=x",
    "service",
    "nodeport",
    "clusterip",
    "--tcp=80:8080",
    "--node-port=30080",
    "set-ready",
    "true",
    "false",
    "advance",
    "30s",
    "restart",
    "node-ready",
    "image",
    "nginx=nginx:2",
    "status",
    "undo",
    "-p",
    '{"spec":{"type":"NodePort"}}',
    '{"spec":{"replicas":2}}',
    "{bad",
    "--wait=false",
    "--grace-period=5",
    "--overwrite",
    "tier=fe",
    "tier-",
    "-f",
    "-",
    "--show-labels",
    "--",
    "=",
    "/",
    "",
    "-",
    "--bogus",
    "-z",
]
MANIFESTS = st.sampled_from(
    [
        None,
        "",
        "kind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  selector: "
        "{matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec: "
        "{containers: [{name: c, image: i, ports: [{containerPort: 80, name: http}]}]}\n",
        "kind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n",
        "- just\n- a list\n",
        ": : :\n",
        '{"kind": "Service", "metadata": {"name": 5}, "spec": {"ports": [{"port": "x"}]}}',
        "kind: Service\nmetadata: {name: s}\n"
        "spec: {ports: [{port: 80, nodePort: 31000}], type: NodePort}",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(WORDS) | st.text(max_size=6), min_size=0, max_size=7),
            MANIFESTS,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_random_commands_never_raise(commands: list[tuple[list[str], str | None]]) -> None:
    cluster = two_workers()
    run_kubectl(cluster, ["create", "deployment", "web", "--image=nginx", "--port=80"])
    for argv, stdin in commands:
        result = run_kubectl(cluster, ["kubectl", *argv], stdin)
        assert result.status in (0, 1)
        assert result.stdout or result.stderr or argv[:1] in (["lab"], ["--"])
    live = {(p.meta.namespace, p.name) for p in cluster.pods.values()}
    for slc in cluster.slices.values():
        assert all((slc.meta.namespace, e.pod_name) in live for e in slc.endpoints)

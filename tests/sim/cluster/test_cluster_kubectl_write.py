"""kubectl commands that change the cluster: their effect, their output line, their errors."""

from __future__ import annotations

import pytest
from cluster_builders import kubectl, two_workers

from app.sim.cluster.cluster import Cluster
from app.sim.cluster.kubectl import run_line


def _with_web(replicas: int = 2) -> Cluster:
    cluster = two_workers()
    assert kubectl(
        cluster, f"create deployment web --image=nginx:1.25 --replicas={replicas} --port=80"
    ).ok
    return cluster


def test_create_deployment_and_its_errors() -> None:
    cluster = two_workers()
    result = kubectl(cluster, "create deployment web --image=nginx:1.25 --replicas=3 --port=80")
    assert (result.status, result.stdout) == (0, "deployment.apps/web created\n")
    deploy = cluster.deployments[("default", "web")]
    assert (deploy.replicas, deploy.selector, deploy.template.containers[0].name) == (
        3,
        {"app": "web"},
        "nginx",
    )
    assert deploy.template.containers[0].ports[0].container_port == 80
    again = kubectl(cluster, "create deployment web --image=nginx")
    assert (
        # create wraps the server's message in its own (kubectl's fmt.Errorf)
        again.stderr
        == 'error: failed to create deployment: deployments.apps "web" already exists\n'
    )
    assert (
        kubectl(cluster, "create deployment other").stderr
        == 'error: required flag(s) "image" not set\n'
    )
    assert kubectl(cluster, "create deployment --image=x").stderr.startswith(
        "error: exactly one NAME is required, got 0"
    )
    assert kubectl(cluster, "create deployment x --image=x --replicas=two").stderr.startswith(
        'error: invalid argument "two" for "--replicas" flag'
    )


def test_expose_uses_the_container_port_and_deployment_selector() -> None:
    cluster = _with_web()
    result = kubectl(cluster, "expose deployment web")
    assert (result.status, result.stdout) == (0, "service/web exposed\n")
    svc = cluster.services[("default", "web")]
    assert (svc.type, svc.selector, svc.ports[0].port, svc.ports[0].target_port) == (
        "ClusterIP",
        {"app": "web"},
        80,
        80,
    )
    assert len(next(iter(cluster.slices.values())).endpoints) == 2


def test_expose_with_flags() -> None:
    cluster = _with_web()
    result = kubectl(
        cluster, "expose deployment/web --port=8080 --target-port=80 --type=NodePort --name=web-np"
    )
    assert result.stdout == "service/web-np exposed\n"
    svc = cluster.services[("default", "web-np")]
    assert (svc.type, svc.ports[0].port, svc.ports[0].target_port) == ("NodePort", 8080, 80)
    assert 30000 <= svc.ports[0].node_port <= 32767
    bad = kubectl(cluster, "expose deployment web --port=80 --type=Bogus --name=x")
    assert bad.stderr.startswith(
        'The Service "x" is invalid: spec.type: Unsupported value: "Bogus"'
    )


def test_expose_without_any_port_is_refused() -> None:
    cluster = two_workers()
    kubectl(cluster, "create deployment bare --image=busybox")
    assert kubectl(cluster, "expose deployment bare").stderr.startswith(
        "error: couldn't find port via --port flag or introspection"
    )
    assert kubectl(cluster, "expose deployment nope --port=80").stderr == (
        'Error from server (NotFound): deployments.apps "nope" not found\n'
    )


@pytest.mark.parametrize(
    "line",
    [
        "scale deployment/web --replicas=4",
        "scale deployment web --replicas=4",
        "scale --replicas=4 deploy web",
    ],
)
def test_scale_spellings(line: str) -> None:
    cluster = _with_web()
    result = kubectl(cluster, line)
    assert (result.status, result.stdout) == (0, "deployment.apps/web scaled\n")
    assert len(cluster.pods) == 4


def test_scale_errors() -> None:
    cluster = _with_web()
    assert (
        kubectl(cluster, "scale deployment/web").stderr
        == 'error: required flag(s) "replicas" not set\n'
    )
    assert (
        "COUNT must be greater than or equal to 0"
        in kubectl(cluster, "scale deployment/web --replicas=-1").stderr
    )
    assert kubectl(cluster, "scale deployment/nope --replicas=1").stderr == (
        'Error from server (NotFound): deployments.apps "nope" not found\n'
    )


def test_delete_each_kind() -> None:
    cluster = _with_web()
    kubectl(cluster, "expose deployment web")
    pod = sorted(cluster.pods)[0][1]
    assert kubectl(cluster, f"delete pod {pod}").stdout == f'pod "{pod}" deleted\n'
    assert len(cluster.pods) == 2  # replaced
    assert kubectl(cluster, "delete svc web").stdout == 'service "web" deleted\n'
    assert not cluster.slices
    assert kubectl(cluster, "delete deploy/web").stdout == 'deployment.apps "web" deleted\n'
    assert not cluster.pods and not cluster.replicasets
    missing = kubectl(cluster, "delete pod a b")
    assert missing.status == 1
    assert missing.stderr == (
        'Error from server (NotFound): pods "a" not found\nError from server (NotFound): pods "b" '
        "not found\n"
    )
    assert (
        kubectl(cluster, "delete pod").stderr
        == "error: resource(s) were provided, but no name was specified\n"
    )


def test_delete_without_wait_leaves_the_pod_terminating_for_its_grace_period() -> None:
    cluster = _with_web(1)
    pod = next(iter(cluster.pods))[1]
    kubectl(cluster, f"delete pod {pod} --wait=false --grace-period=10")
    row = next(
        line for line in kubectl(cluster, "get pods").stdout.splitlines() if line.startswith(pod)
    )
    assert row.split()[2] == "Terminating"
    kubectl(cluster, "lab advance 10s")
    assert pod not in kubectl(cluster, "get pods").stdout


def test_delete_by_selector() -> None:
    cluster = _with_web(3)
    kubectl(cluster, "run debug --image=busybox")
    result = kubectl(cluster, "delete pods -l app=web")
    assert result.stdout.count(" deleted\n") == 3
    assert ("default", "debug") in cluster.pods


def test_label_adds_overwrites_and_removes() -> None:
    cluster = _with_web(1)
    pod = next(iter(cluster.pods))[1]
    assert kubectl(cluster, f"label pod {pod} tier=fe").stdout == f"pod/{pod} labeled\n"
    refused = kubectl(cluster, f"label pod {pod} tier=be")
    assert refused.stderr == "error: 'tier' already has a value (fe), and --overwrite is false\n"
    assert kubectl(cluster, f"label pod/{pod} tier=be --overwrite").ok
    assert cluster.pods[("default", pod)].meta.labels["tier"] == "be"
    assert kubectl(cluster, f"label pod {pod} tier-").stdout == f"pod/{pod} unlabeled\n"
    assert "tier" not in cluster.pods[("default", pod)].meta.labels
    assert "at least one label update is required" in kubectl(cluster, f"label pod {pod}").stderr


def test_run_creates_a_bare_pod_labelled_run() -> None:
    cluster = two_workers()
    assert kubectl(cluster, "run nginx --image=nginx --port=80").stdout == "pod/nginx created\n"
    pod = cluster.pods[("default", "nginx")]
    assert (pod.meta.labels, pod.phase, pod.meta.owner) == ({"run": "nginx"}, "Running", None)
    kubectl(cluster, "expose pod nginx --port=80")
    assert cluster.services[("default", "nginx")].selector == {"run": "nginx"}
    assert kubectl(cluster, "delete pod nginx").ok
    assert ("default", "nginx") not in cluster.pods  # nothing recreates a bare pod


MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
  labels: {app: echo}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: echo
  template:
    metadata:
      labels:
        app: echo
    spec:
      containers:
      - name: echo
        image: registry.k8s.io/echoserver:1.10
        ports:
        - name: http      # named, so the Service can target it by name
          containerPort: 8080
        readinessProbe:
          httpGet: {path: /, port: http}
---
apiVersion: v1
kind: Service
metadata:
  name: echo
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  sessionAffinity: ClientIP
  sessionAffinityConfig:
    clientIP:
      timeoutSeconds: 600
  loadBalancerSourceRanges: ["203.0.113.0/24"]
  selector:
    app: echo
  ports:
  - name: web
    port: 80
    targetPort: http
    nodePort: 30111
"""


def test_apply_creates_then_reports_unchanged_then_configured() -> None:
    cluster = two_workers(lb_pool="192.168.49.240/28")
    first = kubectl(cluster, "apply -f -", MANIFEST)
    assert (first.status, first.stdout) == (
        0,
        "deployment.apps/echo created\nservice/echo created\n",
    )
    svc = cluster.services[("default", "echo")]
    assert (svc.type, svc.external_traffic_policy, svc.session_affinity, svc.affinity_timeout) == (
        "LoadBalancer",
        "Local",
        "ClientIP",
        600,
    )
    assert (svc.ports[0].node_port, svc.load_balancer_source_ranges) == (30111, ["203.0.113.0/24"])
    (slc,) = cluster.slices.values()
    assert {p.port for p in slc.ports} == {8080} and len(slc.endpoints) == 2
    again = kubectl(cluster, "apply -f -", MANIFEST)
    assert again.stdout == "deployment.apps/echo unchanged\nservice/echo unchanged\n"
    cluster_ip = svc.cluster_ip
    changed = kubectl(
        cluster, "apply -f -", MANIFEST.replace("replicas: 2", "replicas: 3").replace("600", "900")
    )
    assert changed.stdout == "deployment.apps/echo configured\nservice/echo configured\n"
    updated = cluster.services[("default", "echo")]
    assert (updated.cluster_ip, updated.affinity_timeout, updated.ports[0].node_port) == (
        cluster_ip,
        900,
        30111,
    )
    assert len(cluster.pods) == 3


def test_apply_json_and_a_pod() -> None:
    cluster = two_workers()
    doc = (
        '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},'
        ' "spec": {"containers": [{"name": "c", "image": "nginx"}]}}'
    )
    assert kubectl(cluster, "apply -f -", doc).stdout == "pod/p created\n"
    assert cluster.pods[("default", "p")].meta.labels == {"a": "b"}


@pytest.mark.parametrize(
    ("stdin", "error"),
    [
        (
            "kind: Foo\napiVersion: x/v1\nmetadata: {name: a}\n",
            'no matches for kind "Foo" in version "x/v1"',
        ),
        ("metadata: {name: a}\n", "error validating data: kind not set"),
        (
            "kind: Service\nmetadata:\n  name: a\n   bad: indent\n",
            "error: error parsing STDIN: error converting YAML to JSON: yaml: line 4:",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 99999}]}\n",
            # targetPort defaults to port before validation, so both are reported
            'The Service "s" is invalid: [spec.ports[0].port: Invalid value: 99999: must be '
            "between 1 and "
            "65535, inclusive, spec.ports[0].targetPort: Invalid value: 99999: must be between 1 "
            "and 65535, "
            "inclusive]",
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: "
            "{matchLabels: {a: b}}\n"
            "  template:\n    metadata: {labels: {a: c}}\n    spec: "
            "{containers: [{name: c, image: i}]}\n",
            "`selector` does not match template `labels`",
        ),
        ("", "error: no objects passed to apply"),
    ],
)
def test_apply_errors(stdin: str, error: str) -> None:
    result = kubectl(two_workers(), "apply -f -", stdin)
    assert result.status == 1
    assert error in result.stderr


def test_apply_needs_stdin_file() -> None:
    cluster = two_workers()
    assert kubectl(cluster, "apply").stderr == "error: must specify one of -f and -k\n"
    assert (
        kubectl(cluster, "apply -f web.yaml").stderr
        == 'error: the path "web.yaml" does not exist\n'
    )


def test_lab_set_ready_and_help() -> None:
    cluster = _with_web(2)
    kubectl(cluster, "expose deployment web")
    pod = sorted(cluster.pods)[0][1]
    assert kubectl(cluster, f"lab set-ready pod/{pod} false").ok
    rows = {
        line.split()[0]: line.split()
        for line in kubectl(cluster, "get pods").stdout.splitlines()[1:]
    }
    assert rows[pod][1:3] == ["0/1", "Running"]
    assert cluster.pods[("default", pod)].ip not in kubectl(cluster, "get endpoints web").stdout
    help_text = kubectl(cluster, "lab --help").stdout
    assert "not part of the real kubectl" in help_text and "readiness probe" in help_text
    assert (
        kubectl(cluster, "lab set-ready pod/nope false").stderr
        == 'Error from server (NotFound): pods "nope" not found\n'
    )
    assert kubectl(cluster, f"lab set-ready pod/{pod} maybe").status == 1
    assert kubectl(cluster, "lab advance soon").stderr.startswith('error: invalid duration "soon"')


def test_no_command_prints_usage_and_bad_input_never_raises() -> None:
    cluster = _with_web(1)
    assert kubectl(cluster, "").stdout.startswith(
        "kubectl controls the Kubernetes cluster manager."
    )
    for line in [
        "get -o",
        "describe",
        "scale",
        "label",
        "expose",
        "delete",
        "run",
        "lab set-ready",
        "create deployment a b --image=x",
        "get pods -- -x",
        "version",
    ]:
        result = kubectl(cluster, line)
        assert result.status in (0, 1), line


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (
            "expose deployment web --name=My_Web --port=80",
            'The Service "My_Web" is invalid: metadata.name: Invalid value: "My_Web": a DNS-1035 '
            "label must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character",
        ),
        (
            "expose deployment web --name=80web --port=80",
            'metadata.name: Invalid value: "80web": a DNS-1035 label',
        ),
        (
            "run Web_1 --image=nginx",
            'The Pod "Web_1" is invalid: metadata.name: Invalid value: "Web_1": a lowercase RFC '
            "1123 subdomain must consist of",
        ),
        (
            "create deployment Api --image=nginx",
            'error: failed to create deployment: Deployment.apps "Api" is invalid: metadata.name',
        ),
        (
            "create namespace Team.A",
            'metadata.name: Invalid value: "Team.A": a lowercase RFC 1123 label',
        ),
    ],
)
def test_names_are_validated_like_the_api_server(line: str, error: str) -> None:
    cluster = _with_web()
    result = kubectl(cluster, line)
    assert result.status == 1
    assert error in result.stderr
    assert kubectl(cluster, "run web-1.example --image=nginx").ok  # subdomains allow dots


def test_apply_over_an_imperatively_created_object_warns_but_succeeds() -> None:
    cluster = _with_web(1)
    manifest = kubectl(cluster, "get deploy web -o yaml").stdout.replace(
        "replicas: 1", "replicas: 2"
    )
    result = kubectl(cluster, "apply -f -", manifest)
    assert (result.status, result.stdout) == (0, "deployment.apps/web configured\n")
    assert result.stderr.startswith(
        "Warning: resource deployments/web is missing the "
        "kubectl.kubernetes.io/last-applied-configuration annotation"
    )
    assert len(cluster.pods) == 2
    assert kubectl(cluster, "apply -f -", manifest).stderr == ""  # annotated now


def test_create_from_stdin_refuses_existing_objects() -> None:
    cluster = two_workers()
    manifest = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n"
    assert kubectl(cluster, "create -f -", manifest).stdout == "service/s created\n"
    again = kubectl(cluster, "create -f -", manifest)
    assert again.stderr == (
        'Error from server (AlreadyExists): error when creating "STDIN": '
        'services "s" already exists\n'
    )


def test_run_line_splits_like_a_shell() -> None:
    cluster = _with_web(1)
    result = run_line(cluster, 'kubectl patch deploy web -p \'{"spec": {"replicas": 3}}\'')
    assert result.stdout == "deployment.apps/web patched\n"
    assert run_line(cluster, "kubectl get pods 'unclosed").status == 2
    assert run_line(cluster, "kubctl get pods").stderr == "bash: kubctl: command not found\n"


def test_label_by_selector() -> None:
    cluster = _with_web(3)
    result = run_line(cluster, "kubectl label pods -l app=web tier=fe")
    assert result.stdout.count(" labeled\n") == 3
    assert all(p.meta.labels["tier"] == "fe" for p in cluster.pods.values())

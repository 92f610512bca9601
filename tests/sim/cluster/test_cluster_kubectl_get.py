"""`kubectl get` and `describe`: kubectl's columns, widths, cell text and errors."""

from __future__ import annotations

import json

import pytest
import yaml
from cluster_builders import kubectl, two_workers

from app.sim.cluster.cluster import Cluster
from app.sim.cluster.objects import Container, ContainerPort, Service, ServicePort
from app.sim.cluster.tabwriter import align
from app.sim.cluster.timefmt import human_duration


def _lab() -> Cluster:
    cluster = two_workers(lb_pool="192.168.49.240/28")
    container = Container("nginx", "nginx:1.25", [ContainerPort(80, "http")])
    cluster.create_deployment("web", "nginx:1.25", replicas=2, containers=[container])
    cluster.create_service(
        Service(
            cluster.new_meta("web", labels={"app": "web"}),
            selector={"app": "web"},
            ports=[ServicePort(80, target_port="http")],
        )
    )
    np = Service(cluster.new_meta("web-np"), type="NodePort", selector={"app": "web"})
    np.ports = [ServicePort(80, name="http", target_port="http", node_port=30080)]
    cluster.create_service(np)
    lb = Service(cluster.new_meta("web-lb"), type="LoadBalancer", selector={"app": "web"})
    lb.ports = [ServicePort(80, node_port=30081)]
    lb.external_ips = ["192.168.49.50"]
    cluster.create_service(lb)
    ext = Service(cluster.new_meta("search"), type="ExternalName", external_name="www.example.com")
    cluster.create_service(ext)
    cluster.advance(5 * 60 + 3)
    return cluster


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (120, "2m"),
        (303, "5m3s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 600, "3h10m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (2 * 86400, "2d"),
        (2 * 86400 + 3600, "2d1h"),
        (18 * 86400 + 5 * 3600, "18d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
        (-5, "<invalid>"),
    ],
)
def test_age_column_follows_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_tabwriter_pads_columns_like_go() -> None:
    # minwidth 6, padding 3; the last cell of a line is never padded
    assert (
        align("NAME\tAGE\nmy-first-deploy\t18d") == "NAME              AGE\nmy-first-deploy   18d"
    )
    assert align("A\tB\tC\nxx\ty") == "A     B     C\nxx    y"
    # a line without a tab ends the column block (how `describe` resets its alignment)
    assert (
        align("a:\t1\nheading\nlonger key:\t2", minwidth=0, padding=2)
        == "a:  1\nheading\nlonger key:  2"
    )


def test_get_pods_columns_and_wide_columns() -> None:
    cluster = _lab()
    lines = kubectl(cluster, "get pods").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert lines[1].split()[1:] == ["1/1", "Running", "0", "5m3s"]
    wide = kubectl(cluster, "get pods -o wide").stdout.splitlines()
    assert wide[0].endswith("IP           NODE    NOMINATED NODE   READINESS GATES")
    cells = wide[1].split()
    pod = cluster.pods[("default", cells[0])]
    assert cells[5:] == [pod.ip, pod.node_name, "<none>", "<none>"]
    assert pod.ip.startswith("10.244.1." if pod.node_name == "node1" else "10.244.2.")


def test_get_services_of_every_type() -> None:
    out = kubectl(_lab(), "get svc").stdout
    assert out == (
        "NAME     TYPE           CLUSTER-IP       EXTERNAL-IP                    PORT(S)        "
        "AGE\n"
        "search   ExternalName   <none>           www.example.com                <none>         "
        "5m3s\n" + _row(out, "web ") + _row(out, "web-lb") + _row(out, "web-np")
    )
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["web"][1:5] == ["ClusterIP", rows["web"][2], "<none>", "80/TCP"]
    assert rows["web-lb"][3:5] == ["192.168.49.240,192.168.49.50", "80:30081/TCP"]
    assert rows["web-np"][3:5] == ["<none>", "80:30080/TCP"]


def _row(out: str, start: str) -> str:
    return next(line + "\n" for line in out.splitlines() if line.startswith(start))


def test_get_svc_wide_shows_selector() -> None:
    out = kubectl(_lab(), "get svc web -o wide").stdout.splitlines()
    assert out[0].split()[-1] == "SELECTOR"
    assert out[1].split()[-1] == "app=web"


def test_get_deploy_rs_nodes_columns() -> None:
    cluster = _lab()
    deploy = kubectl(cluster, "get deploy -o wide").stdout.splitlines()
    assert deploy[0].split() == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    assert deploy[1].split() == ["web", "2/2", "2", "2", "5m3s", "nginx", "nginx:1.25", "app=web"]
    rs = kubectl(cluster, "get rs").stdout.splitlines()
    assert rs[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert rs[1].split()[1:] == ["2", "2", "2", "5m3s"]
    nodes = kubectl(cluster, "get nodes").stdout.splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes[1].split()[:3] == ["master", "Ready", "control-plane"]
    assert nodes[2].split()[:3] == ["node1", "Ready", "<none>"]


def test_get_endpoints_and_endpointslices() -> None:
    cluster = _lab()
    cluster.scale_deployment("web", 5)
    ep = kubectl(cluster, "get endpoints web").stdout.splitlines()
    assert ep[0].split() == ["NAME", "ENDPOINTS", "AGE"]
    assert ep[1].split()[1:4] == ["10.244.1.2:80,10.244.1.3:80,10.244.1.4:80", "+", "2"]
    assert ep[1].split()[4] == "more..."
    slices = kubectl(
        cluster, "get endpointslices -l kubernetes.io/service-name=web"
    ).stdout.splitlines()
    assert slices[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert slices[1].split()[1:3] == ["IPv4", "80"]
    assert " + 2 more..." in slices[1]
    assert "search" not in kubectl(cluster, "get ep").stdout  # ExternalName has no Endpoints


def test_empty_lists_say_no_resources_found() -> None:
    cluster = _lab()
    result = kubectl(cluster, "get pods -n kube-public")
    assert (result.status, result.stdout, result.stderr) == (
        0,
        "",
        "No resources found in kube-public namespace.\n",
    )
    assert kubectl(cluster, "get deploy -A -l app=nothing").stderr == "No resources found\n"


def test_all_namespaces_adds_namespace_column() -> None:
    out = kubectl(_lab(), "get deploy -A").stdout.splitlines()
    assert out[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert out[1].split()[:2] == ["default", "web"]


def test_several_types_are_listed_with_type_prefixes() -> None:
    out = kubectl(_lab(), "get deploy,svc").stdout
    first, second = out.split("\n\n")
    assert first.splitlines()[1].startswith("deployment.apps/web   ")
    assert [line.split()[0] for line in second.splitlines()[1:]] == [
        "service/search",
        "service/web",
        "service/web-lb",
        "service/web-np",
    ]


def test_output_name_json_yaml() -> None:
    cluster = _lab()
    assert kubectl(cluster, "get svc -o name").stdout == (
        "service/search\nservice/web\nservice/web-lb\nservice/web-np\n"
    )
    assert kubectl(cluster, "get deploy -oname").stdout == "deployment.apps/web\n"
    single = json.loads(kubectl(cluster, "get svc web -o json").stdout)
    assert (single["kind"], single["spec"]["ports"][0]["targetPort"]) == ("Service", "http")
    listed = yaml.safe_load(kubectl(cluster, "get pods -o yaml").stdout)
    assert listed["kind"] == "List" and len(listed["items"]) == 2
    pod = listed["items"][0]
    assert pod["status"]["podIP"] == pod["status"]["podIPs"][0]["ip"]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"


def test_json_output_uses_four_space_indent_and_sorted_keys() -> None:
    text = kubectl(_lab(), "get node node1 -o json").stdout
    assert text.startswith('{\n    "apiVersion": "v1",\n    "kind": "Node",\n')


def test_named_get_reports_missing_ones_and_still_prints_the_rest() -> None:
    result = kubectl(_lab(), "get svc web nope")
    assert result.status == 1
    assert result.stderr == 'Error from server (NotFound): services "nope" not found\n'
    assert result.stdout.splitlines()[1].startswith("web ")


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("get", "error: Required resource not specified."),
        ("get foo", 'error: the server doesn\'t have a resource type "foo"'),
        (
            "get pods -o xml",
            'error: unable to match a printer suitable for the output format "xml"',
        ),
        ("get pods --bogus", "error: unknown flag: --bogus\nSee 'kubectl get --help' for usage."),
        ("get pods -n", "error: flag needs an argument: 'n' in -n"),
        ("get pods -l 'a=b=c'", "error: unable to parse requirement"),
        ("describe deploy nope", 'Error from server (NotFound): deployments.apps "nope" not found'),
        ("describe svc nope", 'Error from server (NotFound): services "nope" not found'),
        ("get pod/nope", 'Error from server (NotFound): pods "nope" not found'),
    ],
)
def test_errors_are_worded_like_kubectl(line: str, error: str) -> None:
    result = kubectl(_lab(), line)
    assert result.status == 1
    assert error in result.stderr


def test_unknown_command_suggests_the_close_one() -> None:
    result = kubectl(_lab(), "kubectl gett pods")
    assert (
        result.stderr
        == 'error: unknown command "gett" for "kubectl"\n\nDid you mean this?\n\tget\n\n'
    )
    assert result.status == 1


def test_describe_service_layout() -> None:
    cluster = _lab()
    out = kubectl(cluster, "describe svc web-np").stdout
    ips = {p.ip for p in cluster.pods.values()}
    endpoints = ",".join(f"{ip}:80" for ip in sorted(ips))
    cluster_ip = cluster.services[("default", "web-np")].cluster_ip
    assert out == (
        "Name:                     web-np\n"
        "Namespace:                default\n"
        "Labels:                   <none>\n"
        "Annotations:              <none>\n"
        "Selector:                 app=web\n"
        "Type:                     NodePort\n"
        "IP Family Policy:         SingleStack\n"
        "IP Families:              IPv4\n"
        f"IP:                       {cluster_ip}\n"
        f"IPs:                      {cluster_ip}\n"
        "Port:                     http  80/TCP\n"
        "TargetPort:               http/TCP\n"
        "NodePort:                 http  30080/TCP\n"
        f"Endpoints:                {endpoints}\n"
        "Session Affinity:         None\n"
        "External Traffic Policy:  Cluster\n"
        "Internal Traffic Policy:  Cluster\n"
        "Events:                   <none>\n"
    )


def test_describe_lb_service_shows_ingress_and_events_table() -> None:
    out = kubectl(_lab(), "describe svc web-lb").stdout
    assert "LoadBalancer Ingress:     192.168.49.240\n" in out
    assert "External IPs:             192.168.49.50\n" in out
    assert out.endswith(
        "Events:\n"
        "  Type    Reason                Age   From                Message\n"
        "  ----    ------                ----  ----                -------\n"
        "  Normal  EnsuringLoadBalancer  5m3s  service-controller  Ensuring load balancer\n"
        "  Normal  EnsuredLoadBalancer   5m3s  service-controller  Ensured load balancer\n"
    )


def test_describe_pod_shows_node_ip_owner_and_conditions() -> None:
    cluster = _lab()
    pod = sorted(cluster.pods.values(), key=lambda p: p.name)[0]
    cluster.set_pod_ready(pod.name, False)
    out = kubectl(cluster, f"describe pod {pod.name}").stdout
    assert f"Node:             {pod.node_name}/{cluster.nodes[pod.node_name].internal_ip}\n" in out
    assert f"IPs:\n  IP:           {pod.ip}\nControlled By:  ReplicaSet/" in out
    assert "    Port:           80/TCP\n" in out
    assert "  Ready                       False \n" in out
    assert "Readiness probe failed" in out


def test_describe_node_lists_its_pods() -> None:
    cluster = _lab()
    out = kubectl(cluster, "describe node node1").stdout
    assert out.startswith("Name:               node1\nRoles:              <none>\n")
    assert f"Non-terminated Pods:          ({len(cluster.pods_on('node1'))} in total)" in out

"""`create service`, `patch`, `set image`, `rollout`, wide events, `--show-labels`, and a
cluster that survives being stored (pickled) between requests."""

from __future__ import annotations

import json
import pickle

import pytest
from cluster_builders import kubectl, two_workers

from app.sim.cluster.cluster import Cluster
from app.sim.cluster.persist import from_data, to_data


def _lab() -> Cluster:
    cluster = two_workers(lb_pool="192.168.49.240/29")
    kubectl(cluster, "create deployment web --image=nginx:1.25 --replicas=3 --port=80")
    kubectl(cluster, "create service nodeport web --tcp=80:80 --node-port=30080")
    return cluster


def test_create_service_uses_kubectl_generator_defaults() -> None:
    cluster = _lab()
    svc = cluster.services[("default", "web")]
    assert (svc.type, svc.selector, svc.meta.labels) == ("NodePort", {"app": "web"}, {"app": "web"})
    port = svc.ports[0]
    assert (port.name, port.port, port.target_port, port.node_port) == ("80-80", 80, 80, 30080)
    headless = kubectl(cluster, "create service clusterip hl --clusterip=None --tcp=80")
    assert headless.stdout == "service/hl created\n"
    assert cluster.services[("default", "hl")].cluster_ip == "None"
    ext = kubectl(cluster, "create service externalname db --external-name=db.example.com")
    assert ext.ok and "db.example.com" in kubectl(cluster, "get svc db").stdout
    assert kubectl(cluster, "create service clusterip x").stderr == (
        "error: at least one tcp port specifier must be provided\n"
    )


def test_strategic_patch_merges_ports_by_port_number() -> None:
    cluster = _lab()
    result = kubectl(
        cluster, 'patch svc web -p \'{"spec":{"ports":[{"port":80,"nodePort":30081}]}}\''
    )
    assert result.stdout == "service/web patched\n"
    (port,) = cluster.services[("default", "web")].ports
    assert (port.name, port.node_port) == ("80-80", 30081)  # name kept: merged, not replaced
    same = kubectl(
        cluster, 'patch svc web -p \'{"spec":{"ports":[{"port":80,"nodePort":30081}]}}\''
    )
    assert same.stdout == "service/web patched (no change)\n"


def test_patch_traffic_policy_and_type_round_trip_frees_node_ports() -> None:
    cluster = _lab()
    local = kubectl(cluster, 'patch svc web -p \'{"spec":{"externalTrafficPolicy":"Local"}}\'')
    assert local.ok
    assert cluster.to_proxy_dict("node1")["services"][0]["externalTrafficPolicy"] == "Local"
    down = kubectl(cluster, 'patch svc web -p \'{"spec":{"type":"ClusterIP"}}\'')
    assert down.ok, down.stderr
    svc = cluster.services[("default", "web")]
    assert (svc.type, svc.ports[0].node_port, svc.external_traffic_policy) == ("ClusterIP", 0, "")
    assert 30080 not in cluster.allocators.node_ports.used
    up = kubectl(cluster, 'patch svc web --type=merge -p \'{"spec":{"type":"LoadBalancer"}}\'')
    assert up.ok
    assert cluster.services[("default", "web")].load_balancer_ingress == ["192.168.49.240"]
    assert any(e.reason == "Type" and e.message == "NodePort -> ClusterIP" for e in cluster.events)


def test_patch_errors() -> None:
    cluster = _lab()
    assert kubectl(cluster, "patch svc web").stderr.startswith("error: must specify --patch")
    assert kubectl(cluster, "patch svc web -p '{bad'").stderr.startswith(
        'error: unable to parse "{bad"'
    )
    missing = kubectl(cluster, "patch svc nope -p '{}'")
    assert missing.stderr == 'Error from server (NotFound): services "nope" not found\n'
    invalid = kubectl(cluster, 'patch svc web -p \'{"spec":{"sessionAffinity":"Sticky"}}\'')
    assert 'spec.sessionAffinity: Unsupported value: "Sticky"' in invalid.stderr


def test_patch_deployment_replicas_and_pod_labels() -> None:
    cluster = _lab()
    assert kubectl(cluster, 'patch deploy web -p \'{"spec":{"replicas":5}}\'').ok
    assert len(cluster.pods) == 5
    pod = sorted(cluster.pods)[0][1]
    assert kubectl(
        cluster, f'patch pod {pod} -p \'{{"metadata":{{"labels":{{"app":"off"}}}}}}\''
    ).ok
    slice_pods = {e.pod_name for s in cluster.slices.values() for e in s.endpoints}
    assert pod not in slice_pods and len(slice_pods) == 5  # relabelled out, and replaced


def test_set_image_rolls_out_and_undo_rolls_back() -> None:
    cluster = _lab()
    (first_rs,) = cluster.replicasets
    result = kubectl(cluster, "set image deployment/web nginx=nginx:1.26")
    assert result.stdout == "deployment.apps/web image updated\n"
    images = {p.containers[0].image for p in cluster.pods.values()}
    assert images == {"nginx:1.26"}
    assert kubectl(cluster, "rollout status deployment/web").stdout == (
        'deployment "web" successfully rolled out\n'
    )
    assert (
        kubectl(cluster, "rollout undo deployment/web").stdout
        == "deployment.apps/web rolled back\n"
    )
    assert {p.meta.owner[1] for p in cluster.pods.values()} == {first_rs[1]}
    assert kubectl(cluster, "set image deployment/web nope=x").stderr == (
        'error: unable to find container named "nope"\n'
    )


def test_rollout_restart_replaces_every_pod() -> None:
    cluster = _lab()
    before = set(cluster.pods)
    assert (
        kubectl(cluster, "rollout restart deployment/web").stdout
        == "deployment.apps/web restarted\n"
    )
    assert not before & set(cluster.pods) and len(cluster.pods) == 3


def test_wide_events_and_show_labels() -> None:
    cluster = _lab()
    lines = kubectl(cluster, "get events -o wide").stdout.splitlines()
    assert lines[0].split() == [
        "LAST",
        "SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "SUBOBJECT",
        "SOURCE",
        "MESSAGE",
        "FIRST",
        "SEEN",
        "COUNT",
        "NAME",
    ]
    started = next(line for line in lines if " Started " in line)
    assert "spec.containers{nginx}" in started and "kubelet, node" in started
    shown = kubectl(cluster, "get pods --show-labels").stdout.splitlines()
    assert shown[0].split()[-1] == "LABELS"
    assert shown[1].split()[-1].startswith("app=web,pod-template-hash=")


def test_pending_pod_on_a_full_node_shows_container_creating() -> None:
    cluster = two_workers()
    cluster.nodes["node2"].unschedulable = True
    cluster.nodes["node1"].next_host = 2
    for host in range(2, 255):  # fill node1's /24
        cluster.index.pod_ips.add(f"10.244.1.{host}")
    kubectl(cluster, "run p --image=nginx")
    row = kubectl(cluster, "get pod p").stdout.splitlines()[1].split()
    assert row[1:3] == ["0/1", "ContainerCreating"]
    assert any(e.reason == "FailedCreatePodSandBox" for e in cluster.events)


def test_cluster_pickles_and_carries_on_identically() -> None:
    cluster = _lab()
    clone = pickle.loads(pickle.dumps(cluster))
    for lab in (cluster, clone):
        kubectl(lab, "scale deployment/web --replicas=6")
        kubectl(lab, "lab advance 1h")
    assert kubectl(clone, "get all -o yaml").stdout == kubectl(cluster, "get all -o yaml").stdout
    assert clone.to_proxy_dict("node2") == cluster.to_proxy_dict("node2")


def test_plain_data_round_trip_carries_on_identically() -> None:
    cluster = _lab()
    kubectl(cluster, "lab set-ready pod/" + sorted(cluster.pods)[0][1] + " false")
    data = json.loads(json.dumps(to_data(cluster)))  # survives JSON, as the store keeps it
    clone = from_data(data)
    assert to_data(clone) == data
    for lab in (cluster, clone):
        kubectl(lab, "scale deployment/web --replicas=5")
        kubectl(lab, "create deployment api --image=httpd --port=80")
        kubectl(lab, "expose deployment api --type=LoadBalancer")
    assert kubectl(clone, "get all,endpointslices -o yaml").stdout == (
        kubectl(cluster, "get all,endpointslices -o yaml").stdout
    )
    assert clone.changed_services(0) == cluster.changed_services(0)
    with pytest.raises(ValueError, match="unsupported cluster data format"):
        from_data({"format": 99})


def test_namespaces_must_exist_and_can_be_created() -> None:
    cluster = two_workers()
    result = kubectl(cluster, "create deployment x --image=nginx -n team-a")
    assert result.stderr == 'error: failed to create deployment: namespaces "team-a" not found\n'
    manifest = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: team-a}\n"
        "spec: {ports: [{port: 80}]}\n"
    )
    applied = kubectl(cluster, "apply -f -", manifest)
    assert applied.stderr == (
        'Error from server (NotFound): error when creating "STDIN": namespaces "team-a" not found\n'
    )
    assert kubectl(cluster, "create namespace team-a").stdout == "namespace/team-a created\n"
    assert kubectl(cluster, "apply -f -", manifest).stdout == "service/s created\n"
    names = [line.split()[0] for line in kubectl(cluster, "get ns").stdout.splitlines()[1:]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system", "team-a"]
    assert kubectl(cluster, "get svc -A").stdout.splitlines()[1].split()[:2] == ["team-a", "s"]


def test_create_wraps_server_errors_in_its_own_words() -> None:
    cluster = _lab()
    negative = kubectl(cluster, "create deployment x --image=nginx --replicas=-2")
    assert negative.stderr == (
        'error: failed to create deployment: Deployment.apps "x" is invalid: spec.replicas: '
        "Invalid value: -2: must be greater than or equal to 0\n"
    )
    taken = kubectl(cluster, "create service nodeport other --tcp=80 --node-port=30080")
    assert taken.stderr == (
        'error: failed to create NodePort service: Service "other" is invalid: '
        "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated\n"
    )
    # expose reports the same refusal unwrapped, as kubectl does
    exposed = kubectl(cluster, "expose deployment web --name=x --type=NodePort --port=80")
    assert exposed.ok
    svc = cluster.services[("default", "x")]
    manifest = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: y}\nspec:\n  type: NodePort\n"
        f"  ports: [{{port: 80, nodePort: {svc.ports[0].node_port}}}]\n"
    )
    assert kubectl(cluster, "apply -f -", manifest).stderr.startswith(
        'The Service "y" is invalid: '
    )


def test_lab_restart_counts_restarts_like_the_kubelet() -> None:
    cluster = _lab()
    pod = sorted(cluster.pods)[0][1]
    assert kubectl(cluster, f"lab restart pod/{pod}").ok
    kubectl(cluster, "lab advance 2m")
    assert kubectl(cluster, f"lab restart pod/{pod}").stdout == (
        f"pod/{pod} container restarted (RESTARTS 2)\n"
    )
    kubectl(cluster, "lab advance 65s")
    row = next(
        line for line in kubectl(cluster, "get pods").stdout.splitlines() if line.startswith(pod)
    )
    assert row.split()[3:6] == ["2", "(65s", "ago)"]
    described = kubectl(cluster, f"describe pod {pod}").stdout
    assert "    Last State:     Terminated\n" in described
    assert "    Restart Count:  2\n" in described
    assert "(x3 over 3m5s)" in described  # Started: the first start and two restarts
    assert cluster.pods[("default", pod)].ip in kubectl(cluster, "get ep web").stdout


def test_label_reports_not_labeled_when_nothing_changes() -> None:
    cluster = _lab()
    pod = sorted(cluster.pods)[0][1]
    assert kubectl(cluster, f"label pod {pod} app=web").stdout == f"pod/{pod} not labeled\n"

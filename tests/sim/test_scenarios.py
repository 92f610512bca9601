"""Scenarios: the seed's cluster prints the chapter's listings exactly; every scenario builds,
is deterministic given its seed, and shows the feature it is named after."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.sim.cluster.kubectl import run_kubectl
from app.sim.scenarios import SCENARIOS, build, random_cluster, seed_cluster

SEED_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "seed"

# The chapter's listings (`kubectl get svc`, `kubectl get pod -owide`), as printed there.
SEED_SVC = """\
NAME              TYPE        CLUSTER-IP     EXTERNAL-IP   PORT(S)    AGE
my-first-deploy   ClusterIP   10.97.139.74   <none>        8080/TCP   18d
"""
SEED_PODS = """\
NAME                               READY   STATUS    RESTARTS   AGE   IP             NODE    NOMINATED NODE   READINESS GATES
my-first-deploy-785c6c79d9-7bgf5   1/1     Running   0          18d   10.244.1.137   node1   <none>           <none>
my-first-deploy-785c6c79d9-g4xr7   1/1     Running   0          17d   10.244.1.138   node1   <none>           <none>
"""  # noqa: E501 (kubectl's own line width)


def _listing_after(prompt: str) -> str:
    """The lines the chapter prints after `prompt`, up to the blank line."""
    (path,) = SEED_DIR.glob("*.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith(prompt)) + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    return "\n".join(lines[start:end]) + "\n"


def _kubectl(cluster, line: str) -> str:  # type: ignore[no-untyped-def]
    result = run_kubectl(cluster, line.split())
    assert result.status == 0, result.stderr
    return result.stdout


def test_seed_listings_match_the_embedded_copy_exactly() -> None:
    cluster = seed_cluster()
    assert _kubectl(cluster, "kubectl get svc") == SEED_SVC
    assert _kubectl(cluster, "kubectl get pod -owide") == SEED_PODS
    assert _kubectl(cluster, "kubectl get pod -o wide") == SEED_PODS


@pytest.mark.skipif(not SEED_DIR.is_dir(), reason="the seed chapter is not next to the repo")
def test_seed_listings_match_the_chapter_character_by_character() -> None:
    cluster = seed_cluster()
    assert _listing_after("# kubectl get svc") == _kubectl(cluster, "kubectl get svc")
    assert _listing_after("# kubectl get pod -owide") == _kubectl(cluster, "kubectl get pod -owide")


def test_seed_has_the_prompts_nodes_and_ready_endpoints() -> None:
    cluster = seed_cluster()
    assert sorted(cluster.nodes) == ["master", "node1"]
    assert cluster.nodes["master"].control_plane
    data = cluster.to_proxy_dict("node1")
    (svc,) = data["services"]
    assert (svc["clusterIP"], svc["ports"][0]["port"]) == ("10.97.139.74", 8080)
    endpoints = [
        (e["addresses"][0], e["ready"]) for s in data["endpointSlices"] for e in s["endpoints"]
    ]
    assert endpoints == [("10.244.1.137", True), ("10.244.1.138", True)]


def test_seed_keeps_working_after_a_scale_up() -> None:
    cluster = seed_cluster()
    assert _kubectl(cluster, "kubectl scale deployment/my-first-deploy --replicas=3") == (
        "deployment.apps/my-first-deploy scaled\n"
    )
    pods = _kubectl(cluster, "kubectl get pod -owide").splitlines()
    assert len(pods) == 4
    new = next(line for line in pods if " 0s " in line)
    assert new.startswith("my-first-deploy-785c6c79d9-")  # same ReplicaSet, not a rollout
    assert "10.244.1.139" in new  # host-local IPAM carries on after .138


@pytest.mark.parametrize("scenario_id", sorted(SCENARIOS))
def test_every_scenario_builds_and_has_both_languages(scenario_id: str) -> None:
    scenario = SCENARIOS[scenario_id]
    assert set(scenario.title) == set(scenario.description) == {"zh", "en"}
    assert all(text.strip() for text in (*scenario.title.values(), *scenario.description.values()))
    cluster = build(scenario_id, seed=5)
    for node in cluster.nodes:
        assert cluster.to_proxy_dict(node)["services"]
    assert _kubectl(cluster, "kubectl get svc,pods -o wide")


@pytest.mark.parametrize("scenario_id", sorted(SCENARIOS))
def test_scenarios_are_deterministic_given_the_seed(scenario_id: str) -> None:
    def snapshot(seed: int) -> str:
        cluster = build(scenario_id, seed)
        return _kubectl(cluster, "kubectl get all -o yaml") + str(cluster.to_proxy_dict("node1"))

    assert snapshot(3) == snapshot(3)


def test_multi_node_has_nodeport_and_loadbalancer() -> None:
    rows = _kubectl(build("multi-node"), "kubectl get svc").splitlines()[1:]
    types = {row.split()[0]: (row.split()[1], row.split()[3], row.split()[4]) for row in rows}
    assert types["web-nodeport"][0] == "NodePort" and types["web-nodeport"][2] == "80:30080/TCP"
    assert types["web-lb"][0] == "LoadBalancer" and types["web-lb"][1].startswith("192.168.49.24")


def test_traffic_policy_local_leaves_node3_without_endpoints() -> None:
    cluster = build("traffic-policy-local")
    nodes = {p.node_name for p in cluster.pods.values()}
    assert nodes == {"node1", "node2"}
    (svc,) = cluster.to_proxy_dict("node3")["services"]
    assert svc["externalTrafficPolicy"] == "Local" and svc["healthCheckNodePort"]


def test_session_affinity_and_readiness_scenarios() -> None:
    (svc,) = build("session-affinity").to_proxy_dict("node1")["services"]
    assert (svc["sessionAffinity"], svc["sessionAffinityTimeoutSeconds"]) == ("ClientIP", 10800)
    ready = [
        e["ready"]
        for s in build("readiness").to_proxy_dict("node1")["endpointSlices"]
        for e in s["endpoints"]
    ]
    assert sorted(ready) == [False, True, True]


def test_random_cluster_is_seeded_and_sized() -> None:
    first = random_cluster(42, services=20, endpoints=4)
    assert len(first.services) == 20 and len(first.pods) == 80
    again = random_cluster(42, services=20, endpoints=4).to_proxy_dict("node1")
    assert first.to_proxy_dict("node1") == again
    assert random_cluster(43, services=20, endpoints=4).to_proxy_dict("node1") != again
    per_slice = [len(s["endpoints"]) for s in again["endpointSlices"]]
    assert per_slice == [4] * 20


def test_random_cluster_scales_to_thousands_of_services() -> None:
    start = time.perf_counter()
    cluster = random_cluster(1, services=2000, endpoints=5, nodes=20)
    assert len(cluster.to_proxy_dict("node1")["services"]) == 2000
    assert time.perf_counter() - start < 30


def test_same_seed_same_cluster_in_another_process() -> None:
    """No set order or hash randomisation leaks into names, addresses or listings."""
    import subprocess
    import sys

    script = (
        "import hashlib, json\n"
        "from app.sim.scenarios import build\n"
        "from app.sim.cluster import run_line, to_data\n"
        "c = build('multi-node', 4)\n"
        "run_line(c, 'kubectl scale deployment web --replicas=5')\n"
        "out = run_line(c, 'kubectl get all,endpointslices,events -o yaml').stdout\n"
        "print(hashlib.sha256((out + json.dumps(to_data(c))).encode()).hexdigest())\n"
    )
    root = Path(__file__).resolve().parents[2]
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=root,
            env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2)
    }
    assert len(digests) == 1
    assert len(next(iter(digests)).strip()) == 64  # a real digest, not two empty outputs

"""`to_proxy_dict`: the cluster as kube-proxy on one node sees it, in the corpus schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cluster_builders import kubectl, two_workers

from app.sim.cluster.view import summary
from app.sim.kubeproxy.state import ProxyState

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "kube-proxy"


def _keys(obj: object, path: str = "") -> set[str]:
    """Every key path in a corpus-schema dict (list items share their list's path)."""
    found: set[str] = set()
    if isinstance(obj, dict) and not path.endswith(("interfaces", "nfacctCounters")):
        # (interface and counter names are free-form, not schema keys)
        for key, value in obj.items():
            here = f"{path}.{key}" if path else key
            found |= {here} | _keys(value, here)
    elif isinstance(obj, list):
        for item in obj:
            found |= _keys(item, path)
    return found


def _rich_cluster():  # type: ignore[no-untyped-def]
    cluster = two_workers(lb_pool="192.168.49.240/28")
    kubectl(cluster, "create deployment web --image=nginx --replicas=3 --port=80")
    kubectl(cluster, "expose deployment web --port=80 --name=web")
    manifest = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: lb}\nspec:\n  type: LoadBalancer\n"
        "  externalTrafficPolicy: Local\n  internalTrafficPolicy: Local\n  sessionAffinity: "
        "ClientIP\n"
        "  externalIPs: [192.168.49.99]\n  loadBalancerSourceRanges: [203.0.113.0/25]\n"
        "  selector: {app: web}\n  ports: "
        "[{name: http, port: 80, targetPort: 80, nodePort: 30080}]\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: hl}\nspec: "
        "{clusterIP: None, selector: {app: web}}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: "
        "{type: ExternalName, externalName: a.b}\n"
    )
    assert kubectl(cluster, "apply -f -", manifest).ok
    pod = sorted(cluster.pods)[0][1]
    kubectl(cluster, f"delete pod {pod} --wait=false")
    return cluster


def test_dict_has_the_corpus_layout_and_values() -> None:
    cluster = _rich_cluster()
    data = cluster.to_proxy_dict("node1")
    assert set(data) >= {"node", "proxy", "services", "endpointSlices"}
    assert data["node"] == {
        "name": "node1",
        "primaryIP": "192.168.49.3",
        "interfaces": {
            "lo": ["127.0.0.1/8"],
            "eth0": ["192.168.49.3/24"],
            "cni0": ["10.244.1.1/24"],
        },
    }
    services = {s["name"]: s for s in data["services"]}
    assert set(services) == {"lb", "web"}  # kube-proxy skips headless and ExternalName Services
    lb = services["lb"]
    assert lb["type"] == "LoadBalancer" and lb["externalTrafficPolicy"] == "Local"
    assert lb["loadBalancerIngressIPs"] == ["192.168.49.240"]
    assert lb["sessionAffinityTimeoutSeconds"] == 10800
    assert lb["ports"] == [
        {"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080, "targetPort": 80}
    ]
    assert 30000 <= lb["healthCheckNodePort"] <= 32767
    slices = [s for s in data["endpointSlices"] if s["service"] == "web"]
    endpoints = [e for s in slices for e in s["endpoints"]]
    assert sorted((e["ready"], e["serving"], e["terminating"]) for e in endpoints) == [
        (False, True, True),
        (True, True, False),
        (True, True, False),
        (True, True, False),
    ]
    assert all(e["nodeName"] in ("node1", "node2") and len(e["addresses"]) == 1 for e in endpoints)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="conformance corpus not present next to the repo")
def test_every_key_is_one_the_corpus_uses() -> None:
    corpus_keys: set[str] = set()
    for path in CORPUS.glob("*/*/cluster.yaml"):
        corpus_keys |= _keys(yaml.safe_load(path.read_text()))
    ours = _keys(_rich_cluster().to_proxy_dict("node2"))
    assert ours <= corpus_keys, ours - corpus_keys


def test_the_kube_proxy_renderer_accepts_it() -> None:
    state = ProxyState.from_dict(_rich_cluster().to_proxy_dict("node1"))
    assert state is not None


def test_proxy_options_can_be_overridden_per_lab() -> None:
    cluster = two_workers()
    assert cluster.to_proxy_dict("node1")["proxy"]["masqueradeAll"] is False
    cluster.proxy_config["masqueradeAll"] = True
    assert cluster.to_proxy_dict("node1")["proxy"]["masqueradeAll"] is True
    with pytest.raises(Exception, match='nodes "nope" not found'):
        cluster.to_proxy_dict("nope")


def test_summary_agrees_with_the_objects() -> None:
    cluster = _rich_cluster()
    data = summary(cluster)
    json.dumps(data)  # plain data
    assert [n["name"] for n in data["nodes"]] == ["master", "node1", "node2"]
    assert sum(len(n["pods"]) for n in data["nodes"]) == len(cluster.pods) == len(data["pods"])
    assert {s["name"] for s in data["services"]} == {"web", "lb", "hl", "ext"}
    web = data["endpoints"]["default/web"]
    assert sorted((e["ready"], e["serving"], e["terminating"]) for e in web) == [
        (False, True, True),
        (True, True, False),
        (True, True, False),
        (True, True, False),
    ]
    terminating = next(e for e in web if e["terminating"])
    pod = next(p for p in data["pods"] if p["name"] == terminating["pod"])
    assert pod["terminating"] and pod["ip"] == terminating["address"]
    assert data["endpoints"]["default/ext"] == []

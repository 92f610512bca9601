"""The proxier's input model: Services and EndpointSlices as kube-proxy's trackers see them."""

from __future__ import annotations

from typing import Any

import pytest

from app.sim.kubeproxy.state import ProxyState, StateError
from app.sim.kubeproxy.topology import categorize


def svc(name: str = "web", **extra: Any) -> dict[str, Any]:
    ports = extra.pop("ports", [{"name": "http", "port": 80, "protocol": "TCP"}])
    return {"namespace": "ns", "name": name, "clusterIP": "10.96.0.10", "ports": ports} | extra


def eps(endpoints: list[dict[str, Any]], name: str = "web-1", **extra: Any) -> dict[str, Any]:
    ports = extra.pop("ports", [{"name": "http", "port": 8080, "protocol": "TCP"}])
    base = {"namespace": "ns", "name": name, "service": "web", "addressType": "IPv4"}
    return base | {"ports": ports, "endpoints": endpoints} | extra


def state(services: list[dict[str, Any]], slices: list[dict[str, Any]], **top: Any) -> ProxyState:
    node = {"name": "node-a", "primaryIP": "192.168.0.2"}
    return ProxyState.from_dict(
        {"node": node, "services": services, "endpointSlices": slices} | top
    )


def only_port(st: ProxyState):
    (view,) = st.views.values()
    (pe,) = view.ports
    return pe


def test_endpoints_match_by_port_name_and_are_sorted_as_strings() -> None:
    st = state(
        [svc(ports=[{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}])],
        [eps([{"addresses": ["10.0.0.10"]}, {"addresses": ["10.0.0.9"]}])],
    )
    view = st.views["ns/web"]
    http, metrics = view.ports
    # "10.0.0.10:8080" < "10.0.0.9:8080": kube-proxy sorts the endpoint strings
    assert [e.endpoint for e in http.endpoints] == ["10.0.0.10:8080", "10.0.0.9:8080"]
    assert metrics.endpoints == ()  # no slice port named "metrics"
    assert http.port.spn == "ns/web:http"


def test_duplicate_endpoints_across_slices_prefer_the_local_one() -> None:
    st = state(
        [svc()],
        [
            eps([{"addresses": ["10.0.0.1"], "nodeName": "other"}], name="web-1"),
            eps([{"addresses": ["10.0.0.1"], "nodeName": "node-a"}], name="web-2"),
        ],
    )
    (ep,) = only_port(st).endpoints
    assert ep.is_local


def test_sloppy_ips_are_read_as_kube_proxy_reads_them() -> None:
    st = state(
        [svc(clusterIP="172.30.0.041", loadBalancerSourceRanges=[" 203.0.113.000/025"])],
        [eps([{"addresses": ["10.180.00.001"]}])],
    )
    pe = only_port(st)
    assert pe.port.cluster_ip == "172.30.0.41"
    assert pe.port.source_ranges == ("203.0.113.0/25",)
    assert pe.endpoints[0].endpoint == "10.180.0.1:8080"


def test_other_family_addresses_and_headless_services_are_ignored() -> None:
    st = state(
        [svc(externalIPs=["2001:db8::5", "192.168.99.1"]), svc("headless", clusterIP="None")],
        [eps([{"addresses": ["fd00::1"]}], addressType="IPv6")],
    )
    assert list(st.views) == ["ns/web"]
    pe = only_port(st)
    assert pe.port.external_ips == ("192.168.99.1",)
    assert pe.endpoints == ()


def test_health_check_port_only_for_load_balancer_with_local_policy() -> None:
    lb = svc(type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=30000)
    st = state(
        [lb, svc("np", type="NodePort", externalTrafficPolicy="Local", healthCheckNodePort=1)], []
    )
    assert st.views["ns/web"].ports[0].port.health_check_node_port == 30000
    assert st.views["ns/np"].ports[0].port.health_check_node_port == 0


def test_version_changes_only_with_the_services_inputs() -> None:
    st = state([svc(), svc("other")], [eps([{"addresses": ["10.0.0.1"]}])])
    before = {k: v.version for k, v in st.views.items()}
    st.set_endpoint_slice(eps([{"addresses": ["10.0.0.2"]}]))
    assert st.views["ns/web"].version != before["ns/web"]
    assert st.views["ns/other"].version == before["ns/other"]
    st.set_endpoint_slice(eps([{"addresses": ["10.0.0.2"]}]))  # same content: same version
    assert st.views["ns/web"].version == st.copy().views["ns/web"].version


def test_updates_keep_the_endpoint_count() -> None:
    st = state([svc()], [eps([{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}])])
    assert st.total_endpoints() == 2
    st.delete_endpoint_slice("ns/web-1")
    assert st.total_endpoints() == 0
    st.set_endpoint_slice(eps([{"addresses": ["10.0.0.3"]}]))
    st.delete_service("ns/web")
    assert st.total_endpoints() == 0 and st.views == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"services": "nope"}, "services: expected a list"),
        ({"services": [{"clusterIP": "10.0.0.1"}]}, "needs a name"),
        ({"services": [svc(clusterIP="10.0.0.256")]}, "invalid IP address"),
        ({"endpointSlices": [{"name": "s"}]}, "missing 'service'"),
        ({"proxy": {"localDetector": {"mode": "NodeCIDR"}}}, "not supported"),
        ({"proxy": {"nodePortAddresses": ["bad"]}}, "nodePortAddresses"),
    ],
)
def test_bad_input_raises_state_error(data: dict[str, Any], message: str) -> None:
    with pytest.raises(StateError, match=message):
        ProxyState.from_dict(data)


def test_deleting_unknown_objects_is_an_error() -> None:
    st = state([], [])
    with pytest.raises(StateError):
        st.delete_service("ns/nope")
    with pytest.raises(StateError):
        st.delete_endpoint_slice("ns/nope")


# --- endpoint classification (topology.go) -------------------------------------------------
def classify(endpoints: list[dict[str, Any]], **policy: Any):
    st = state([svc(**policy)], [eps(endpoints)])
    pe = only_port(st)
    cat = categorize(pe.port, pe.endpoints)
    names = lambda group: [e.ip for e in group]  # noqa: E731
    return names(cat.cluster), names(cat.local), names(cat.reachable), cat.has_any


def test_ready_endpoints_are_used_and_unset_conditions_count_as_ready() -> None:
    result = classify([{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"], "ready": False}])
    assert result == (["10.0.0.1"], [], ["10.0.0.1"], True)


def test_terminating_serving_endpoints_are_the_fallback() -> None:
    terminating = {"ready": False, "serving": True, "terminating": True}
    result = classify(
        [{"addresses": ["10.0.0.1"]} | terminating, {"addresses": ["10.0.0.2"], "ready": False}]
    )
    assert result == (["10.0.0.1"], [], ["10.0.0.1"], True)


def test_local_policy_uses_local_fallback_separately() -> None:
    terminating = {"ready": False, "serving": True, "terminating": True}
    result = classify(
        [
            {"addresses": ["10.0.0.1"], "nodeName": "node-a"} | terminating,
            {"addresses": ["10.0.0.2"], "nodeName": "node-b"},
        ],
        type="NodePort",
        externalTrafficPolicy="Local",
        ports=[{"name": "http", "port": 80, "nodePort": 30080}],
    )
    cluster, local, reachable, has_any = result
    assert (cluster, local) == (["10.0.0.2"], ["10.0.0.1"])
    assert reachable == ["10.0.0.1", "10.0.0.2"] and has_any


def test_internal_local_without_local_endpoints_has_endpoints_elsewhere() -> None:
    result = classify(
        [{"addresses": ["10.0.0.2"], "nodeName": "node-b"}], internalTrafficPolicy="Local"
    )
    assert result == ([], [], [], True)


def test_a_refused_update_changes_nothing() -> None:
    st = state([svc()], [eps([{"addresses": ["10.0.0.1"]}])])
    before = dict(st.views)
    with pytest.raises(StateError):
        st.set_service(svc(clusterIP="10.0.0.999"))
    with pytest.raises(StateError):
        st.set_endpoint_slice(eps([{"addresses": ["nope"]}]))
    assert st.views == before
    assert st.services["ns/web"]["clusterIP"] == "10.96.0.10"
    assert st.slices["ns/web-1"]["endpoints"] == [{"addresses": ["10.0.0.1"]}]

"""Whatever a cluster file holds, reading it and rendering it either works or raises
StateError with a message: never another Python exception (CONTRACTS.md, bad input)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.sim.kubeproxy.iptables import render_restore
from app.sim.kubeproxy.state import ProxyState, StateError

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.sampled_from(["", "x", "None", "10.0.0.1", "::1", "10.0.0.0/8", "TCP", "Local", "80"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


def _maybe(base: dict[str, Any], keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(base, optional={k: values for k in keys})


ports = _maybe({}, ["name", "port", "protocol", "nodePort"])
service = _maybe(
    {"name": st.sampled_from(["a", "b"]), "clusterIP": scalars},
    ["namespace", "type", "externalIPs", "loadBalancerIngressIPs", "loadBalancerSourceRanges",
     "externalTrafficPolicy", "internalTrafficPolicy", "healthCheckNodePort", "sessionAffinity",
     "sessionAffinityTimeoutSeconds"],
).map(lambda d: d)  # fmt: skip
service_with_ports = st.tuples(service, st.one_of(values, st.lists(ports, max_size=2))).map(
    lambda t: t[0] | {"ports": t[1]}
)
endpoint = _maybe({}, ["addresses", "ready", "serving", "terminating", "nodeName"])
eps = st.tuples(
    _maybe({"name": st.sampled_from(["s1", "s2"]), "service": st.sampled_from(["a", "b"])},
           ["addressType", "namespace"]),
    st.one_of(values, st.lists(ports, max_size=2)),
    st.one_of(values, st.lists(endpoint, max_size=3)),
).map(lambda t: t[0] | {"ports": t[1], "endpoints": t[2]})  # fmt: skip
proxy = _maybe(
    {},
    ["masqueradeAll", "masqueradeMark", "localhostNodePorts", "nodePortAddresses", "randomFully",
     "conntrackTCPLiberal", "nfacctCounters", "syncPeriodSeconds", "localDetector"],
)  # fmt: skip
cluster = st.fixed_dictionaries(
    {},
    optional={
        "ipFamily": st.sampled_from(["IPv4", "IPv6", "IPv9", None]),
        "node": st.one_of(values, _maybe({}, ["name", "primaryIP", "interfaces"])),
        "proxy": st.one_of(values, proxy),
        "services": st.one_of(values, st.lists(service_with_ports, max_size=3)),
        "endpointSlices": st.one_of(values, st.lists(eps, max_size=3)),
    },
)


@settings(max_examples=400, deadline=None)
@given(cluster)
def test_any_cluster_file_renders_or_says_why(data: dict[str, Any]) -> None:
    try:
        state = ProxyState.from_dict(data)
        result = render_restore(state)
    except StateError as err:
        assert str(err)
        return
    assert result.applied, result.error
    assert result.restore.startswith("*filter\n") and result.restore.endswith("COMMIT\n")

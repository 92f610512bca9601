"""A packet through netfilter and IPVS (kernel-facts §4): IPVS at LOCAL_IN 99 after filter
INPUT, the rewritten packet re-sent through OUTPUT (no nat OUTPUT) and POSTROUTING (where the
mark-based MASQUERADE applies), the conntrack reply from the real server."""

from __future__ import annotations

import random

from app.sim.conntrack import Conntrack
from app.sim.ipvs.ipvsadm import list_connections
from app.sim.ipvs.trace import trace_ipvs
from app.sim.kubeproxy.ipvs import IpvsOptions, IpvsSync, render_ipvs
from app.sim.kubeproxy.ipvs_trace import prepare_node, sync_ruleset, trace_sync_json
from app.sim.kubeproxy.state import ProxyState
from app.sim.netfilter.packet_input import parse_packet_json
from app.sim.trace import Trace

VIP = "10.97.139.74"


def _cluster(endpoints: tuple[str, ...] = ("10.244.1.137", "10.244.2.5"), **proxy: object):
    return {
        "mode": "ipvs",
        "node": {"name": "node-1", "primaryIP": "192.168.49.2",
                 "interfaces": {"eth0": ["192.168.49.2/24"]}},
        "proxy": {"localDetector": {"mode": "ClusterCIDR", "cidr": "10.244.0.0/16"}, **proxy},
        "services": [{"namespace": "default", "name": "web", "type": "NodePort",
                      "clusterIP": VIP,
                      "ports": [{"name": "", "port": 8080, "protocol": "TCP",
                                 "nodePort": 30080}]}],
        "endpointSlices": [{"namespace": "default", "name": "web-1", "service": "web",
                            "addressType": "IPv4",
                            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
                            "endpoints": [{"addresses": [ip]} for ip in endpoints]}],
    }  # fmt: skip


def _sync(**kw: object) -> IpvsSync:
    data = _cluster(**kw)  # type: ignore[arg-type]
    return render_ipvs(ProxyState.from_dict(data), IpvsOptions.from_dict(data))


POD = {"origin": "external", "src": "10.244.1.5", "dst": VIP, "proto": "tcp",
       "sport": 40000, "dport": 8080, "in_iface": "cni0"}  # fmt: skip
OUTSIDE = {"origin": "external", "src": "192.168.49.100", "dst": "192.168.49.2",
           "proto": "tcp", "sport": 40000, "dport": 30080}  # fmt: skip


def _where(trace: dict) -> list[tuple[str, str | None, str]]:
    return [(s["hook"], s["table"], s["kind"]) for s in trace["steps"]]


def test_ipvs_step_sits_after_filter_input_and_names_the_pick() -> None:
    trace = trace_sync_json(_sync(), POD, matched_only=True)
    kinds = _where(trace)
    ipvs_at = kinds.index(("INPUT", None, "ipvs"))
    assert ("INPUT", "filter", "policy") in kinds[:ipvs_at]
    step = trace["steps"][ipvs_at]
    assert step["verdict"] == "IPVS" and step["chain"] is None and step["rule"] is None
    assert step["scheduler"] == "rr"
    assert step["virtual_server"] == f"TCP {VIP}:8080"
    # rr's first pick is the most recently added real server.
    assert step["real_server"] == "10.244.2.5:8080"
    assert step["packet"]["dst"] == "10.244.2.5" and step["packet"]["dport"] == 8080
    assert step["reason"]["en"].startswith("rr: 10.244.2.5:8080") and step["reason"]["zh"]


def test_rewritten_packet_skips_nat_output_and_leaves_through_postrouting() -> None:
    trace = trace_sync_json(_sync(), OUTSIDE, matched_only=True)
    after = _where(trace)[[k for _, _, k in _where(trace)].index("ipvs") + 1 :]
    assert ("OUTPUT", "nat", "rule") not in after and ("OUTPUT", "filter", "policy") in after
    masq = [s for s in trace["steps"] if s["verdict"] == "MASQUERADE"]
    assert masq and masq[0]["hook"] == "POSTROUTING"  # NodePort traffic carried the mark
    assert trace["final"]["delivered"] == "out" and trace["final"]["out_iface"] == "cni0"
    assert trace["final"]["packet"] == {"src": "192.168.49.2", "dst": "10.244.2.5",
                                        "sport": 40000, "dport": 8080}  # fmt: skip
    assert trace["conntrack"]["reply"] == "10.244.2.5:8080 -> 192.168.49.2:40000"


def test_pod_to_cluster_ip_is_not_masqueraded() -> None:
    trace = trace_sync_json(_sync(), POD, matched_only=True)
    assert not [s for s in trace["steps"] if s["verdict"] == "MASQUERADE"]
    assert trace["final"]["packet"]["src"] == "10.244.1.5"


def test_no_real_server_means_icmp_port_unreachable_from_ipvs() -> None:
    trace = trace_sync_json(_sync(endpoints=()), POD)
    step = next(s for s in trace["steps"] if s["kind"] == "ipvs")
    assert step["verdict"] == "REJECT" and step["real_server"] is None
    assert "ICMP port unreachable" in step["reason"]["en"]
    assert trace["final"]["verdict"] == "REJECT" and trace["final"]["dropped_by"] == "ipvs"


def test_other_port_on_a_vip_is_refused_by_kube_ipvs_filter() -> None:
    trace = trace_sync_json(_sync(), {**POD, "dport": 22})
    assert not [s for s in trace["steps"] if s["kind"] == "ipvs"]
    last = [s for s in trace["steps"] if s["matched"]][-1]
    assert (last["chain"], last["verdict"]) == ("KUBE-IPVS-FILTER", "REJECT")


def test_local_process_is_rewritten_at_local_out_before_filter() -> None:
    local = {"origin": "local", "src": "192.168.49.2", "dst": VIP, "proto": "tcp",
             "sport": 40000, "dport": 8080}  # fmt: skip
    trace = trace_sync_json(_sync(), local, matched_only=True)
    kinds = _where(trace)
    at = kinds.index(("OUTPUT", None, "ipvs"))
    assert ("OUTPUT", "nat", "rule") in kinds[:at]
    assert ("OUTPUT", "filter", "policy") in kinds[at:]
    assert trace["final"]["packet"]["src"] == "192.168.49.2"  # masqueraded to the node


def test_kernel_view_leaves_the_ipvs_step_out() -> None:
    sync = _sync()
    request = parse_packet_json(POD)
    trace: Trace = trace_ipvs(sync_ruleset(sync), sync.ipvs, request.packet,
                              prepare_node(sync, request.node), Conntrack(), random.Random(0),
                              in_iface="cni0")  # fmt: skip
    assert all(kind in ("rule", "policy") for _, _, _, kind, _ in trace.kernel_view())
    assert any(s.kind == "ipvs" for s in trace.steps)


def test_state_carries_over_rr_alternates_and_counters_move() -> None:
    sync = _sync()
    ruleset = sync_ruleset(sync)
    request = parse_packet_json(POD)
    node, ct = prepare_node(sync, request.node), Conntrack()
    picks = []
    for sport in (40000, 40001, 40002):
        packet = request.packet.with_(sport=sport)
        trace = trace_ipvs(ruleset, sync.ipvs, packet, node, ct, random.Random(0),
                           in_iface="cni0")  # fmt: skip
        picks.append(next(s for s in trace.steps if s.kind == "ipvs").real_server)
    assert picks == ["10.244.2.5:8080", "10.244.1.137:8080", "10.244.2.5:8080"]
    svc = sync.ipvs.find_service("TCP", VIP, 8080)
    assert sorted(d.inactconns for d in svc.dests) == [1, 2]  # SYNs only: inactive
    listing = list_connections(sync.ipvs).splitlines()
    assert listing[2].split() == ["TCP", "01:00", "SYN_RECV", "10.244.1.5:40000",
                                  f"{VIP}:8080", "10.244.2.5:8080"]  # fmt: skip


def test_client_ip_affinity_sends_new_connections_through_the_template() -> None:
    data = _cluster()
    data["services"][0]["sessionAffinity"] = "ClientIP"
    data["services"][0]["sessionAffinityTimeoutSeconds"] = 300
    sync = render_ipvs(ProxyState.from_dict(data), IpvsOptions.from_dict(data))
    ruleset = sync_ruleset(sync)
    request = parse_packet_json(POD)
    node, ct = prepare_node(sync, request.node), Conntrack()
    steps = []
    for sport in (40000, 40001, 40002):
        packet = request.packet.with_(sport=sport)
        trace = trace_ipvs(ruleset, sync.ipvs, packet, node, ct, random.Random(0),
                           in_iface="cni0", clock=float(sport - 40000))  # fmt: skip
        steps.append(next(s for s in trace.steps if s.kind == "ipvs"))
    assert [s.via for s in steps] == ["scheduler", "persistence", "persistence"]
    assert len({s.real_server for s in steps}) == 1
    assert "persistent 300" in sync.ipvsadm()
    assert "NONE        10.244.1.5:0" in list_connections(sync.ipvs, 2.0)


def test_udp_is_scheduled_and_its_flow_counts_as_inactive() -> None:
    data = _cluster()
    data["services"][0]["ports"][0]["protocol"] = "UDP"
    data["endpointSlices"][0]["ports"][0]["protocol"] = "UDP"
    sync = render_ipvs(ProxyState.from_dict(data), IpvsOptions.from_dict(data))
    trace = trace_sync_json(sync, {**POD, "proto": "udp"})
    step = next(s for s in trace["steps"] if s["kind"] == "ipvs")
    assert step["virtual_server"] == f"UDP {VIP}:8080" and step["verdict"] == "IPVS"
    assert list_connections(sync.ipvs).splitlines()[2].split()[:3] == ["UDP", "05:00", "UDP"]

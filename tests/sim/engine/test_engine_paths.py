"""Hook order, routing decisions and the kube-proxy Service paths.

Every expected step list here was first read off the real kernel (xtables-monitor --trace
in a network namespace, same ruleset and packet).
"""

from __future__ import annotations

from engine_helpers import chains, kernel_view

from app.sim.packet import Packet

ALL_TABLES = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o nowhere0 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
*security
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
"""


def test_forwarded_packet_meets_every_table_in_priority_order(trace):
    result = trace(ALL_TABLES, dst="10.244.1.5", dport=80)
    assert chains(result) == [
        ("PREROUTING", "raw", "PREROUTING"),
        ("PREROUTING", "mangle", "PREROUTING"),
        ("PREROUTING", "nat", "PREROUTING"),
        ("FORWARD", "mangle", "FORWARD"),
        ("FORWARD", "filter", "FORWARD"),
        ("FORWARD", "security", "FORWARD"),
        ("POSTROUTING", "mangle", "POSTROUTING"),
        ("POSTROUTING", "nat", "POSTROUTING"),
    ]
    assert result["final"]["delivered"] == "out"
    assert result["final"]["out_iface"] == "cni0"


def test_input_runs_nat_after_filter_and_security_last(trace):
    # iptables-nft registers security at 150, after nat's 100 (the kernel trace shows it).
    result = trace(ALL_TABLES, dst="192.168.49.2", dport=22)
    assert [c for c in chains(result) if c[0] == "INPUT"] == [
        ("INPUT", "mangle", "INPUT"),
        ("INPUT", "filter", "INPUT"),
        ("INPUT", "nat", "INPUT"),
        ("INPUT", "security", "INPUT"),
    ]
    assert result["final"]["delivered"] == "local"


def test_local_packet_runs_output_then_postrouting(trace):
    result = trace(ALL_TABLES, origin="local", src="192.168.49.2", dst="8.8.8.8", dport=53)
    assert chains(result) == [
        ("OUTPUT", "raw", "OUTPUT"),
        ("OUTPUT", "mangle", "OUTPUT"),
        ("OUTPUT", "nat", "OUTPUT"),
        ("OUTPUT", "filter", "OUTPUT"),
        ("OUTPUT", "security", "OUTPUT"),
        ("POSTROUTING", "mangle", "POSTROUTING"),
        ("POSTROUTING", "nat", "POSTROUTING"),
    ]
    assert (result["final"]["delivered"], result["final"]["out_iface"]) == ("out", "eth0")


def test_local_packet_to_the_node_loops_through_lo_without_nat_again(trace):
    result = trace(ALL_TABLES, origin="local", src="192.168.49.2", dst="192.168.49.2", dport=22)
    after_lo = chains(result)[7:]
    # The connection's NAT is already bound: nat PREROUTING and nat INPUT are not walked.
    assert after_lo == [
        ("PREROUTING", "raw", "PREROUTING"),
        ("PREROUTING", "mangle", "PREROUTING"),
        ("INPUT", "mangle", "INPUT"),
        ("INPUT", "filter", "INPUT"),
        ("INPUT", "security", "INPUT"),
    ]
    assert result["final"]["delivered"] == "local"


def test_nat_chains_are_not_walked_when_nothing_loads_conntrack(trace):
    # No NAT target and no conntrack match: the netns tracks nothing, and nf_nat only
    # walks the nat chains for a tracked packet.
    text = ALL_TABLES.replace("-A POSTROUTING -o nowhere0 -j MASQUERADE\n", "")
    result = trace(text, dst="10.244.1.5", dport=80)
    assert not any(s["table"] == "nat" for s in result["steps"])
    assert result["conntrack"] is None
    assert result["final"]["delivered"] == "out"


def test_only_tables_present_in_the_ruleset_run(trace):
    text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    result = trace(text, dst="10.244.1.5", dport=80)
    assert kernel_view(result) == [("filter", "FORWARD", None, "policy", "DROP")]
    assert result["final"] == {
        "verdict": "DROP",
        "delivered": None,
        "out_iface": None,
        "packet": {"src": "192.168.49.100", "dst": "10.244.1.5", "sport": 40000, "dport": 80},
        "dropped_by": "netfilter",
        "reason": None,
    }


def test_routing_default_route_leaves_through_eth0(trace):
    result = trace(ALL_TABLES, src="10.244.1.9", in_iface="cni0", dst="1.1.1.1", dport=443)
    assert (result["final"]["delivered"], result["final"]["out_iface"]) == ("out", "eth0")


def test_local_ips_are_delivered_locally(trace):
    result = trace(ALL_TABLES, dst="10.0.0.7", dport=22, local_ips=["10.0.0.7"])
    assert result["final"]["delivered"] == "local"


DNAT_TO_LOOPBACK = """*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 83 -j DNAT --to-destination 127.0.0.1:8080
COMMIT
"""


def test_dnat_to_loopback_from_outside_is_a_martian(trace):
    result = trace(DNAT_TO_LOOPBACK, dst="192.168.49.2", dport=83)
    assert result["final"]["delivered"] is None
    assert result["final"]["dropped_by"] == "routing"
    assert result["final"]["packet"]["dst"] == "127.0.0.1"
    assert result["conntrack"] is None  # never confirmed


def test_route_localnet_lets_dnat_to_loopback_through(trace):
    sysctls = {"net.ipv4.conf.all.route_localnet": 1}
    result = trace(DNAT_TO_LOOPBACK, dst="192.168.49.2", dport=83, sysctls=sysctls)
    assert result["final"]["delivered"] == "local"
    assert result["conntrack"]["dnat_to"] == "127.0.0.1:8080"


def test_ip_forward_off_drops_transit_packets(trace):
    result = trace(ALL_TABLES, dst="10.244.1.5", dport=80, sysctls={"ip_forward": 0})
    assert result["final"]["delivered"] is None
    assert [c[0] for c in chains(result)] == ["PREROUTING"] * 3


# -- kube-proxy paths (seed_rules.txt) ------------------------------------------------------

SVC = "KUBE-SVC-LEWV22JC7A7AWNM2"
SEP_137 = "KUBE-SEP-VU5OKEXMWYFP42GC"
SEP_138 = "KUBE-SEP-EJ345SBYTZEFESES"


def test_seed_flow_clusterip_from_outside(trace, seed_rules):
    result = trace(seed_rules, dst="10.97.139.74", dport=8080, matched_only=True)
    jumps = [s["verdict"] for s in result["steps"] if s["verdict"].startswith("JUMP:")]
    sep = jumps[3].removeprefix("JUMP:")
    # PREROUTING -> KUBE-SERVICES -> KUBE-SVC-... -> KUBE-SEP-...
    assert jumps[:3] == ["JUMP:KUBE-SERVICES", f"JUMP:{SVC}", "JUMP:KUBE-MARK-MASQ"]
    assert sep in (SEP_137, SEP_138)
    endpoint = "10.244.1.137" if sep == SEP_137 else "10.244.1.138"
    dnat = next(s for s in result["steps"] if s["verdict"] == "DNAT")
    assert dnat["chain"] == sep
    assert (dnat["packet"]["dst"], dnat["packet"]["dport"]) == (endpoint, 8080)
    assert result["final"]["out_iface"] == "cni0"
    assert result["final"]["packet"]["src"] == "192.168.49.2"  # MASQUERADE out of cni0
    assert result["conntrack"]["dnat_to"] == f"{endpoint}:8080"
    assert result["conntrack"]["snat_to"] == "192.168.49.2"


def test_seeds_reach_both_endpoints_and_repeat_exactly(trace, seed_rules):
    def endpoint(seed):
        return trace(seed_rules, dst="10.97.139.74", dport=8080, seed=seed)["conntrack"]["dnat_to"]

    picks = [endpoint(seed) for seed in range(20)]
    assert set(picks) == {"10.244.1.137:8080", "10.244.1.138:8080"}
    assert picks == [endpoint(seed) for seed in range(20)]  # a shared seed, the same path


def test_clusterip_rule_explained_in_both_languages(trace, seed_rules):
    result = trace(seed_rules, dst="10.97.139.74", dport=8080, matched_only=True)
    step = next(s for s in result["steps"] if s["chain"] == "KUBE-SERVICES")
    assert step["explain"]["en"] == (
        f"matches -d 10.97.139.74/32 -p tcp --dport 8080, jumps to {SVC}"
    )
    assert step["explain"]["zh"] == f"匹配 -d 10.97.139.74/32 -p tcp --dport 8080，跳转到 {SVC}"


def test_a_miss_names_the_failing_match(trace, seed_rules):
    result = trace(seed_rules, dst="10.96.0.20", dport=80)
    first = next(s for s in result["steps"] if s["chain"] == "KUBE-SERVICES")
    assert (first["rule"], first["matched"]) == (1, False)
    assert first["failed_match"] == ["-d", "10.97.139.74/32"]
    assert "packet dst 10.96.0.20" in first["explain"]["en"]
    assert "10.96.0.20" in first["explain"]["zh"]


def test_clusterip_from_the_endpoint_pod_itself_is_hairpin_masqueraded(trace, seed_rules):
    result = trace(seed_rules, src="10.244.2.6", in_iface="cni0", dst="10.96.0.20", dport=80)
    assert ("PREROUTING", "nat", "KUBE-SEP-Y24OPSBCVIZIPWAG") in chains(result)
    marks = [s for s in result["steps"] if s["verdict"] == "JUMP:KUBE-MARK-MASQ"]
    # Only the KUBE-SEP hairpin rule marks it (the KUBE-SVC rule spares the pod CIDR).
    assert [s["chain"] for s in marks] == ["KUBE-SEP-Y24OPSBCVIZIPWAG"]
    final = result["final"]["packet"]
    assert (final["src"], final["dst"], final["dport"]) == ("192.168.49.2", "10.244.2.6", 80)
    # MASQUERADE --random-fully draws the source port (1024-65535 for a port above 1023).
    assert 1024 <= final["sport"] <= 65535
    assert result["conntrack"]["snat_port"] == final["sport"]


def test_clusterip_from_another_pod_is_not_masqueraded(trace, seed_rules):
    result = trace(seed_rules, src="10.244.2.9", in_iface="cni0", dst="10.96.0.20", dport=80)
    assert result["final"]["packet"]["src"] == "10.244.2.9"
    assert result["conntrack"]["snat_to"] is None
    assert ("nat", "KUBE-POSTROUTING", 1, "rule", "RETURN") in kernel_view(result)


def test_clusterip_from_the_node_walks_nat_output(trace, seed_rules):
    result = trace(seed_rules, origin="local", src="192.168.49.2", dst="10.96.0.20", dport=80)
    assert kernel_view(result)[:6] == [
        ("nat", "OUTPUT", 1, "rule", "JUMP:KUBE-SERVICES"),
        ("nat", "KUBE-SERVICES", 2, "rule", "JUMP:KUBE-SVC-CDGGSHYLG3RE2FKL"),
        ("nat", "KUBE-SVC-CDGGSHYLG3RE2FKL", 1, "rule", "JUMP:KUBE-MARK-MASQ"),
        ("nat", "KUBE-MARK-MASQ", 1, "rule", "CONTINUE"),
        ("nat", "KUBE-SVC-CDGGSHYLG3RE2FKL", 2, "rule", "JUMP:KUBE-SEP-Y24OPSBCVIZIPWAG"),
        ("nat", "KUBE-SEP-Y24OPSBCVIZIPWAG", 2, "rule", "ACCEPT"),
    ]
    assert result["final"]["out_iface"] == "cni0"


def test_nodeport_from_outside(trace, seed_rules):
    result = trace(seed_rules, dst="192.168.49.2", dport=30080)
    assert kernel_view(result) == [
        ("nat", "PREROUTING", 1, "rule", "JUMP:KUBE-SERVICES"),
        ("nat", "KUBE-SERVICES", 3, "rule", "JUMP:KUBE-NODEPORTS"),
        ("nat", "KUBE-NODEPORTS", 1, "rule", "JUMP:KUBE-EXT-CDGGSHYLG3RE2FKL"),
        ("nat", "KUBE-EXT-CDGGSHYLG3RE2FKL", 1, "rule", "JUMP:KUBE-MARK-MASQ"),
        ("nat", "KUBE-MARK-MASQ", 1, "rule", "CONTINUE"),
        ("nat", "KUBE-EXT-CDGGSHYLG3RE2FKL", 2, "rule", "JUMP:KUBE-SVC-CDGGSHYLG3RE2FKL"),
        ("nat", "KUBE-SVC-CDGGSHYLG3RE2FKL", 2, "rule", "JUMP:KUBE-SEP-Y24OPSBCVIZIPWAG"),
        ("nat", "KUBE-SEP-Y24OPSBCVIZIPWAG", 2, "rule", "ACCEPT"),
        ("filter", "FORWARD", 1, "rule", "JUMP:KUBE-FORWARD"),
        ("filter", "KUBE-FORWARD", 2, "rule", "ACCEPT"),
        ("nat", "POSTROUTING", 1, "rule", "JUMP:KUBE-POSTROUTING"),
        ("nat", "KUBE-POSTROUTING", 2, "rule", "CONTINUE"),
        ("nat", "KUBE-POSTROUTING", 3, "rule", "ACCEPT"),
    ]
    assert result["conntrack"]["dnat_to"] == "10.244.2.6:80"


def test_nodeport_on_localhost_needs_route_localnet(trace, seed_rules):
    packet = {"origin": "local", "src": "127.0.0.1", "dst": "127.0.0.1", "dport": 30080}
    blocked = trace(seed_rules, **packet)
    assert blocked["final"]["dropped_by"] == "routing"
    assert kernel_view(blocked)[-1] == ("nat", "KUBE-SEP-Y24OPSBCVIZIPWAG", 2, "rule", "ACCEPT")
    allowed = trace(seed_rules, **packet, sysctls={"route_localnet": 1})
    assert allowed["final"]["out_iface"] == "cni0"
    assert allowed["final"]["packet"]["src"] == "192.168.49.2"


def test_service_without_endpoints_is_rejected_in_filter(trace, seed_rules):
    result = trace(seed_rules, dst="10.96.0.99", dport=80)
    reject = [s for s in result["steps"] if s["verdict"] == "REJECT"]
    assert [(s["hook"], s["table"], s["chain"]) for s in reject] == [
        ("FORWARD", "filter", "KUBE-SERVICES")
    ]
    assert "icmp-port-unreachable" in reject[0]["explain"]["en"]
    assert kernel_view(result)[-1] == ("filter", "KUBE-SERVICES", 1, "rule", "DROP")
    assert (result["final"]["verdict"], result["final"]["delivered"]) == ("REJECT", None)


def test_trace_kernel_view_is_the_contract_projection(lab, seed_rules):
    node = lab(seed_rules)
    trace = node.send(Packet("192.168.49.100", "10.96.0.99", "tcp", 40000, 80))
    assert trace.kernel_view() == kernel_view(trace.to_json())
    assert trace.kernel_view()[-1] == ("filter", "KUBE-SERVICES", 1, "rule", "DROP")


def test_steps_name_the_devices_each_hook_saw(trace, seed_rules):
    result = trace(seed_rules, dst="192.168.49.2", dport=30080, matched_only=True)
    devices = {(s["hook"], s["in_iface"], s["out_iface"]) for s in result["steps"]}
    # Before routing only the way in is known (kernel-checked, as are the others).
    assert devices == {
        ("PREROUTING", "eth0", None),
        ("FORWARD", "eth0", "cni0"),
        ("POSTROUTING", "eth0", "cni0"),
    }


def test_routing_decisions_are_part_of_the_trace(trace, seed_rules):
    outside = trace(seed_rules, dst="10.97.139.74", dport=8080)
    assert [(r["after"], r["decision"], r["iface"]) for r in outside["routes"]] == [
        ("PREROUTING", "out", "cni0")  # decided on the DNATed destination
    ]
    node = trace(seed_rules, origin="local", src="192.168.49.2", dst="10.96.0.20", dport=80)
    assert [(r["after"], r["dst"], r["iface"], r["gateway"]) for r in node["routes"]] == [
        (None, "10.96.0.20", "eth0", "192.168.49.1"),  # the socket's lookup: default route
        ("OUTPUT", "10.244.2.6", "cni0", None),  # nat OUTPUT changed the destination
    ]

"""Self-tests of the kernel harness: if these fail, no engine-vs-kernel result can be trusted."""

from __future__ import annotations

import os

import pytest

from . import netns
from .harness import NodeConfig, Topology

FILTER_INPUT_DROP = """\
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
"""

DNAT_SERVICE = """\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080
-A OUTPUT -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080
COMMIT
"""

DUPLICATES = """\
*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -j MARK --set-xmark 0x1/0x1
-A PREROUTING -p udp -j MARK --set-xmark 0x2/0x2
-A PREROUTING -p tcp -j MARK --set-xmark 0x1/0x1
COMMIT
"""

CLIENT = {"origin": "external", "src": "192.168.49.100", "proto": "tcp", "sport": 40000}


def signature(trace: dict) -> list[tuple]:
    return [(s["table"], s["chain"], s["rule"], s["kind"], s["verdict"]) for s in trace["steps"]]


def test_policy_drop_in_filter_input_is_reported(kernel) -> None:
    topo = kernel(FILTER_INPUT_DROP)
    trace = topo.trace({**CLIENT, "dst": "192.168.49.2", "dport": 22})
    assert signature(trace) == [("filter", "INPUT", None, "policy", "DROP")]
    assert trace["final"]["verdict"] == "DROP"
    assert trace["final"]["delivered"] is None


def test_accepted_rule_is_reported_with_its_position(kernel) -> None:
    topo = kernel(FILTER_INPUT_DROP)
    trace = topo.trace({**CLIENT, "dst": "192.168.49.2", "dport": 80})
    assert signature(trace) == [("filter", "INPUT", 1, "rule", "ACCEPT")]
    assert trace["final"]["delivered"] == "local"


def test_dnat_shows_in_conntrack_and_final_packet(kernel) -> None:
    topo = kernel(DNAT_SERVICE)
    trace = topo.trace({**CLIENT, "dst": "10.96.0.10", "dport": 80})
    assert trace["conntrack"]["dnat_to"] == "10.244.1.5:8080"
    assert (trace["final"]["delivered"], trace["final"]["out_iface"]) == ("out", "cni0")
    assert trace["final"]["packet"]["dst"] == "10.244.1.5"
    assert trace["final"]["packet"]["dport"] == 8080


def test_local_packet_is_dnatted_in_nat_output(kernel) -> None:
    topo = kernel(DNAT_SERVICE)
    packet = {**CLIENT, "origin": "local", "src": "192.168.49.2", "dst": "10.96.0.10", "dport": 80}
    trace = topo.trace(packet)
    assert ("nat", "OUTPUT", 1, "rule", "ACCEPT") in signature(trace)
    assert trace["conntrack"]["dnat_to"] == "10.244.1.5:8080"


def test_flush_state_makes_the_same_tuple_a_first_packet_again(kernel) -> None:
    topo = kernel(DNAT_SERVICE)
    packet = {**CLIENT, "dst": "10.96.0.10", "dport": 80}
    assert ("nat", "PREROUTING", 1, "rule", "ACCEPT") in signature(topo.trace(packet))
    # Without a flush conntrack knows the tuple: nat is not consulted again (kernel-facts 5.4).
    assert ("nat", "PREROUTING", 1, "rule", "ACCEPT") not in signature(topo.trace(packet))
    topo.flush_state()
    assert ("nat", "PREROUTING", 1, "rule", "ACCEPT") in signature(topo.trace(packet))


def test_duplicate_rules_get_their_own_positions(kernel) -> None:
    topo = kernel(DUPLICATES)
    trace = topo.trace({**CLIENT, "dst": "192.168.49.2", "dport": 80})
    assert signature(trace) == [
        ("mangle", "PREROUTING", 1, "rule", "CONTINUE"),
        ("mangle", "PREROUTING", 3, "rule", "CONTINUE"),
        ("mangle", "PREROUTING", None, "policy", "ACCEPT"),
        ("mangle", "INPUT", None, "policy", "ACCEPT"),
    ]


def test_injected_trace_rules_do_not_show_and_raw_stays_hidden(kernel) -> None:
    topo = kernel(FILTER_INPUT_DROP)
    trace = topo.trace({**CLIENT, "dst": "192.168.49.2", "dport": 80})
    assert all(step["table"] != "raw" for step in trace["steps"])
    assert all("TRACE" not in (step["rule_text"] or "") for step in trace["steps"])


def test_packet_from_a_pod_arrives_on_the_pod_interface(kernel) -> None:
    ruleset = FILTER_INPUT_DROP.replace("-A INPUT -p tcp", "-A INPUT -i cni0 -p tcp")
    topo = kernel(ruleset)
    pod = {**CLIENT, "in_iface": "cni0", "src": "10.244.1.7", "dst": "192.168.49.2", "dport": 80}
    assert signature(topo.trace(pod)) == [("filter", "INPUT", 1, "rule", "ACCEPT")]
    outside = {**CLIENT, "dst": "192.168.49.2", "dport": 80}
    assert signature(topo.trace(outside)) == [("filter", "INPUT", None, "policy", "DROP")]


def test_one_topology_takes_a_new_ruleset(kernel) -> None:
    topo = kernel(FILTER_INPUT_DROP)
    topo.load(DNAT_SERVICE)
    trace = topo.trace({**CLIENT, "dst": "10.96.0.10", "dport": 80})
    assert [s["table"] for s in trace["steps"]] == ["nat", "nat"]  # no filter table any more


def test_namespaces_are_gone_after_the_context_exits() -> None:
    with Topology(FILTER_INPUT_DROP) as topo:
        names = [topo.node, topo.ext, topo.pod]
        assert all(name in netns.existing() for name in names)
    assert not set(names) & set(netns.existing())


def test_namespaces_are_gone_after_an_exception_inside() -> None:
    names: list[str] = []
    with pytest.raises(RuntimeError, match="boom"), Topology(FILTER_INPUT_DROP) as topo:
        names = [topo.node, topo.ext, topo.pod]
        raise RuntimeError("boom")
    assert names
    assert not set(names) & set(netns.existing())


def test_a_bad_ruleset_fails_with_iptables_words_and_cleans_up() -> None:
    before = set(netns.existing())
    with pytest.raises(netns.KernelError, match="iptables-restore"):
        Topology("*filter\n-A NOPE -j ACCEPT\nCOMMIT\n").__enter__()
    assert set(netns.existing()) == before


def test_cleanup_leftovers_removes_namespaces_of_dead_runs() -> None:
    dead_pid = 2**22 + 7  # above pid_max: no process can have it
    while os.path.exists(f"/proc/{dead_pid}"):
        dead_pid += 1
    name = f"kpl{dead_pid}n1-node"
    netns.ip_batch(None, [f"netns add {name}"])
    assert name in netns.cleanup_leftovers()
    assert name not in netns.existing()


def test_packet_for_another_node_is_refused(kernel) -> None:
    topo = kernel(FILTER_INPUT_DROP, NodeConfig())
    with pytest.raises(ValueError, match="different node"):
        topo.trace({**CLIENT, "dst": "10.0.0.1", "dport": 80, "node_ip": "10.0.0.2/24"})


def _sysctl(ns: str, key: str) -> str:
    with netns.entered(ns), open("/proc/sys/" + key.replace(".", "/")) as handle:
        return handle.read().strip()


def test_only_the_node_forwards_whatever_the_host_does(kernel) -> None:
    """New namespaces copy IPv4 forwarding from the host's; where Docker turned it on, a client
    that forwarded would bounce an unanswered packet back to the node until the trace monitor
    overflowed. The harness sets it in every namespace, so the host's setting cannot matter."""
    topo = kernel(FILTER_INPUT_DROP)
    assert _sysctl(topo.node, "net.ipv4.ip_forward") == "1"
    assert _sysctl(topo.ext, "net.ipv4.ip_forward") == "0"
    assert _sysctl(topo.pod, "net.ipv4.ip_forward") == "0"

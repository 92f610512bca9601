"""The optional `pod_iface_ip` packet key: the pod bridge's own address. Without it the node
behaves as before; with it the address is the node's own (LOCAL, delivered up), its subnet is
routed to the bridge, and MASQUERADE out of the bridge picks it (kernel-facts §5.8)."""

from __future__ import annotations

import pytest

from app.sim.netfilter.engine import TraceInputError, trace_json

HAIRPIN = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080
-A POSTROUTING -s 10.244.1.5/32 -d 10.244.1.5/32 -j MASQUERADE
COMMIT
"""
FROM_POD = {"origin": "external", "src": "10.244.1.5", "dst": "10.96.0.10", "proto": "tcp",
            "sport": 40000, "dport": 80, "in_iface": "cni0", "node_ip": "192.168.49.3/24",
            "pod_cidr": ["10.244.1.0/24"]}  # fmt: skip
LOCAL_ONLY = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m addrtype --dst-type LOCAL -j ACCEPT
-A INPUT -j DROP
COMMIT
"""


def test_hairpin_masquerade_picks_the_bridge_address() -> None:
    final = trace_json(HAIRPIN, {**FROM_POD, "pod_iface_ip": "10.244.1.1/24"})["final"]
    assert (final["delivered"], final["out_iface"]) == ("out", "cni0")
    assert final["packet"]["src"] == "10.244.1.1"
    assert final["packet"]["dst"] == "10.244.1.5"


def test_without_the_key_masquerade_falls_back_to_the_node_address() -> None:
    final = trace_json(HAIRPIN, FROM_POD)["final"]
    assert final["packet"]["src"] == "192.168.49.3"


def test_a_bare_address_gets_a_24_prefix() -> None:
    final = trace_json(HAIRPIN, {**FROM_POD, "pod_iface_ip": "10.244.1.1"})["final"]
    assert final["packet"]["src"] == "10.244.1.1"


def test_the_bridge_address_is_local_to_the_node() -> None:
    packet = {**FROM_POD, "dst": "10.244.1.1", "dport": 53}
    with_ip = trace_json(LOCAL_ONLY, {**packet, "pod_iface_ip": "10.244.1.1/24"})["final"]
    assert (with_ip["verdict"], with_ip["delivered"]) == ("ACCEPT", "local")
    without = trace_json(LOCAL_ONLY, packet)["final"]
    assert without["delivered"] != "local"


def test_the_bridge_subnet_is_routed_to_the_bridge() -> None:
    """The connected route of the address, even outside `pod_cidr`."""
    packet = {**FROM_POD, "src": "192.168.49.100", "in_iface": "eth0", "dst": "10.88.0.7",
              "pod_iface_ip": "10.88.0.1/16"}  # fmt: skip
    final = trace_json("*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n", packet)["final"]
    assert (final["delivered"], final["out_iface"]) == ("out", "cni0")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "pod_iface_ip must be a non-empty string"),
        ("", "pod_iface_ip must be a non-empty string"),
        ("10.244.1.1/33", "bad node address"),
        ("fe80::1/64", "bad node address"),
        ("cni0", "bad node address"),
    ],
)
def test_a_bad_bridge_address_is_a_clear_error(value: object, message: str) -> None:
    with pytest.raises(TraceInputError, match=message) as caught:
        trace_json(HAIRPIN, {**FROM_POD, "pod_iface_ip": value})
    assert caught.value.message.startswith("packet: ")

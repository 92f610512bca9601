"""Chain-name hashing, checked on the worked examples of the kube-proxy facts (each of which
matched a chain name in the upstream tests)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from app.sim.kubeproxy import names


@pytest.mark.parametrize(
    ("prefix", "spn", "chain"),
    [
        (names.KUBE_SVC_PREFIX, "ns1/svc1:p80", "KUBE-SVC-XPGD46QRK7WJZT7O"),
        (names.KUBE_SVL_PREFIX, "ns2/svc2:p80", "KUBE-SVL-GNZBNJ2PO5MGZ6GT"),
        (names.KUBE_EXT_PREFIX, "ns2/svc2:p80", "KUBE-EXT-GNZBNJ2PO5MGZ6GT"),
        (names.KUBE_FW_PREFIX, "ns5/svc5:p80", "KUBE-FW-NUKIZ6OKUXPJNT4C"),
        (names.KUBE_SVC_PREFIX, "ns1/svc1", "KUBE-SVC-AQI2S6QIMU7PVVRP"),
    ],
)
def test_service_port_chain(prefix: str, spn: str, chain: str) -> None:
    assert names.service_port_chain(prefix, spn, "tcp") == chain
    assert names.service_port_chain(prefix, spn, "TCP") == chain  # protocol is lower-cased


@pytest.mark.parametrize(
    ("spn", "endpoint", "chain"),
    [
        ("ns1/svc1:p80", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ"),
        ("ns5/svc5:p80", "10.180.0.3:80", "KUBE-SEP-I77PXRDZVX7PMWMN"),
        ("ns3/svc3:p8081", "203.0.113.4:8081", "KUBE-SEP-RUVVH7YV3PHQBDOS"),
    ],
)
def test_endpoint_chain(spn: str, endpoint: str, chain: str) -> None:
    assert names.endpoint_chain(spn, "tcp", endpoint) == chain


@pytest.mark.parametrize("text", ["", "ns1/svc1:p80tcp", "ünïcode/ßvc:p", "x" * 300])
def test_hash_is_base32_of_sha256_prefix(text: str) -> None:
    digest = hashlib.sha256(text.encode()).digest()
    assert names.proto_hash(text) == base64.b32encode(digest)[:16].decode()


def test_names_fit_iptables_limit() -> None:
    longest = names.service_port_chain(names.KUBE_SVC_PREFIX, "n" * 63 + "/" + "s" * 63, "sctp")
    assert len(longest) == 25 < 29


def test_service_chain_prefixes() -> None:
    assert names.is_service_chain("KUBE-SEP-SXIVWICOYRO3J4NJ")
    assert not names.is_service_chain("KUBE-SERVICES")
    assert not names.is_service_chain("KUBE-PROXY-CANARY")

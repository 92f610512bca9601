"""Chain names kube-proxy derives from a service port and its endpoints.

kube-proxy (pkg/proxy/iptables/proxier.go, `portProtoHash`) names per-service chains after a
hash so that the name fits iptables' 28-character limit whatever the Service is called:
SHA-256 of `<servicePortName><protocol>[<endpoint>]`, encoded with standard base32
(RFC 4648), first 16 characters. The four per-service-port chains share one suffix.
"""

from __future__ import annotations

import hashlib

KUBE_SVC_PREFIX = "KUBE-SVC-"
KUBE_SVL_PREFIX = "KUBE-SVL-"
KUBE_EXT_PREFIX = "KUBE-EXT-"
KUBE_FW_PREFIX = "KUBE-FW-"
KUBE_SEP_PREFIX = "KUBE-SEP-"

# Prefixes of the chains kube-proxy creates per service port or endpoint; any nat chain with
# one of these that a sync did not write is stale and gets flushed and deleted.
SERVICE_CHAIN_PREFIXES = (
    KUBE_SVC_PREFIX,
    KUBE_SVL_PREFIX,
    KUBE_EXT_PREFIX,
    KUBE_FW_PREFIX,
    KUBE_SEP_PREFIX,
)


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 standard alphabet
# Every pair of base32 digits, indexed by the 10 bits they encode: 16 digits of base32 are
# the first 80 bits (10 bytes) of the digest, so eight lookups spell them (base64.b32encode
# of the whole digest is ten times slower and the rest is thrown away).
_B32_PAIRS = [a + b for a in _B32 for b in _B32]


def proto_hash(text: str) -> str:
    """The 16-character base32 SHA-256 prefix kube-proxy puts after a chain prefix
    (equal to `base64.b32encode(sha256(text))[:16]`)."""
    n = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:10], "big")
    pairs = _B32_PAIRS
    return "".join([pairs[(n >> shift) & 1023] for shift in (70, 60, 50, 40, 30, 20, 10, 0)])


def service_port_chain(prefix: str, spn: str, protocol: str) -> str:
    """`KUBE-SVC-`/`KUBE-SVL-`/`KUBE-EXT-`/`KUBE-FW-` chain of one service port.

    `spn` is the ServicePortName string (`ns/name:port`, or `ns/name` for an unnamed port);
    `protocol` is lower-cased as kube-proxy does before hashing.
    """
    return prefix + proto_hash(spn + protocol.lower())


def endpoint_chain(spn: str, protocol: str, endpoint: str) -> str:
    """`KUBE-SEP-` chain of one endpoint (`ip:port`, IPv6 as `[ip]:port`) of a service port."""
    return KUBE_SEP_PREFIX + proto_hash(spn + protocol.lower() + endpoint)


def is_service_chain(name: str) -> bool:
    """True for the chain names kube-proxy owns per service port (stale-chain candidates)."""
    return name.startswith(SERVICE_CHAIN_PREFIXES)

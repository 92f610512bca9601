"""Allocators: ClusterIPs, NodePorts, pod IPs, LoadBalancer IPs and generated names.

Each is deterministic: random choices come from a `random.Random` the cluster seeds, never the
global generator. Refusals use the API server's wording (pkg/registry/core/service/ipallocator
and portallocator), because a learner will meet the same text on a real cluster.
"""

from __future__ import annotations

import ipaddress
import json
import random

from app.sim.cluster.errors import ClusterError

SERVICE_CIDR = "10.96.0.0/12"
NODE_PORT_RANGE = (30000, 32767)
CLUSTER_CIDR = "10.244.0.0/16"

# k8s.io/apimachinery/pkg/util/rand: no vowels (no words), no look-alike 0/1/3.
SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


class AllocationError(ClusterError):
    """`field: Invalid value: v: detail`; the Service create wraps it in an Invalid error."""


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: map each byte onto the safe alphabet (why hashes lack vowels)."""
    return "".join(SAFE_ALPHANUMS[ord(ch) % len(SAFE_ALPHANUMS)] for ch in text)


def fnv32a(data: bytes) -> int:
    """FNV-1a, 32 bit: the hash the deployment controller feeds its pod template to."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def pod_template_hash(template: object, collision_count: int = 0) -> str:
    """The `pod-template-hash` label: safe-encoded decimal FNV-32a of the template.

    Upstream hashes a spew dump of the Go struct; we hash a canonical JSON of ours, so values
    differ from a real cluster's but have the same shape (`785c6c79d9`).
    """
    data = json.dumps(template, sort_keys=True, default=repr).encode() + bytes([collision_count])
    return safe_encode(str(fnv32a(data)))


def random_suffix(rng: random.Random, length: int = 5) -> str:
    """generateName's suffix (`-7bgf5`): utilrand.String(5)."""
    return "".join(rng.choice(SAFE_ALPHANUMS) for _ in range(length))


class ClusterIPAllocator:
    """Hands out Service ClusterIPs from the service CIDR, at random like the API server."""

    def __init__(self, rng: random.Random, cidr: str = SERVICE_CIDR) -> None:
        self.network = ipaddress.IPv4Network(cidr)
        self.rng = rng
        self.used: set[str] = set()

    def allocate(self, wanted: str = "") -> str:
        if wanted:
            return self._claim(wanted)
        size = self.network.num_addresses - 2  # neither the network nor the broadcast address
        if len(self.used) >= size:
            raise AllocationError("spec.clusterIPs: Internal error: range is full")
        while True:
            candidate = str(self.network.network_address + 1 + self.rng.randrange(size))
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate

    def _claim(self, wanted: str) -> str:
        field = f'spec.clusterIPs: Invalid value: []string{{"{wanted}"}}'
        try:
            address = ipaddress.IPv4Address(wanted)
        except ValueError:
            raise AllocationError(f"{field}: must be a valid IP address") from None
        first, last = self.network.network_address, self.network.broadcast_address
        if address not in self.network or address in (first, last):
            raise AllocationError(
                f"{field}: failed to allocate IP {wanted}: the provided IP ({wanted}) is not in "
                f"the valid range. The range of valid IPs is {self.network}"
            )
        if wanted in self.used:
            raise AllocationError(
                f"{field}: failed to allocate IP {wanted}: provided IP is already allocated"
            )
        self.used.add(wanted)
        return wanted

    def release(self, address: str) -> None:
        self.used.discard(address)


class NodePortAllocator:
    """NodePorts (and healthCheckNodePorts) from 30000-32767."""

    def __init__(
        self, rng: random.Random, low: int = NODE_PORT_RANGE[0], high: int = NODE_PORT_RANGE[1]
    ) -> None:
        self.low, self.high = low, high
        self.rng = rng
        self.used: set[int] = set()

    def allocate(self, field: str, wanted: int = 0) -> int:
        if wanted:
            if not self.low <= wanted <= self.high:
                raise AllocationError(
                    f"{field}: Invalid value: {wanted}: provided port is not in the valid range. "
                    f"The range of valid ports is {self.low}-{self.high}"
                )
            if wanted in self.used:
                raise AllocationError(
                    f"{field}: Invalid value: {wanted}: provided port is already allocated"
                )
            self.used.add(wanted)
            return wanted
        if len(self.used) > self.high - self.low:
            raise AllocationError(f"{field}: Internal error: range is full")
        while True:
            candidate = self.low + self.rng.randrange(self.high - self.low + 1)
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate

    def release(self, port: int) -> None:
        self.used.discard(port)


class AddressPool:
    """LoadBalancer ingress IPs, handed out in order like a bare-metal LB controller (MetalLB)."""

    def __init__(self, cidr: str = "") -> None:
        self.cidr = cidr
        self.addresses = [str(a) for a in ipaddress.IPv4Network(cidr)] if cidr else []
        self.used: set[str] = set()

    def allocate(self) -> str | None:
        for address in self.addresses:
            if address not in self.used:
                self.used.add(address)
                return address
        return None  # no address: the Service stays `<pending>`

    def release(self, address: str) -> None:
        self.used.discard(address)


def pod_ip(pod_cidr: str, host: int) -> str:
    """The host-th address of a node's pod /24 (host-local IPAM counts up from .2).

    Plain text arithmetic: node pod CIDRs are always /24 here, and this runs once per pod.
    """
    return pod_cidr.split("/", 1)[0].rsplit(".", 1)[0] + f".{host}"

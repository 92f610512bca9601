"""`ipset list` text against the real ipset tool and kernel, in a throw-away network namespace.

Each of kube-proxy's set types is created with the arguments kube-proxy uses and filled with
the members a sync produced; the kernel's listing (`-sorted`) must equal ours except for the
random `initval` and, for sets of several members, the size in memory (it depends on how the
members share hash buckets, which initval decides). Skipped without root or the `ipset` tool.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from app.sim.kubeproxy.ipset import Entry, IpSet, run_ipset
from app.sim.kubeproxy.ipvs import IpvsOptions, render_ipvs
from app.sim.kubeproxy.state import ProxyState

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("ipset") or not shutil.which("ip"),
        reason="needs root, ip and ipset (network namespaces and the kernel's ipset)",
    ),
]


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"kpl-ipset-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _ipset(ns: str, *args: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", ns, "ipset", *args],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout


def _create_args(s: IpSet) -> list[str]:
    """ipset create as kube-proxy's ipset runner calls it (pkg/proxy/ipvs/ipset)."""
    if s.set_type == "bitmap:port":
        return ["create", s.name, s.set_type, "range", "0-65535"]
    family = "inet6" if s.ipv6 else "inet"
    return ["create", s.name, s.set_type, "family", family, "hashsize", "1024",
            "maxelem", "65536"]  # fmt: skip


def _sync():
    data = {
        "mode": "ipvs",
        "node": {"name": "node-1", "primaryIP": "192.168.49.2",
                 "interfaces": {"eth0": ["192.168.49.2/24"]}},
        "services": [{"namespace": "ns", "name": f"s{i}", "type": "LoadBalancer",
                      "clusterIP": f"10.96.0.{10 + i}",
                      "externalIPs": [f"203.0.113.{i + 1}"],
                      "loadBalancerIngressIPs": [f"198.51.100.{i + 1}"],
                      "loadBalancerSourceRanges": ["192.168.49.0/24", "10.0.0.0/8"],
                      "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000 + i,
                      "ports": [{"name": "", "port": 80 + i, "protocol": proto,
                                 "nodePort": 30080 + i}]}
                     for i, proto in enumerate(("TCP", "UDP", "SCTP"))],
        "endpointSlices": [{"namespace": "ns", "name": f"s{i}-1", "service": f"s{i}",
                            "addressType": "IPv4",
                            "ports": [{"name": "", "port": 8080, "protocol": proto}],
                            "endpoints": [{"addresses": [f"10.244.1.{i + 10}"],
                                           "nodeName": "node-1"}]}
                           for i, proto in enumerate(("TCP", "UDP", "SCTP"))],
    }  # fmt: skip
    return render_ipvs(ProxyState.from_dict(data), IpvsOptions.from_dict(data))


def _comparable(s: IpSet, text: str) -> str:
    """The listing without what the kernel randomises: `initval`, and -- once two members
    may share a hash bucket (the bucket depends on initval) -- the size in memory."""
    text = re.sub(r" initval 0x[0-9a-f]+", " initval X", text)
    if len(s.entries) > 1 and s.set_type != "bitmap:port":
        text = re.sub(r"Size in memory: \d+", "Size in memory: N", text)
    return text


def test_every_kube_proxy_set_lists_as_the_kernel_lists_it(netns: str) -> None:
    sync = _sync()
    populated = [s for s in sync.ipsets.values() if s.entries]
    assert len(populated) >= 12  # most of kube-proxy's sets are exercised
    for s in sync.ipsets.values():
        _ipset(netns, *_create_args(s))
        for member in s.members():
            _ipset(netns, "add", s.name, member)
        kernel = _ipset(netns, "list", "-sorted", s.name)
        assert _comparable(s, s.list_text()) == _comparable(s, kernel), s.name


def test_sorted_order_and_sizes_for_tricky_members(netns: str) -> None:
    sets = [
        IpSet("T-PORT", "hash:ip,port", "", entries={
            Entry("1.1.1.1", 80, "tcp"), Entry("1.1.1.1", 80, "sctp"), Entry("1.1.1.1", 79, "udp"),
            Entry("1.1.1.1", 9, "tcp"), Entry("2.0.0.1", 1, "tcp"), Entry("1.1.1.10", 1, "tcp")}),
        IpSet("T-NET", "hash:ip,port,net", "", entries={
            Entry("1.1.1.1", 80, "tcp", n)
            for n in ("10.0.0.0/8", "9.0.0.0/8", "10.0.0.0/16", "192.168.0.0/16")}),
        IpSet("T-6", "hash:ip,port,ip", "", ipv6=True, entries={
            Entry(f"2020::{i}", 80, "tcp", f"2020::{i}") for i in (9, 10, 300)}),
        IpSet("T-6NET", "hash:ip,port,net", "", ipv6=True, entries={
            Entry("2020::1", 80, "tcp", "fd00::/8")}),
        IpSet("T-6IP", "hash:ip", "", ipv6=True, entries={Entry("fd00::1"), Entry("2020::1")}),
        IpSet("T-6PORT", "hash:ip,port", "", ipv6=True, entries={Entry("fd00::1", 1, "udp")}),
        IpSet("T-6ONE", "hash:ip,port,ip", "", ipv6=True, entries={
            Entry("2020::1", 80, "tcp", "2020::1")}),
        IpSet("T-ONE", "hash:ip,port,net", "", entries={Entry("1.1.1.1", 80, "tcp", "10.0.0.0/8")}),
    ]  # fmt: skip
    for s in sets:
        _ipset(netns, *_create_args(s))
        for member in s.members():
            _ipset(netns, "add", s.name, member)
        kernel = _ipset(netns, "list", "-sorted", s.name)
        assert _comparable(s, s.list_text()) == _comparable(s, kernel), s.name


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "-name"],
        ["-L", "-terse", "KUBE-CLUSTER-IP"],
        ["list", "-sorted", "KUBE-NODE-PORT-TCP"],
        ["save", "KUBE-LOOP-BACK"],
        ["list", "KUBE-NOPE"],
        ["list", "KUBE-CLUSTER-IP", "extra"],
        ["bogus"],
        [],
    ],
)
def test_ipset_command_answers_as_the_real_tool(netns: str, argv: list[str]) -> None:
    sync = _sync()
    for s in sync.ipsets.values():
        _ipset(netns, *_create_args(s))
        for member in s.members():
            _ipset(netns, "add", s.name, member)
    real = subprocess.run(["ip", "netns", "exec", netns, "ipset", *argv],
                          capture_output=True, text=True, check=False)  # fmt: skip
    result = run_ipset(sync.ipsets, argv, {})
    status, out, err = result.status, result.stdout, result.stderr
    assert (status, err) == (real.returncode, real.stderr)
    if argv and argv[0] == "save":  # members in hash order in the kernel: compare as sets
        ours, theirs = (re.sub(r"initval 0x\w+", "", t).splitlines() for t in (out, real.stdout))
        assert ours[0] == theirs[0] and sorted(ours) == sorted(theirs)
    elif status == 0 and argv[1] in ("-terse", "-sorted"):
        populated = next(s for s in sync.ipsets.values() if s.name == argv[-1])
        assert _comparable(populated, out) == _comparable(populated, real.stdout)
    else:
        assert out == real.stdout

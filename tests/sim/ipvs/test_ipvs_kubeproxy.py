"""kube-proxy's IPVS mode beyond the corpus: affinity, mh flags, external and LB IPs with
source ranges, ipset list text, the iptables rules, the iptables fallback, the CLI."""

from __future__ import annotations

import pytest
import yaml

from app.cli import main
from app.sim.ipvs.model import F_PERSISTENT, F_SCHED2
from app.sim.kubeproxy.ipvs import IpvsOptions, effective_mode, render_ipvs
from app.sim.kubeproxy.ipvs_rules import node_restore
from app.sim.kubeproxy.options import StateError
from app.sim.kubeproxy.state import ProxyState


def _data(service: dict, endpoints=("10.244.1.10",), **proxy: object) -> dict:
    return {
        "mode": "ipvs",
        "node": {"name": "node-1", "primaryIP": "192.168.49.2",
                 "interfaces": {"lo": ["127.0.0.1/8"], "eth0": ["192.168.49.2/24"]}},
        "proxy": dict(proxy),
        "services": [{"namespace": "ns", "name": "svc", "clusterIP": "10.96.0.50",
                      "ports": [{"name": "http", "port": 80, "protocol": "TCP",
                                 "nodePort": 30080}], **service}],
        "endpointSlices": [{"namespace": "ns", "name": "svc-1", "service": "svc",
                            "addressType": "IPv4",
                            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                            "endpoints": [{"addresses": [ip], "nodeName": "node-1"}
                                          for ip in endpoints]}],
    }  # fmt: skip


def _sync(service: dict, **kw: object):
    data = _data(service, **kw)  # type: ignore[arg-type]
    return render_ipvs(ProxyState.from_dict(data), IpvsOptions.from_dict(data))


def test_client_ip_affinity_makes_persistent_virtual_servers() -> None:
    sync = _sync({"sessionAffinity": "ClientIP", "sessionAffinityTimeoutSeconds": 600})
    svc = sync.ipvs.find_service("TCP", "10.96.0.50", 80)
    assert svc.flags & F_PERSISTENT and svc.timeout == 600
    assert "TCP  10.96.0.50:80 rr persistent 600\n" in sync.ipvsadm()


def test_mh_scheduler_sets_the_source_port_hash_flag() -> None:
    sync = _sync({}, scheduler="mh")
    svc = sync.ipvs.find_service("TCP", "10.96.0.50", 80)
    assert svc.flags == F_SCHED2
    assert "TCP  10.96.0.50:80 mh (mh-port)\n" in sync.ipvsadm()


def test_kube_proxy_sysctls_and_weight_one_real_servers() -> None:
    sync = _sync({}, endpoints=("10.244.1.10", "10.244.2.20"))
    s = sync.ipvs.sysctls
    assert (s.conntrack, s.expire_nodest_conn, s.expire_quiescent_template) == (True,) * 3
    svc = sync.ipvs.find_service("TCP", "10.96.0.50", 80)
    assert [(d.key, d.weight, d.fwd) for d in svc.dests] == [
        ("10.244.2.20:8080", 1, "Masq"),  # added last, so first in the kernel's list
        ("10.244.1.10:8080", 1, "Masq"),
    ]


def test_nodeports_on_every_node_address_including_loopback_when_unrestricted() -> None:
    sync = _sync({"type": "NodePort"})
    addrs = {svc.addr for svc in sync.ipvs.services.values() if svc.port == 30080}
    assert addrs == {"127.0.0.1", "192.168.49.2"}
    sync = _sync({"type": "NodePort"}, nodePortAddresses=["192.168.49.0/24"])
    addrs = {svc.addr for svc in sync.ipvs.services.values() if svc.port == 30080}
    assert addrs == {"192.168.49.2"}


def test_dummy_interface_and_kube_ipvs_ips_hold_service_addresses() -> None:
    sync = _sync({"type": "LoadBalancer", "externalIPs": ["192.168.49.2", "203.0.113.7"],
                  "loadBalancerIngressIPs": ["198.51.100.9"]})  # fmt: skip
    # The node already has 192.168.49.2: it is not added to kube-ipvs0.
    assert sync.dummy_addresses == ["10.96.0.50", "203.0.113.7", "198.51.100.9"]
    members = sync.ipsets["KUBE-IPVS-IPS"].members()
    assert members == ["10.96.0.50", "198.51.100.9", "203.0.113.7"]
    assert sync.ipsets["KUBE-EXTERNAL-IP"].members() == [
        "192.168.49.2,tcp:80",
        "203.0.113.7,tcp:80",
    ]
    assert sync.ipsets["KUBE-LOAD-BALANCER"].members() == ["198.51.100.9,tcp:80"]


def test_source_ranges_without_the_node_block_the_node_itself() -> None:
    sync = _sync({"type": "LoadBalancer", "loadBalancerIngressIPs": ["198.51.100.9"],
                  "loadBalancerSourceRanges": ["203.0.113.0/24"]})  # fmt: skip
    assert sync.ipsets["KUBE-LOAD-BALANCER-SOURCE-CIDR"].members() == [
        "198.51.100.9,tcp:80,203.0.113.0/24"
    ]
    assert not sync.ipsets["KUBE-LOAD-BALANCER-SOURCE-IP"].entries
    assert (
        "-A KUBE-IPVS-OUT-FILTER -s 198.51.100.9 -m ipvs --vaddr 198.51.100.9 --vproto tcp "
        "--vport 80 -j DROP" in sync.restore
    )
    sync = _sync({"type": "LoadBalancer", "loadBalancerIngressIPs": ["198.51.100.9"],
                  "loadBalancerSourceRanges": ["192.168.49.0/24"]})  # fmt: skip
    assert sync.ipsets["KUBE-LOAD-BALANCER-SOURCE-IP"].members() == [
        "198.51.100.9,tcp:80,198.51.100.9"
    ]
    assert "KUBE-IPVS-OUT-FILTER -s" not in sync.restore


def test_local_endpoints_go_to_the_loopback_set() -> None:
    sync = _sync({})
    assert sync.ipsets["KUBE-LOOP-BACK"].members() == ["10.244.1.10,tcp:8080,10.244.1.10"]
    assert (
        '-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip '
        'for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src '
        "-j MASQUERADE" in sync.restore
    )


def test_restore_puts_nat_before_filter_and_jumps_are_prepended() -> None:
    sync = _sync({})
    assert sync.restore.index("*nat") < sync.restore.index("*filter")
    full = node_restore(sync.restore).splitlines()
    inputs = [x for x in full if x.startswith("-A INPUT ")]
    assert [x.split()[-1] for x in inputs] == [
        "KUBE-IPVS-FILTER",
        "KUBE-PROXY-FIREWALL",
        "KUBE-NODE-PORT",
    ]


def test_cluster_ip_masquerade_variants() -> None:
    rule = "-m set --match-set KUBE-CLUSTER-IP {} -j KUBE-MARK-MASQ"
    assert rule.format("src,dst") in _sync({}).restore
    assert rule.format("dst,dst") in _sync({}, masqueradeAll=True).restore
    detector = {"mode": "ClusterCIDR", "cidr": "10.244.0.0/16"}
    restore = _sync({}, localDetector=detector).restore
    assert "KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ" in restore


def test_ipset_list_text() -> None:
    sync = _sync({"type": "NodePort"})
    listing = sync.ipset_list()
    block = listing.split("Name: KUBE-NODE-PORT-TCP\n", 1)[1].split("\n\n", 1)[0]
    assert block == (
        "Type: bitmap:port\n"
        "Revision: 3\n"
        "Header: range 0-65535\n"
        "Size in memory: 8264\n"
        "References: 1\n"
        "Number of entries: 1\n"
        "Members:\n"
        "30080"
    )
    cluster = listing.split("Name: KUBE-CLUSTER-IP\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert cluster[0:2] == ["Type: hash:ip,port", "Revision: 7"]
    assert cluster[2].startswith("Header: family inet hashsize 1024 maxelem 65536 bucketsize 12")
    assert cluster[4:] == ["References: 3", "Number of entries: 1", "Members:",
                           "10.96.0.50,tcp:80"]  # fmt: skip


def test_node_without_ipvs_modules_falls_back_to_iptables() -> None:
    data = _data({})
    data["node"]["ipvsAvailable"] = False
    options = IpvsOptions.from_dict(data)
    mode, message = effective_mode("ipvs", options.ipvs_available)
    assert mode == "iptables"
    assert "falls back to iptables" in message["en"] and "回退" in message["zh"]
    assert effective_mode("ipvs", True)[0] == "ipvs"
    assert effective_mode("nftables", False)[0] == "nftables"


@pytest.mark.parametrize(
    ("proxy", "message"),
    [
        ({"scheduler": "fastest"}, "proxy.scheduler: unknown IPVS scheduler 'fastest'"),
        ({"excludeCIDRs": ["nonsense"]}, "proxy.excludeCIDRs"),
    ],
)
def test_bad_options_are_clear_errors(proxy: dict, message: str) -> None:
    with pytest.raises(StateError, match=message):
        IpvsOptions.from_dict(_data({}, **proxy))


def test_render_cli_prints_ipvsadm_ipsets_and_rules(tmp_path, capsys) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(_data({"type": "NodePort"})))
    assert main(["render", "--cluster", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("IP Virtual Server version 1.2.1 (size=4096)\n")
    assert "\nName: KUBE-NODE-PORT-TCP\n" in out and out.endswith("COMMIT\n")
    path.write_text(yaml.safe_dump(_data({}, scheduler="nope")))
    assert main(["render", "--cluster", str(path)]) == 2
    assert "unknown IPVS scheduler" in capsys.readouterr().err


def test_node_commands_ipvsadm_and_ipset() -> None:
    sync = _sync({"type": "NodePort"})
    listing = sync.ipvsadm_command(["-Ln", "-t", "10.96.0.50:80"])
    assert listing.status == 0 and listing.stdout.splitlines()[2] == "TCP  10.96.0.50:80 rr"
    names = sync.ipset_command(["list", "-n"]).stdout.splitlines()
    assert "KUBE-CLUSTER-IP" in names and len(names) == 17
    assert sync.ipset_command(["add", "KUBE-CLUSTER-IP", "1.2.3.4,tcp:1"]).status == 2


def _resync(data: dict, previous):
    return render_ipvs(ProxyState.from_dict(data), IpvsOptions.from_dict(data), previous)


def test_resync_keeps_connections_and_scheduler_state() -> None:
    data = _data({}, endpoints=("10.244.1.10", "10.244.2.20"))
    first = _resync(data, None)
    d = first.ipvs.process("TCP", "10.244.9.9", 1000, "10.96.0.50", 80)
    again = _resync(data, first.ipvs)
    assert again.ipvs is first.ipvs and again.ipvs.conns.lookup(d.conn.key) is d.conn
    nxt = again.ipvs.process("TCP", "10.244.9.9", 1001, "10.96.0.50", 80)
    assert nxt.dest is not d.dest  # rr went on from where it was


def test_removed_endpoint_drains_gracefully_for_tcp_and_goes_at_once_for_udp() -> None:
    data = _data({}, endpoints=("10.244.1.10", "10.244.2.20"))
    sync = _resync(data, None)
    svc = sync.ipvs.find_service("TCP", "10.96.0.50", 80)
    busy = sync.ipvs.process("TCP", "10.244.9.9", 1000, "10.96.0.50", 80).dest
    data["endpointSlices"][0]["endpoints"] = [
        e for e in data["endpointSlices"][0]["endpoints"] if e["addresses"][0] != busy.addr
    ]
    sync = _resync(data, sync.ipvs)
    assert svc.find(busy.addr, 8080) is busy and busy.weight == 0  # quiesced, still there
    for conn in list(sync.ipvs.conns.conns.values()):
        sync.ipvs.conns.expire(conn)
    sync = _resync(data, sync.ipvs)
    assert svc.find(busy.addr, 8080) is None  # drained: deleted on the next sync
    data["endpointSlices"][0]["endpoints"].append({"addresses": [busy.addr]})
    sync = _resync(data, sync.ipvs)
    assert svc.find(busy.addr, 8080).weight == 1


def test_resync_edits_changed_services_and_deletes_gone_ones() -> None:
    data = _data({"type": "NodePort"})
    sync = _resync(data, None)
    data["services"][0]["sessionAffinity"] = "ClientIP"
    data["services"][0]["type"] = "ClusterIP"
    del data["services"][0]["ports"][0]["nodePort"]  # the API clears it with the type
    sync = _resync(data, sync.ipvs)
    assert [(s.addr, s.port, s.timeout) for s in sync.ipvs.services.values()] == [
        ("10.96.0.50", 80, 10800)
    ]

"""iptables-mode syncs: what a partial sync rewrites, what it reports as changed, what the
options change in the rules, and how a refused restore leads to a full resync."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.sim.kubeproxy.flows import trace_flow
from app.sim.kubeproxy.iptables import SyncResult, render_restore
from app.sim.kubeproxy.iptables_node import NodeTables, RestoreError
from app.sim.kubeproxy.sort import canonical, service_name
from app.sim.kubeproxy.state import ProxyState


def cluster(n_services: int = 2, endpoints: int = 2, **proxy: Any) -> dict[str, Any]:
    services, slices = [], []
    for i in range(n_services):
        services.append(
            {
                "namespace": "ns",
                "name": f"svc{i}",
                "clusterIP": f"10.96.0.{10 + i}",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080 + i}],
                "type": "NodePort",
            }
        )
        slices.append(
            slice_(i, [f"10.244.{i * 4 + e // 250}.{e % 250 + 1}" for e in range(endpoints)])
        )
    return {
        "node": {"name": "node-a", "primaryIP": "192.168.49.2",
                 "interfaces": {"lo": ["127.0.0.1/8"], "eth0": ["192.168.49.2/24"]}},
        "proxy": {"localDetector": {"mode": "ClusterCIDR", "cidr": "10.244.0.0/16"}} | proxy,
        "services": services,
        "endpointSlices": slices,
    }  # fmt: skip


def slice_(i: int, ips: list[str]) -> dict[str, Any]:
    return {
        "namespace": "ns",
        "name": f"svc{i}-1",
        "service": f"svc{i}",
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip]} for ip in ips],
    }


def restore_of(**proxy: Any) -> str:
    return render_restore(ProxyState.from_dict(cluster(**proxy))).restore


def test_partial_sync_rewrites_only_the_changed_service() -> None:
    state = ProxyState.from_dict(cluster())
    first = render_restore(state)
    svc0 = state.views["ns/svc0"].ports[0].port
    svc1 = state.views["ns/svc1"].ports[0].port
    state.set_endpoint_slice(slice_(0, ["10.244.0.1", "10.244.0.9"]))
    second = render_restore(state, full=False, previous=first)
    assert not second.full and second.applied
    assert f":{svc0.svc_chain} - [0:0]" in second.restore
    assert f":{svc1.svc_chain} - [0:0]" not in second.restore
    # both Services' dispatch rules are always rewritten
    assert second.restore.count("-A KUBE-SERVICES ") == 3  # two ClusterIPs + the tail
    kinds = {(c.chain, c.kind) for c in second.changes}
    assert (svc0.svc_chain, "rewritten") in kinds
    old_sep = state.views["ns/svc0"].ports[0].sep_chains  # after the change
    assert any(k == "created" and c in old_sep.values() for c, k in kinds)
    assert any(k == "deleted" and c.startswith("KUBE-SEP-") for c, k in kinds)
    assert second.deleted_chains and all(c.startswith("KUBE-SEP-") for c in second.deleted_chains)
    assert svc1.svc_chain not in second.changed_chains
    # every change names the service port it belongs to, deleted chains included
    assert {c.service for c in second.changes if c.table == "nat"} == {"ns/svc0:http"}


def test_unchanged_partial_sync_changes_nothing() -> None:
    state = ProxyState.from_dict(cluster())
    first = render_restore(state)
    again = render_restore(state, full=False, previous=first)
    assert again.changes == [] and again.written_chains == ()
    assert again.node.rules("nat", "KUBE-SERVICES") == first.node.rules("nat", "KUBE-SERVICES")


def test_refused_restore_changes_nothing_and_forces_a_full_sync() -> None:
    state = ProxyState.from_dict(cluster())
    first = render_restore(state)
    sep = next(iter(state.views["ns/svc1"].ports[0].sep_chains.values()))
    svc0 = state.views["ns/svc0"].ports[0].port.svc_chain
    first.node.add_rule("nat", f"-A {svc0} -j {sep}")  # someone else jumps to svc1's chain
    state.delete_service("ns/svc1")
    failed = render_restore(state, full=False, previous=first)
    assert not failed.applied and failed.need_full_sync and failed.exit_status == 4
    assert f"chain {sep}" in (failed.error or "")
    assert failed.node.rules("nat", sep) == first.node.rules("nat", sep)
    retry = render_restore(state, full=False, previous=failed)
    assert retry.full and retry.applied
    assert sep not in retry.node.chain_names("nat")


def test_masquerade_options() -> None:
    masq_all = restore_of(masqueradeAll=True)
    assert "--dport 80 -j KUBE-MARK-MASQ" in masq_all and "! -s 10.244.0.0/16" not in masq_all
    no_detector = restore_of(localDetector={"mode": "None"})
    assert 'cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j KUBE-MARK-MASQ' not in no_detector
    assert "--random-fully" in restore_of(randomFully=True)
    real_mark = restore_of(masqueradeMark="0x00004000")
    assert "-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000" in real_mark


def test_nodeport_addresses_and_localhost() -> None:
    tail = "kubernetes service nodeports; NOTE: this must be the last rule in this chain"
    assert f'"{tail}" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS' in restore_of()
    off = restore_of(localhostNodePorts=False)
    assert "--dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS" in off
    assert "KUBE-FIREWALL" not in off and "127.0.0.0/8 --dport" not in off
    only = restore_of(nodePortAddresses=["192.168.49.0/24", "127.0.0.0/8"])
    assert f'"{tail}" -d 192.168.49.2 -j KUBE-NODEPORTS' in only
    assert f'"{tail}" -d 127.0.0.1 -j KUBE-NODEPORTS' in only  # localhost NodePorts are on


def test_large_cluster_drops_endpoint_comments() -> None:
    state = ProxyState.from_dict(cluster(n_services=2, endpoints=501))
    result = render_restore(state)
    assert result.large_cluster
    dnat = [line for line in result.restore.splitlines() if "-j DNAT" in line]
    assert len(dnat) == 1002 and not any("-m comment" in line for line in dnat)
    assert '"ns/svc0:http cluster IP"' in result.restore  # dispatch comments stay


def test_flow_follows_every_branch_and_reports_masquerade() -> None:
    state = ProxyState.from_dict(cluster(endpoints=3))
    node = render_restore(state).node
    pod = trace_flow(node, src="10.244.5.5", proto="TCP", dst="10.96.0.10", dport=80)
    assert pod.endpoints == ["10.244.0.1:8080", "10.244.0.2:8080", "10.244.0.3:8080"]
    assert not pod.masq
    outside = trace_flow(
        node, src="203.0.113.9", proto="tcp", dst="192.168.49.2", dport=30080,
        local_ips=["192.168.49.2"],
    )  # fmt: skip
    assert outside.masq and len(outside.endpoints) == 3
    assert trace_flow(node, src="203.0.113.9", proto="udp", dst="10.96.0.10", dport=80).output == ""


def test_canonical_sort_keys() -> None:
    assert service_name('-A X -m comment --comment "ns1/svc1:p80 cluster IP" -j Y') == "ns1/svc1"
    assert service_name("-A X -m comment --comment ns2/svc2 -j Y") == "ns2/svc2"
    text = "*nat\n:KUBE-SERVICES - [0:0]\n:A - [0:0]\n:KUBE-NODEPORTS - [0:0]\n-X A\nCOMMIT\n"
    assert canonical(text) == (
        "*nat\n:KUBE-NODEPORTS - [0:0]\n:KUBE-SERVICES - [0:0]\n:A - [0:0]\n-X A\nCOMMIT\n"
    )


@pytest.mark.parametrize(
    ("text", "status", "message"),
    [
        ("*nat\n-X NOPE\nCOMMIT\n", 1, "line 2 failed: No chain/target/match by that name."),
        ("*nat\n:A - [0:0]\n", 1, "COMMIT expected at line 3"),
        ("*nat\nbogus\nCOMMIT\n", 2, "Bad argument `bogus'\nError occurred at line: 2"),
        ("-A X\n", 1, "iptables-restore: line 1 failed"),
        ("*nat\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-X B\nCOMMIT\n", 4, "CHAIN_DEL failed"),
    ],
)
def test_refused_restores_speak_like_iptables_restore(text: str, status: int, message: str) -> None:
    """Messages and exit statuses as iptables-restore 1.8.9 (nf_tables) gives them."""
    node = NodeTables()
    with pytest.raises(RestoreError) as refused:
        node.apply_restore(text)
    assert refused.value.status == status and message in str(refused.value)
    assert node.tables == {}  # all or nothing


def test_a_partial_sync_an_hour_after_the_last_full_one_is_full() -> None:
    state = ProxyState.from_dict(cluster())
    first = render_restore(state, now=100.0)
    soon = render_restore(state, full=False, previous=first, now=100.0 + 3599)
    assert not soon.full
    late = render_restore(state, full=False, previous=soon, now=100.0 + 3601)
    assert late.full and late.written_chains  # every service chain rewritten again
    after = render_restore(state, full=False, previous=late, now=100.0 + 3700)
    assert not after.full


def test_first_sync_reports_the_jumps_from_the_builtin_chains() -> None:
    first = render_restore(ProxyState.from_dict(cluster()))
    created = {(c.table, c.chain) for c in first.changes if c.kind in ("created", "rewritten")}
    assert {("nat", "PREROUTING"), ("nat", "OUTPUT"), ("filter", "FORWARD")} <= created
    prerouting = next(c for c in first.changes if c.chain == "PREROUTING")
    assert prerouting.after == (
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    )


def test_large_cluster_defers_stale_chain_removal_and_keeps_reused_chains() -> None:
    state = ProxyState.from_dict(cluster(n_services=3, endpoints=400))
    first = render_restore(state, now=0.0)
    assert first.large_cluster
    seps = state.views["ns/svc0"].ports[0].sep_chains
    gone, kept = seps["10.244.0.1:8080"], seps["10.244.0.2:8080"]
    ips = [f"10.244.{e // 250}.{e % 250 + 1}" for e in range(400)]
    state.set_endpoint_slice(
        slice_(0, [ip for ip in ips if ip not in ("10.244.0.1", "10.244.0.2")])
    )
    second = render_restore(state, full=False, previous=first, now=5.0)
    assert second.deleted_chains == () and gone in second.node.chain_names("nat")
    state.set_endpoint_slice(slice_(0, [ip for ip in ips if ip != "10.244.0.1"]))  # .2 is back
    third = render_restore(state, full=False, previous=second, now=10.0)
    assert third.deleted_chains == ()
    later = render_restore(state, full=False, previous=third, now=45.0)  # sync period passed
    assert later.deleted_chains == (gone,)
    assert kept in later.node.chain_names("nat")
    replayed = later.replay()
    assert replayed.tables["nat"].chains == later.node.tables["nat"].chains


def test_a_service_chain_made_by_hand_is_removed_by_the_next_sync() -> None:
    state = ProxyState.from_dict(cluster())
    first = render_restore(state)
    first.node = first.node.apply_restore("*nat\n:KUBE-SEP-HANDMADE0000000 - [0:0]\nCOMMIT\n")
    second = render_restore(state, full=False, previous=first)
    assert second.deleted_chains == ("KUBE-SEP-HANDMADE0000000",)
    assert "-X KUBE-SEP-HANDMADE0000000" in second.restore


def test_a_stored_sync_lets_the_next_one_be_partial() -> None:
    """A lab stored between requests: the snapshot survives JSON, and the sync after it
    writes the same restore input as one made with the previous result in memory."""
    state = ProxyState.from_dict(cluster(n_services=3))
    first = render_restore(state)
    stored = SyncResult.from_snapshot(json.loads(json.dumps(first.snapshot())))
    assert stored.node.tables["nat"].chains == first.node.tables["nat"].chains
    state.delete_service("ns/svc2")
    state.set_endpoint_slice(slice_(0, ["10.244.0.7"]))
    in_memory = render_restore(state, full=False, previous=first)
    reloaded = render_restore(state, full=False, previous=stored)
    assert not reloaded.full and reloaded.restore == in_memory.restore
    assert reloaded.deleted_chains == in_memory.deleted_chains != ()
    assert reloaded.node.tables["nat"].chains == in_memory.node.tables["nat"].chains


def test_a_stored_failed_sync_makes_the_next_one_full() -> None:
    state = ProxyState.from_dict(cluster())
    first = render_restore(state)
    sep = next(iter(state.views["ns/svc1"].ports[0].sep_chains.values()))
    svc0 = state.views["ns/svc0"].ports[0].port.svc_chain  # not rewritten by a partial sync
    first.node.add_rule("nat", f"-A {svc0} -j {sep}")
    state.delete_service("ns/svc1")
    failed = render_restore(state, full=False, previous=first)
    assert not failed.applied
    stored = SyncResult.from_snapshot(json.loads(json.dumps(failed.snapshot())))
    assert render_restore(state, full=False, previous=stored).full

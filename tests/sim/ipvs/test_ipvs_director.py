"""The director's per-packet decision: connection entries, counters, timeouts, persistence,
quiescing sysctls and "no destination" (kernel-facts.md sections 1 and 3)."""

from __future__ import annotations

from app.sim.ipvs.director import Ipvs
from tests.sim.ipvs.ipvs_helpers import VIP, service


def _open(ipvs: Ipvs, src: str = "192.168.49.100", sport: int = 40000, **kw: object):
    return ipvs.process("TCP", src, sport, VIP, 80, **kw)  # type: ignore[arg-type]


def test_new_tcp_connection_is_inactive_until_established() -> None:
    ipvs = Ipvs()
    svc, _ = service("rr", [("A", 1)], ipvs)
    d = _open(ipvs)
    assert d.verdict == "IPVS" and d.via == "scheduler"
    a = svc.dests[0]
    assert (a.activeconns, a.inactconns) == (0, 1)
    ipvs.tcp_event(d.conn, "ESTABLISHED", 1.0)
    assert (a.activeconns, a.inactconns) == (1, 0)
    ipvs.tcp_event(d.conn, "TIME_WAIT", 2.0)
    assert (a.activeconns, a.inactconns) == (0, 1)
    ipvs.conns.expire_due(2.0 + 120)
    assert (a.activeconns, a.inactconns) == (0, 0)


def test_udp_flows_are_always_inactive_and_expire_after_300s() -> None:
    ipvs = Ipvs()
    svc = ipvs.add_service("UDP", "10.96.0.10", 53, "rr")
    a = ipvs.add_dest(svc, "10.244.0.5", 53, fwd="Masq")
    ipvs.process("UDP", "10.244.1.3", 52000, "10.96.0.10", 53, now=0.0)
    assert (a.activeconns, a.inactconns) == (0, 1)
    ipvs.process("UDP", "10.244.1.3", 52000, "10.96.0.10", 53, now=200.0)  # refreshes
    ipvs.conns.expire_due(450.0)
    assert a.inactconns == 1
    ipvs.conns.expire_due(500.0)
    assert a.inactconns == 0


def test_existing_entry_is_followed_without_scheduling() -> None:
    ipvs = Ipvs()
    svc, _ = service("rr", [("A", 1), ("B", 1)], ipvs)
    first = _open(ipvs)
    again = _open(ipvs, syn=False)
    assert again.via == "connection" and again.dest is first.dest
    assert svc.stats.conns == 1 and svc.stats.inpkts == 2


def test_non_syn_without_entry_is_not_scheduled() -> None:
    ipvs = Ipvs()
    service("rr", [("A", 1)], ipvs)
    assert _open(ipvs, syn=False).verdict == "ACCEPT"


def test_no_destination_is_icmp_port_unreachable_even_for_tcp() -> None:
    ipvs = Ipvs()
    service("rr", [], ipvs)
    d = _open(ipvs)
    assert d.verdict == "REJECT"
    assert "ICMP port unreachable" in d.reason["en"]


def test_packet_to_unknown_virtual_server_goes_up_the_stack() -> None:
    ipvs = Ipvs()
    assert ipvs.process("TCP", "1.1.1.1", 1, "10.9.9.9", 80).verdict == "ACCEPT"


def test_persistence_bypasses_the_scheduler_and_counts_persistconns() -> None:
    ipvs = Ipvs()
    svc, letters = service("rr", [("A", 1), ("B", 1)], ipvs, timeout=10800)
    picks = {
        letters[_open(ipvs, sport=p, now=float(p - 40000)).dest.addr] for p in range(40000, 40005)
    }
    assert picks == {"A"}
    a = svc.dests[0]
    assert a.persistconns == 1 and a.inactconns == 5
    other = _open(ipvs, src="192.168.49.101")
    assert letters[other.dest.addr] == "B"  # a second client network is scheduled


def test_template_timer_restarts_with_each_new_connection_and_outlives_its_conns() -> None:
    ipvs = Ipvs()
    _svc, _ = service("rr", [("A", 1), ("B", 1)], ipvs, timeout=100)
    _open(ipvs, sport=1, now=0.0)
    _open(ipvs, sport=2, now=90.0)
    tpl = next(iter(ipvs.conns.templates.values()))
    assert tpl.expires == 190.0
    ipvs.conns.expire_due(191.0)  # SYN_RECV conns (60 s) are gone, then the template
    assert not ipvs.conns.templates and not ipvs.conns.conns


def test_template_waits_while_it_controls_a_live_connection() -> None:
    ipvs = Ipvs()
    _svc, _ = service("rr", [("A", 1)], ipvs, timeout=10)
    d = _open(ipvs, now=0.0)
    ipvs.tcp_event(d.conn, "ESTABLISHED", 0.0)  # 900 s
    ipvs.conns.expire_due(30.0)
    assert ipvs.conns.templates  # retried 60 s later, not expired


def test_weight_zero_keeps_affinity_unless_expire_quiescent_template() -> None:
    ipvs = Ipvs()
    svc, letters = service("rr", [("A", 1), ("B", 1)], ipvs, timeout=10800)
    _open(ipvs, sport=1)
    svc.edit_dest(svc.dests[0], weight=0)
    assert letters[_open(ipvs, sport=2).dest.addr] == "A"
    ipvs.sysctls.expire_quiescent_template = True
    d = _open(ipvs, sport=3)
    assert letters[d.dest.addr] == "B" and d.via == "scheduler"


def test_syn_reusing_entry_of_quiesced_dest_is_dropped_with_conntrack() -> None:
    ipvs = Ipvs()
    svc, letters = service("rr", [("A", 1), ("B", 1)], ipvs)
    ipvs.sysctls.expire_nodest_conn = True
    ipvs.sysctls.conntrack = True
    _open(ipvs)
    svc.edit_dest(svc.dests[0], weight=0)
    dropped = _open(ipvs, now=1.0)
    assert dropped.verdict == "DROP" and "retransmission" in dropped.reason["en"]
    retry = _open(ipvs, now=2.0)
    assert retry.verdict == "IPVS" and letters[retry.dest.addr] == "B"


def test_syn_reusing_time_wait_entry_is_rescheduled_without_conntrack() -> None:
    ipvs = Ipvs()
    _svc, letters = service("rr", [("A", 1), ("B", 1)], ipvs)
    d = _open(ipvs)
    ipvs.tcp_event(d.conn, "TIME_WAIT", 0.0)
    again = _open(ipvs, now=1.0)
    assert again.via == "scheduler" and letters[again.dest.addr] == "B"
    ipvs.sysctls.conn_reuse_mode = 0
    ipvs.tcp_event(again.conn, "TIME_WAIT", 1.0)
    assert _open(ipvs, now=2.0).via == "connection"


def test_deleted_dest_drops_its_connections_packets() -> None:
    ipvs = Ipvs()
    svc, _ = service("rr", [("A", 1), ("B", 1)], ipvs)
    ipvs.sysctls.expire_nodest_conn = True
    d = _open(ipvs)
    svc.del_dest(d.dest)
    assert _open(ipvs, syn=False).verdict == "DROP"
    assert not ipvs.conns.conns  # expired with expire_nodest_conn


def test_upper_threshold_sets_overload_and_lower_clears_it() -> None:
    ipvs = Ipvs()
    svc, letters = service("rr", [("A", 1), ("B", 1)], ipvs)
    a = svc.dests[0]
    svc.edit_dest(a, u_threshold=2, l_threshold=1)
    got = [letters[_open(ipvs, sport=p).dest.addr] for p in range(1, 6)]
    assert got == ["A", "B", "A", "B", "B"]  # A overloaded after its second connection
    assert a.overloaded
    for conn in [c for c in list(ipvs.conns.conns.values()) if c.dest is a]:
        ipvs.conns.expire(conn)
    assert not a.overloaded


def test_clear_removes_services_and_connections() -> None:
    ipvs = Ipvs()
    svc, _ = service("rr", [("A", 1)], ipvs, timeout=60)
    _open(ipvs)
    ipvs.clear()
    assert not ipvs.services and not ipvs.conns.all()
    assert svc.dests[0].inactconns == 0 and svc.dests[0].persistconns == 0


def test_editing_thresholds_clears_overload_only_when_raised_or_removed() -> None:
    ipvs = Ipvs()
    svc, _ = service("rr", [("A", 1)], ipvs)
    a = svc.dests[0]
    svc.edit_dest(a, u_threshold=1)
    _open(ipvs)
    assert a.overloaded
    svc.edit_dest(a, u_threshold=1, weight=2)  # same threshold: still overloaded
    assert a.overloaded
    svc.edit_dest(a, u_threshold=5)
    assert not a.overloaded


def test_client_packets_drive_the_tcp_state_and_the_counters() -> None:
    ipvs = Ipvs()
    svc, _ = service("rr", [("A", 1)], ipvs)
    a = svc.dests[0]
    d = _open(ipvs, tcp_flags=frozenset({"SYN"}))
    assert d.conn.state == "SYN_RECV" and (a.activeconns, a.inactconns) == (0, 1)
    _open(ipvs, tcp_flags=frozenset({"ACK"}), now=0.1)
    assert d.conn.state == "ESTABLISHED" and (a.activeconns, a.inactconns) == (1, 0)
    _open(ipvs, tcp_flags=frozenset({"FIN", "ACK"}), now=5.0)
    assert d.conn.state == "CLOSE_WAIT" and (a.activeconns, a.inactconns) == (0, 1)
    _open(ipvs, tcp_flags=frozenset({"RST"}), now=6.0)
    assert d.conn.state == "CLOSE" and d.conn.expires == 16.0

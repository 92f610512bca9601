"""What each target does to the packet and tells the engine (iptables-extensions(8))."""

from __future__ import annotations

import pytest
from rules_helpers import ctx, rule

from app.sim.netfilter.context import NatRange, Verdict
from app.sim.packet import Packet

PKT = Packet("10.0.0.5", "10.96.0.10", "tcp", 40000, 80, mark=0x0F0)


def apply(spec: str, context=None):  # type: ignore[no-untyped-def]
    context = context or ctx(PKT)
    return rule(spec).target.apply(context), context  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("spec", "mark"),
    [
        ("-j MARK --set-mark 0x4000", 0x4000),
        ("-j MARK --set-mark 0x4000/0xf000", 0x40F0),
        ("-j MARK --or-mark 0x4000", 0x40F0),
        ("-j MARK --and-mark 0x0f", 0x0),
        ("-j MARK --xor-mark 0x0f0", 0x0),
        ("-j MARK --set-xmark 0x4000/0x4000", 0x40F0),
        ("-j MARK --set-xmark 0x4000/0x0", 0x40F0),
    ],
)
def test_mark_rewrites_the_packet_mark_and_continues(spec: str, mark: int) -> None:
    result, context = apply(spec)
    assert result.verdict is Verdict.CONTINUE
    assert context.packet.mark == mark


def test_connmark_set_save_restore() -> None:
    context = ctx(PKT)
    apply("-j CONNMARK --set-mark 0x7", context)
    assert context.ctmark == 0x7
    apply("-j CONNMARK --save-mark", context)
    assert context.ctmark == 0x0F0
    context.ctmark = 0x123
    apply("-j CONNMARK --restore-mark", context)
    assert context.packet.mark == 0x123


def test_verdicts_and_jumps() -> None:
    assert apply("-j ACCEPT")[0].verdict is Verdict.ACCEPT
    assert apply("-j DROP")[0].verdict is Verdict.DROP
    assert apply("-j RETURN")[0].verdict is Verdict.RETURN
    jump = apply("-j KUBE-SERVICES")[0]
    assert (jump.verdict, jump.chain) == (Verdict.JUMP, "KUBE-SERVICES")
    goto = apply("-g KUBE-SVC-X")[0]
    assert (goto.verdict, goto.chain) == (Verdict.GOTO, "KUBE-SVC-X")


def test_reject_default_and_tcp_reset() -> None:
    default = apply("-j REJECT")[0]
    assert (default.verdict, default.reject_with) == (Verdict.REJECT, "icmp-port-unreachable")
    assert apply("-p tcp -j REJECT --reject-with tcp-rst")[0].reject_with == "tcp-reset"


def test_nat_targets_return_their_range() -> None:
    dnat = apply("-p tcp -j DNAT --to-destination 10.244.1.5:8080")[0]
    assert dnat.verdict is Verdict.DNAT
    assert dnat.nat == NatRange("10.244.1.5", "10.244.1.5", 8080, 8080)
    snat = apply("-p tcp -j SNAT --to-source 1.2.3.4-1.2.3.9:1000-2000 --random-fully")[0]
    assert snat.nat == NatRange("1.2.3.4", "1.2.3.9", 1000, 2000, random_fully=True)
    masq = apply("-j MASQUERADE --random")[0]
    assert (masq.verdict, masq.nat) == (Verdict.MASQUERADE, NatRange(random=True))
    redirect = apply("-p tcp -j REDIRECT --to-ports 3128")[0]
    assert (redirect.verdict, redirect.nat) == (Verdict.REDIRECT, NatRange(None, None, 3128, 3128))


def test_log_writes_a_line_and_notrack_marks_untracked() -> None:
    result, context = apply('-j LOG --log-prefix "kpl: "')
    assert result.verdict is Verdict.CONTINUE
    assert context.log[0].startswith("kpl: IN=eth0 OUT= SRC=10.0.0.5 DST=10.96.0.10 PROTO=TCP")
    _, context = apply("-j CT --notrack")
    assert context.notrack
    _, context = apply("-j CT")
    assert not context.notrack
    assert apply("-j TRACE")[0].verdict is Verdict.CONTINUE

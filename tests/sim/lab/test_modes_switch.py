"""Every registered mode runs every scenario: after a switch, a request from a pod to the
scenario's first Service reaches one of its endpoints, and the trace shows where the mode
decided (DNAT, the IPVS director or the userspace proxy)."""

from __future__ import annotations

import pytest

from app.sim.compare import default_request
from app.sim.lab import MODES, Lab
from app.sim.scenarios import SCENARIOS

EXPECTED = {"iptables", "ipvs", "userspace"}


def test_the_modes_are_registered_with_titles():
    assert set(MODES) >= EXPECTED
    assert "historical" in MODES["userspace"].title["en"]
    assert "历史" in MODES["userspace"].title["zh"]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("mode", sorted(MODES))
def test_switching_mode_keeps_the_cluster_serving(scenario: str, mode: str):
    lab = Lab.new(scenario, "iptables", 1)
    lab.set_mode(mode)
    assert lab.mode == mode
    src, dst = default_request(scenario, 1)
    out = lab.request(src, dst, count=3)
    assert sum(out["endpoints"].values()) == 3, out["failed"]
    for trace in out["traces"]:
        kinds = {s["kind"] for s in trace["steps"]}
        if mode == "ipvs":
            assert "ipvs" in kinds
        if mode == "userspace":
            assert "proxy" in kinds
        if mode == "iptables":
            assert any(s["matched"] and s["verdict"] == "DNAT" for s in trace["steps"])

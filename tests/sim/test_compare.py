"""Side by side: one request in the four modes, and the scale study measured by the real
renderers (iptables grows with the number of Services, IPVS and nftables stay flat)."""

from __future__ import annotations

import json

import pytest

from app.sim.compare import DATA_FILE, MODE_ORDER, compare_modes, measure, scale_study
from app.sim.lab import LabError


@pytest.fixture(scope="module")
def seed() -> dict:
    return compare_modes("seed", 1)


def test_each_mode_reaches_a_pod_of_the_service(seed: dict):
    assert [c["mode"] for c in seed["modes"]] == list(MODE_ORDER)
    for col in seed["modes"]:
        assert col["endpoint"] in ("10.244.1.137:8080", "10.244.1.138:8080"), col["mode"]
        assert col["steps"] == len(col["trace"]["steps"]) > 0
        assert col["rules_evaluated"] == col["trace"]["rules_evaluated"] > 0
        assert col["structure"]["en"] and col["structure"]["zh"]


def test_the_decision_is_where_each_mode_decides(seed: dict):
    by = {c["mode"]: c["decision"] for c in seed["modes"]}
    assert by["iptables"]["verdict"] == "DNAT" and by["iptables"]["chain"].startswith("KUBE-SEP-")
    assert by["ipvs"]["kind"] == "ipvs"
    assert by["nftables"]["verdict"] == "DNAT" and by["nftables"]["table"] == "kube-proxy"
    assert by["userspace"]["kind"] == "proxy"
    assert [c["historical"] for c in seed["modes"]] == [False, False, False, True]


def test_an_explicit_request_is_used():
    data = compare_modes("seed", 1, "node/node1", "10.97.139.74:8080")
    assert data["src"] == "node/node1"
    assert all(c["trace"]["request"]["origin"] == "local" for c in data["modes"])


@pytest.mark.parametrize(
    ("scenario", "src", "dst"),
    [("nope", None, None), ("seed", "pod/nope", "svc/my-first-deploy:8080")],
)
def test_bad_input_is_a_lab_error(scenario, src, dst):
    with pytest.raises(LabError):
        compare_modes(scenario, 1, src, dst)


def test_iptables_cost_grows_with_services_ipvs_and_nftables_stay_flat():
    small, large = measure(10), measure(100)
    grow = large["iptables"]["rules_evaluated"] - small["iptables"]["rules_evaluated"]
    assert grow >= 40  # about one KUBE-SERVICES rule per Service before the middle one
    assert large["iptables"]["rules_rewritten"] > 3 * small["iptables"]["rules_rewritten"]
    for mode in ("ipvs", "nftables"):
        assert large[mode]["rules_evaluated"] == small[mode]["rules_evaluated"]
        assert large[mode]["rules_rewritten"] <= 2 * small[mode]["rules_rewritten"]
    # userspace walks its portal chain (one rule per Service) but rewrites nothing:
    assert large["userspace"]["rules_evaluated"] > 5 * small["userspace"]["rules_evaluated"]
    assert large["userspace"]["rules_rewritten"] == small["userspace"]["rules_rewritten"] == 0


def test_the_stored_study_is_what_the_renderers_measure():
    stored = json.loads(DATA_FILE.read_text())["points"]
    assert sorted(map(int, stored)) == [10, 100, 1000, 10000]
    for size in (10, 100):
        assert stored[str(size)] == measure(size)
    big = stored["10000"]
    assert big["iptables"]["rules_evaluated"] > 50 * big["ipvs"]["rules_evaluated"]
    assert big["nftables"]["rules_evaluated"] == stored["10"]["nftables"]["rules_evaluated"]


def test_scale_study_returns_the_requested_sizes():
    study = scale_study((10, 100, 1000, 10000))
    assert study["sizes"] == [10, 100, 1000, 10000]
    assert study["modes"] == MODE_ORDER
    evaluated = [p["iptables"]["rules_evaluated"] for p in study["points"]]
    assert evaluated == sorted(evaluated) and evaluated[-1] > 100 * evaluated[0]

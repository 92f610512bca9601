"""Every scenario opens as a lab whose Services answer through kube-proxy's rules: a request
to each ClusterIP port reaches only that Service's ready endpoints (or is refused when it
has none), and a lab that uses `-m recent` (session affinity) stores and continues exactly."""

from __future__ import annotations

import json

import pytest

from app.sim.lab import Lab
from app.sim.scenarios import SCENARIOS


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_each_service_reaches_only_its_ready_endpoints(scenario: str) -> None:
    lab = Lab.new(scenario=scenario, seed=2)
    summary = lab.summary()
    for svc in summary["services"]:
        if not svc["clusterIP"] or svc["clusterIP"] == "None":
            continue
        key = f"{svc['namespace']}/{svc['name']}"
        ready = {e["address"] for e in summary["endpoints"][key] if e["ready"]}
        for port in svc["ports"]:
            if port["protocol"] != "TCP":
                continue
            dst = f"svc/{svc['namespace']}/{svc['name']}:{port['port']}"
            out = lab.request("node/" + summary["nodes"][-1]["name"], dst, count=40)
            reached = {e.split(":")[0] for e in out["endpoints"]}
            if ready:
                assert reached and reached <= ready, (key, out["endpoints"])
            else:
                assert not reached and out["failed"], key


def test_session_affinity_sticks_and_survives_storage() -> None:
    lab = Lab.new(scenario="session-affinity", seed=4)
    svc = lab.summary()["services"][0]
    dst = f"svc/{svc['name']}:{svc['ports'][0]['port']}"
    first = lab.request("external", dst, count=20)
    assert len(first["endpoints"]) == 1
    copy = Lab.from_data(json.loads(json.dumps(lab.to_data())))
    assert copy.request("external", dst, count=20) == lab.request("external", dst, count=20)
    assert copy.request("external", dst, count=5)["endpoints"] == first["endpoints"] | {
        next(iter(first["endpoints"])): 5
    }

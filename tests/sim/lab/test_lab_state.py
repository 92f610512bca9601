"""A lab as data: undo, storing and restoring mid-conversation, recipes, imported dumps,
the limits that protect it, bulk requests, and tab completion."""

from __future__ import annotations

import json

import pytest

from app.sim.lab import Lab, LabError, complete

SVC = "10.97.139.74:8080"
TALK = [
    "kubectl scale deployment/my-first-deploy --replicas=3",
    f"curl {SVC}",
    "iptables -I INPUT 1 -s 192.168.49.99 -j DROP",
    "kubectl lab set-ready pod/my-first-deploy-785c6c79d9-g4xr7 false",
    f"curl {SVC}",
]
LATER = [f"curl {SVC}", "conntrack -L", "kubectl get pods -o wide", "iptables-save -c"]


def replay(lab: Lab, lines: list[str]) -> list[tuple]:
    results = [lab.run(line) for line in lines]
    results_data = [(r.output, r.error, r.status, r.traces) for r in results]
    bulk = json.dumps(lab.request("external", SVC, count=60), sort_keys=True)
    return [*results_data, (bulk,)]


def test_undo_takes_back_the_last_change() -> None:
    lab = Lab.new()
    assert not lab.undo()
    before = lab.rules("node1")
    lab.run("kubectl get svc")
    lab.run("kubectl scale deployment/my-first-deploy --replicas=3")
    assert lab.rules("node1") != before
    assert lab.undo()
    assert lab.rules("node1") == before
    assert len(lab.summary()["pods"]) == 2
    assert lab.run("iptables -N LAB").changed
    assert lab.undo() and "LAB" not in lab.ruleset().tables["filter"].chains


def test_to_data_from_data_round_trip_continues_identically() -> None:
    lab = Lab.new(seed=7)
    for line in TALK:
        lab.run(line)
    data = json.loads(json.dumps(lab.to_data()))
    copy = Lab.from_data(data)
    assert copy.to_data() == lab.to_data()
    assert replay(copy, LATER) == replay(lab, LATER)
    assert copy.to_data() == lab.to_data()


def test_a_restored_lab_syncs_partially_and_keeps_learner_edits() -> None:
    lab = Lab.new()
    lab.run("iptables -I FORWARD 1 -s 10.9.9.9 -j DROP")
    copy = Lab.from_data(json.loads(json.dumps(lab.to_data())))
    res = copy.run("kubectl scale deployment/my-first-deploy --replicas=3")
    node1 = next(n for n in res.sync["nodes"] if n["node"] == "node1")
    assert node1["full"] is False
    assert "-A FORWARD -s 10.9.9.9/32 -j DROP" in copy.rules("node1")


def test_from_data_refuses_what_it_cannot_read() -> None:
    with pytest.raises(LabError):
        Lab.from_data({"format": 99})
    data = Lab.new().to_data()
    del data["nodes"]
    with pytest.raises(LabError):
        Lab.from_data(data)


def test_recipe_recreates_an_equal_lab() -> None:
    lab = Lab.new(seed=3)
    for line in TALK:
        lab.run(line)
    lab.request("pod/my-first-deploy-785c6c79d9-7bgf5", "svc/my-first-deploy:8080", count=5)
    lab.undo()
    lab.import_dump("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n")
    recipe = json.loads(json.dumps(lab.recipe()))
    assert recipe["scenario"] == "seed" and recipe["seed"] == 3
    again = Lab.from_recipe(recipe)
    assert again.to_data() == lab.to_data()


def test_import_dump_becomes_a_node_requests_go_through() -> None:
    lab = Lab.new()
    dump = (
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        ":POSTROUTING ACCEPT [0:0]\n"
        "-A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination "
        "10.244.1.137:8080\nCOMMIT\n"
    )
    res = lab.import_dump(dump)
    assert res.ok and res.changed
    assert lab.run("hostname").output == "imported\n"
    out = lab.request("external", "10.96.0.1:443", node="imported")
    assert out["endpoints"] == {"10.244.1.137:8080": 1}
    assert out["traces"][0]["node"] == "imported"
    answer = "hello from my-first-deploy-785c6c79d9-7bgf5\n"
    assert lab.run("curl --from external 10.96.0.1:443").output == answer
    # curl on the node itself goes through OUTPUT, where this dump has no DNAT.
    assert lab.run("curl 10.96.0.1:443").status == 28
    bad = lab.import_dump("*nat\n-A NOPE -j ACCEPT\nCOMMIT\n")
    assert not bad.ok and bad.error.startswith("iptables-restore")


def test_huge_paste_is_refused_and_nothing_is_lost() -> None:
    lab = Lab.new()
    lab.run("iptables -N KEEP")
    before = lab.to_data()
    res = lab.run("iptables -N X " + "A" * (257 * 1024), lang="zh")
    assert not res.ok and "KiB" in res.error and "实验" in res.error
    assert lab.to_data() == before


def test_too_many_rules_are_refused_and_the_lab_is_unchanged() -> None:
    lab = Lab.new()
    before = lab.rules("node1")
    rules = "".join(f"-A LAB -s 10.{i // 250}.{i % 250}.1 -j DROP\n" for i in range(5001))
    res = lab.run("iptables-restore --noflush\n*filter\n:LAB - [0:0]\n" + rules + "COMMIT")
    assert not res.ok and "5000" in res.error
    assert lab.rules("node1") == before


def test_bulk_requests_keep_the_first_trace_complete_and_count_all() -> None:
    lab = Lab.new()
    out = lab.request("external", SVC, count=2000)
    assert len(out["traces"]) == 1 and out["traces"][0]["steps"]
    assert sum(out["endpoints"].values()) == 2000
    assert len(lab.request("external", SVC, count=50)["traces"]) == 50
    for bad in (0, 10_001):
        with pytest.raises(LabError):
            lab.request("external", SVC, count=bad)
    with pytest.raises(LabError):
        lab.request("pod/nobody", SVC)


def test_completion_offers_commands_objects_and_chains() -> None:
    lab = Lab.new()
    assert complete(lab, "cu") == ["curl"]
    assert complete(lab, "kubectl sc") == ["scale"]
    assert "pod/my-first-deploy-785c6c79d9-7bgf5" in complete(lab, "kubectl lab set-ready po")
    assert complete(lab, "kubectl get pods my") == [
        "my-first-deploy-785c6c79d9-7bgf5",
        "my-first-deploy-785c6c79d9-g4xr7",
    ]
    assert complete(lab, "kubectl scale deployment/") == ["deployment/my-first-deploy"]
    assert complete(lab, "iptables -t n") == ["nat"]
    svc = complete(lab, "iptables -t nat -L KUBE-SV")
    assert len(svc) == 1 and svc[0].startswith("KUBE-SVC-")
    assert "10.97.139.74:8080" in complete(lab, "curl ")
    assert complete(lab, "ssh ma") == ["master"]

"""The lab's console on the course's seed cluster: kubectl and iptables answer as the real
tools do, curl reaches the Service's pods, and kube-proxy rewrites a node's rules after every
cluster change while learner edits live or die as on a real node."""

from __future__ import annotations

from collections import Counter

import pytest

from app.sim.lab import COMMANDS, Lab, LabError

SVC = "10.97.139.74:8080"
POD_A, POD_B = "10.244.1.137:8080", "10.244.1.138:8080"


def svc_chain(lab: Lab) -> str:
    chains = lab.ruleset("node1").tables["nat"].chains
    return next(name for name in chains if name.startswith("KUBE-SVC-"))


def sep_chain(lab: Lab, endpoint: str) -> str:
    rules = lab.rules("node1")
    line = next(r for r in rules.splitlines() if f"--to-destination {endpoint}" in r)
    return line.split()[1]


def reached(lab: Lab, count: int = 200, src: str = "external") -> Counter[str]:
    return Counter(lab.request(src, SVC, count=count)["endpoints"])


@pytest.fixture
def lab() -> Lab:
    return Lab.new(scenario="seed", mode="iptables", seed=1)


def test_kubectl_get_svc_prints_the_chapter_listing(lab: Lab) -> None:
    res = lab.run("kubectl get svc", lang="en")
    assert res.ok and not res.error and not res.changed
    assert "my-first-deploy   ClusterIP   10.97.139.74   <none>        8080/TCP" in res.output


def test_curl_reaches_one_of_the_two_pods(lab: Lab) -> None:
    res = lab.run(f"curl {SVC}")
    assert res.ok, res.error
    assert res.output in (
        "hello from my-first-deploy-785c6c79d9-7bgf5\n",
        "hello from my-first-deploy-785c6c79d9-g4xr7\n",
    )
    (trace,) = res.traces
    assert trace["node"] == "node1"
    assert trace["endpoint"] in (POD_A, POD_B)
    assert any(s["chain"].startswith("KUBE-SVC-") for s in trace["steps"])


def test_200_requests_split_roughly_half_and_half(lab: Lab) -> None:
    counts = reached(lab)
    assert set(counts) == {POD_A, POD_B}
    assert sum(counts.values()) == 200
    assert all(70 <= n <= 130 for n in counts.values()), counts


def test_scaling_to_three_rewrites_kube_svc_and_reaches_three_pods(lab: Lab) -> None:
    chain = svc_chain(lab)
    res = lab.run("kubectl scale deployment/my-first-deploy --replicas=3")
    assert res.ok and res.changed
    node1 = [c for c in res.sync["changes"] if c["node"] == "node1"]
    assert {"chain": chain, "action": "rewritten"}.items() <= next(
        c for c in node1 if c["chain"] == chain
    ).items()
    assert any(c["action"] == "created" and c["chain"].startswith("KUBE-SEP-") for c in node1)
    assert chain in res.sync["summary"]["en"] and chain in res.sync["summary"]["zh"]
    assert len(reached(lab, 300)) == 3


def test_readiness_flip_removes_the_endpoint(lab: Lab) -> None:
    pod = "my-first-deploy-785c6c79d9-7bgf5"
    res = lab.run(f"kubectl lab set-ready pod/{pod} false")
    assert res.ok and res.sync is not None
    assert set(reached(lab, 100)) == {POD_B}
    lab.run(f"kubectl lab set-ready pod/{pod} true")
    assert set(reached(lab, 100)) == {POD_A, POD_B}


def test_learner_jump_into_kube_svc_steers_every_request_until_kube_proxy_rewrites(
    lab: Lab,
) -> None:
    chain, sep = svc_chain(lab), sep_chain(lab, POD_B)
    res = lab.run(f"iptables -t nat -I {chain} 1 -j {sep}")
    assert res.ok and res.changed, res.error
    assert set(reached(lab, 50)) == {POD_B}
    lab.run("kubectl scale deployment/my-first-deploy --replicas=3")
    assert len(reached(lab, 300)) == 3  # kube-proxy rewrote the chain: the edit is gone


def test_deleting_a_kube_sep_dnat_rule_changes_where_requests_go(lab: Lab) -> None:
    sep = sep_chain(lab, POD_A)
    assert lab.run(f"iptables -t nat -D {sep} 2").ok
    # The SEP chain without its DNAT falls through back to KUBE-SVC, whose next rule jumps
    # to the other endpoint: every connection now ends on POD_B.
    assert set(reached(lab, 100)) == {POD_B}


def test_learner_rule_in_a_builtin_chain_survives_a_sync(lab: Lab) -> None:
    assert lab.run("iptables -I FORWARD 1 -d 10.244.1.137 -j DROP").ok
    lab.run("kubectl scale deployment/my-first-deploy --replicas=3")
    assert "-A FORWARD -d 10.244.1.137/32 -j DROP" in lab.rules("node1")
    out = lab.request("external", SVC, count=100)
    assert POD_A not in out["endpoints"] and out["failed"]["DROP"] > 0


def test_curl_reports_reject_and_timeout_as_curl_does(lab: Lab) -> None:
    lab.run("kubectl scale deployment/my-first-deploy --replicas=0")
    res = lab.run(f"curl {SVC}")
    assert res.status == 7 and not res.ok
    expected = "Failed to connect to 10.97.139.74 port 8080 after 0 ms: Couldn't connect to server"
    assert res.error == f"curl: (7) {expected}\n"
    lab.run("kubectl scale deployment/my-first-deploy --replicas=2")
    lab.run("iptables -I FORWARD 1 -j DROP")
    res = lab.run(f"curl {SVC}")
    assert (res.status, res.error) == (
        28,
        "curl: (28) Connection timed out after 5000 milliseconds\n",
    )


def test_iptables_errors_keep_iptables_wording(lab: Lab) -> None:
    res = lab.run("iptables -A NO-SUCH-CHAIN -j ACCEPT")
    assert (res.ok, res.status) == (False, 1)
    assert res.error == "iptables: No chain/target/match by that name.\n"
    assert not res.changed
    res = lab.run("iptables -t nat -X KUBE-SERVICES")
    assert not res.ok and "Device or resource busy" in res.error


def test_unknown_command_gets_bash_wording_and_translated_hint(lab: Lab) -> None:
    en, zh = lab.run("foo --bar", lang="en"), lab.run("foo --bar", lang="zh")
    assert en.status == 127
    assert en.error.startswith("bash: foo: command not found\n")
    assert zh.error.startswith("bash: foo: command not found\n")
    assert en.error.splitlines()[1] != zh.error.splitlines()[1]


def test_ipvsadm_and_nft_explain_the_mode_in_both_languages(lab: Lab) -> None:
    for program in ("ipvsadm -Ln", "nft list ruleset"):
        en, zh = lab.run(program, "en"), lab.run(program, "zh")
        assert not en.ok and "iptables mode" in en.error
        assert "iptables 模式" in zh.error


def test_iptables_restore_takes_pasted_text_and_heredocs(lab: Lab) -> None:
    rules = "*filter\n:LAB-ONE - [0:0]\n-A LAB-ONE -j ACCEPT\nCOMMIT\n"
    res = lab.run("iptables-restore --noflush\n" + rules)
    assert res.ok, res.error
    res = lab.run("iptables-restore --noflush <<EOF\n" + rules.replace("ONE", "TWO") + "EOF")
    assert res.ok, res.error
    saved = lab.run("iptables-save -t filter").output
    assert ":LAB-ONE - [0:0]" in saved and "-A LAB-TWO -j ACCEPT" in saved
    assert "# Generated by iptables-save v1.8.9" in saved


def test_conntrack_lists_each_request_and_flushes(lab: Lab) -> None:
    lab.run(f"curl {SVC}")
    lab.run(f"curl {SVC}")
    res = lab.run("conntrack -L")
    assert res.output.count("dst=10.97.139.74") == 2
    assert res.error == "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.\n"
    lab.run("conntrack -F")
    assert lab.run("conntrack -L").output == ""


def test_help_history_clear_and_ssh(lab: Lab) -> None:
    assert "kubectl" in lab.run("help").output
    assert "iptables-restore" in lab.run("help iptables-restore", lang="zh").output
    assert lab.run("clear").clear
    history = lab.run("history").output.splitlines()
    assert history[0].split() == ["1", "help"] and history[-1].split() == ["4", "history"]
    assert lab.run("ssh master").ok and lab.run("hostname").output == "master\n"
    assert lab.run("ssh nowhere").status == 255


def test_every_console_command_has_help_in_both_languages() -> None:
    for name, command in COMMANDS.items():
        assert command.help["en"] and command.help["zh"], name
        assert command.help["en"] != command.help["zh"], name


def test_unknown_scenario_or_mode_is_a_lab_error() -> None:
    for bad in ("nope", ["seed"], None):
        with pytest.raises(LabError):
            Lab.new(scenario=bad)  # type: ignore[arg-type]
    with pytest.raises(LabError):
        Lab.new(seed="1")  # type: ignore[arg-type]
    with pytest.raises(LabError) as err:
        Lab.new(mode="ipvs-next")
    assert "iptables" in err.value.text("zh")


def test_summary_lists_nodes_pods_services_and_the_lab(lab: Lab) -> None:
    data = lab.summary()
    assert (data["mode"], data["seed"], data["scenario"]) == ("iptables", 1, "seed")
    node1 = next(n for n in data["nodes"] if n["name"] == "node1")
    assert len(node1["pods"]) == 2 and node1["rules"] > 10
    endpoints = data["endpoints"]["default/my-first-deploy"]
    assert {e["address"] for e in endpoints if e["ready"]} == {"10.244.1.137", "10.244.1.138"}


def test_rules_formats(lab: Lab) -> None:
    assert lab.rules("node1").startswith("*")
    assert "Chain KUBE-SERVICES" in lab.rules("node1", fmt="list")
    assert "-N KUBE-SERVICES" in lab.rules("node1", fmt="spec")
    with pytest.raises(LabError):
        lab.rules("node1", fmt="xml")
    with pytest.raises(LabError):
        lab.rules("node9")


def test_flushing_kube_proxy_tables_is_noticed_through_its_canary(lab: Lab) -> None:
    lab.run("iptables -t nat -F")
    assert lab.run(f"curl {SVC}").status == 28  # no jump to KUBE-SERVICES any more
    res = lab.run("iptables -t nat -X")
    assert res.sync is not None and "KUBE-PROXY-CANARY" in res.sync["summary"]["en"]
    (node,) = res.sync["nodes"]
    assert node["full"] and node["node"] == "node1"
    assert lab.run(f"curl {SVC}").output.startswith("hello from my-first-deploy-")


def test_kubectl_apply_reads_a_pasted_manifest(lab: Lab) -> None:
    manifest = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n"
        "    app: my-first-deploy\n  ports:\n  - port: 80\n    targetPort: 8080\n"
    )
    res = lab.run("kubectl apply -f - <<EOF\n" + manifest + "EOF")
    assert res.ok, res.error
    assert res.output == "service/web created\n"
    assert any(c["action"] == "created" for c in res.sync["changes"])
    assert lab.run("curl web:80").output.startswith("hello from my-first-deploy-")


def test_pipes_are_explained_not_run(lab: Lab) -> None:
    res = lab.run("iptables-save | grep KUBE", lang="zh")
    assert not res.ok and "管道" in res.error

"""The comparison rule itself (CONTRACTS.md): if it let a difference through, every
engine-vs-kernel test would pass for the wrong reason."""

from __future__ import annotations

from .compare import disagreement, project

RULESET = "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"
PACKET = {"origin": "external", "src": "192.168.49.100", "dst": "10.96.0.10", "proto": "tcp",
          "sport": 40000, "dport": 80}  # fmt: skip


def step(table: str, chain: str, rule: int | None, kind: str, verdict: str, matched=True) -> dict:
    return {"table": table, "chain": chain, "rule": rule, "kind": kind, "verdict": verdict,
            "matched": matched, "rule_text": None}  # fmt: skip


def trace(*steps: dict, delivered: str | None = "local") -> dict:
    packet = {"src": "192.168.49.100", "dst": "10.244.1.5", "sport": 40000, "dport": 8080}
    return {"steps": list(steps), "final": {"delivered": delivered, "packet": packet}}


ENGINE = trace(
    step("nat", "PREROUTING", 1, "rule", "JUMP:SVC"),
    step("nat", "SVC", 1, "rule", "CONTINUE", matched=False),
    step("nat", "SVC", 2, "rule", "DNAT"),
    step("mangle", "INPUT", None, "policy", "ACCEPT"),  # a table the ruleset does not have
    step("filter", "INPUT", 1, "rule", "REJECT"),
    step("filter", "CHECK", None, "return", "RETURN"),
)
KERNEL = trace(
    step("nat", "PREROUTING", 1, "rule", "JUMP:SVC"),
    step("nat", "SVC", 2, "rule", "ACCEPT"),
    step("filter", "INPUT", 1, "rule", "DROP"),
)


def test_projection_follows_the_contract() -> None:
    assert project(ENGINE, {"nat", "filter"}) == [
        ("nat", "PREROUTING", 1, "rule", "JUMP:SVC"),
        ("nat", "SVC", 2, "rule", "ACCEPT"),
        ("filter", "INPUT", 1, "rule", "DROP"),
    ]


def test_equal_paths_agree() -> None:
    assert disagreement(RULESET, PACKET, ENGINE, KERNEL) is None


def test_another_rule_number_is_a_disagreement_and_is_marked() -> None:
    moved = trace(*KERNEL["steps"][:2], step("filter", "INPUT", 2, "rule", "DROP"))
    report = disagreement(RULESET, PACKET, ENGINE, moved, seed=7)
    assert report is not None
    assert "generator seed: 7" in report
    assert "! filter/INPUT #1 DROP" in report and "filter/INPUT #2 DROP" in report


def test_a_missing_policy_step_is_a_disagreement() -> None:
    extra = trace(*KERNEL["steps"], step("filter", "INPUT", None, "policy", "ACCEPT"))
    assert disagreement(RULESET, PACKET, ENGINE, extra) is not None


def test_another_ending_is_a_disagreement() -> None:
    dropped = trace(*KERNEL["steps"], delivered=None)
    report = disagreement(RULESET, PACKET, ENGINE, dropped)
    assert report is not None and '"delivered": null' in report

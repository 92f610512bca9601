"""Generated questions: for many seeds each kind's answer key is what the engine computes by
another route, and grading accepts exactly that answer."""

from __future__ import annotations

from collections import Counter

import pytest

from app.curriculum.quiz.generated import KINDS, generate
from app.curriculum.quiz.grading import answer_key, grade
from app.sim.ipvs.director import Ipvs

SEEDS = range(12)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_grades_its_key_right_and_every_other_choice_wrong(kind: str) -> None:
    for seed in SEEDS:
        question = generate(kind, seed)
        assert grade(question, answer_key(question)).correct
        for i in range(len(question.choices)):
            if i in question.correct:
                continue
            if question.type == "single":
                assert not grade(question, [i]).correct
            if question.type == "fill":  # another chain's name, typed
                assert not grade(question, question.choices[i]).correct
        if question.type == "fill":
            assert grade(question, f" {question.answers[0].lower()} ").correct
        assert generate(kind, seed) == question  # same seed, same question


def test_reach_matches_where_many_real_requests_land() -> None:
    from app.sim.lab import Lab
    from app.sim.lab.traffic import plan, send

    for seed in range(6):
        question = generate("reach", seed)
        reached = {question.choices[i] for i in question.correct}
        # The same lab, rebuilt, answering 200 connections through its own seeded draws.
        lab = _rebuilt_lab(seed, Lab)
        where = question.prompt["en"].split(" (")[0]
        source, target = where.split(" -> ")
        landed = send(lab, plan(lab, source, target, "tcp"), 200)["endpoints"]
        assert set(landed) == (reached - {"-"})


def _rebuilt_lab(seed: int, lab_class):  # type: ignore[no-untyped-def]
    import random

    from app.curriculum.quiz.generated import SCENARIOS

    rng = random.Random(f"quiz/{seed}")
    lab = lab_class.new(rng.choice(SCENARIOS), "iptables", seed)
    svc = lab.summary()["services"][0]
    lab.run(f"kubectl scale deployment {svc['selector']['app']} --replicas={rng.randint(1, 4)}")
    return lab


def test_probability_follows_the_cascade_one_over_n_minus_i_plus_one() -> None:
    for seed in SEEDS:
        question = generate("probability", seed)
        answer = question.choices[min(question.correct)]
        rules = question.context.splitlines()
        k = int(question.prompt["en"].split("jump rule ")[1].split()[0])
        n = len(rules)
        if k == n:
            assert answer == "none"
        else:
            assert float(answer) == pytest.approx(1 / (n - k + 1), abs=1e-9)


def test_sh_sends_one_client_to_one_backend_every_time() -> None:
    for seed in SEEDS:
        question = generate("sh-pick", seed)
        picked = question.choices[min(question.correct)]
        backends = question.choices[:-1]
        client = question.prompt["en"].split("client ")[1].rstrip("?")
        director = Ipvs()
        svc = director.add_service("TCP", "10.96.0.10", 80, "sh")
        for addr in backends:
            director.add_dest(svc, addr, 8080)
        picks = Counter(
            director.process("TCP", client, 40000 + i, "10.96.0.10", 80).dest.addr
            for i in range(20)
        )
        assert picks == Counter({picked: 20})


def test_ipvs_scale_counts_the_ready_pods() -> None:
    for seed in range(6):
        question = generate("ipvs-scale", seed)
        count = int(question.choices[min(question.correct)])
        replicas = int(question.prompt["en"].split("--replicas=")[1].split(",")[0])
        assert count <= replicas
        assert question.context.count("-> ") - 1 >= count  # the header line has one too

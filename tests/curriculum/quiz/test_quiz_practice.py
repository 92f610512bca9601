"""Sittings without the web: what a mock interview asks, how questions are shown, how a form
becomes an answer, and how the Leitner boxes move."""

from __future__ import annotations

from app.curriculum.quiz import practice
from app.curriculum.quiz.grading import BOX_DAYS, due_in_days, grade, next_box


class Form(dict):
    def getlist(self, key: str) -> list[str]:
        value = self.get(key, [])
        return value if isinstance(value, list) else [value]


def test_a_mock_interview_mixes_bank_and_generated_and_leaves_out_explain_questions() -> None:
    for seed in range(20):
        refs = practice.pick(seed, 10)
        assert len(refs) == len(set(refs)) == 10
        assert any(r.startswith("gen:") for r in refs)
        assert all(practice.resolve(r) is not None for r in refs)
        assert all(practice.resolve(r).type != "explain" for r in refs)


def test_a_drill_stays_on_its_topic() -> None:
    for topic in ("ipvs", "nftables", "troubleshooting"):
        refs = practice.pick(7, 5, topic)
        assert {practice.topic_of(r) for r in refs} == {topic}


def test_choices_are_shuffled_the_same_way_for_one_run_and_orderings_never_start_solved() -> None:
    shown = practice.show("bank:mode-default", "en", "run1")
    assert shown is not None
    assert practice.show("bank:mode-default", "en", "run1") == shown
    firsts = {practice.show("bank:mode-default", "en", f"r{i}").choices[0][1] for i in range(30)}
    assert len(firsts) > 1  # the right answer is not always on top
    for i in range(30):
        order = practice.show("bank:tc-five-hooks", "en", f"r{i}")
        assert [v for v, _ in order.choices] != sorted(v for v, _ in order.choices)


def test_an_ordering_from_the_form_is_graded_by_the_positions_given() -> None:
    shown = practice.show("bank:tc-five-hooks", "zh", "x")
    question = practice.resolve("bank:tc-five-hooks")
    right = Form({f"a0_{item}": str(item + 1) for item in range(3)})
    assert grade(question, practice.answer_from_form(shown, right, 0)).correct
    twice = Form({"a0_0": "1", "a0_1": "1", "a0_2": "2"})
    assert practice.answer_from_form(shown, twice, 0) is None
    assert not grade(question, None).correct
    wrong = Form({"a0_0": "3", "a0_1": "2", "a0_2": "1"})
    assert not grade(question, practice.answer_from_form(shown, wrong, 0)).correct
    words = practice.describe(shown, practice.answer_from_form(shown, wrong, 0))
    assert words == "POSTROUTING → FORWARD → PREROUTING"


def test_leitner_boxes_move_up_when_right_and_back_to_one_when_missed() -> None:
    assert [next_box(b, True) for b in range(1, 6)] == [2, 3, 4, 5, 5]
    assert {next_box(b, False) for b in range(1, 6)} == {1}
    assert [due_in_days(b) for b in range(1, 6)] == list(BOX_DAYS)

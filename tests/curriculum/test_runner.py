"""The runner and the validator catch broken lessons: a goal met before its solution, a
solution that misses its goal, a missing translation, an unknown goal kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.curriculum.goals import Context, check
from app.curriculum.model import load_course, load_lesson
from app.curriculum.runner import check_lesson, start_lab
from app.curriculum.validate import validate_course, validate_lesson

BASE = """\
id: {id}
title: {{zh: "标题", en: "Title"}}
summary: {{zh: "摘要", en: "Summary"}}
scenario: seed
mode: iptables
seed: 1
steps:
  - instruction: {{zh: "做", en: "Do"}}
    goal: {goal}
    hints: [{{zh: "提示", en: "Hint"}}]
    solution: {solution}
recap: {{zh: "小结", en: "Recap"}}
"""


def _lesson(tmp_path: Path, goal: str, solution: str, lesson_id: str = "demo") -> Path:
    folder = tmp_path / lesson_id
    folder.mkdir()
    (folder / "lesson.yaml").write_text(
        BASE.format(id=lesson_id, goal=goal, solution=solution), encoding="utf-8"
    )
    (folder / "prose.zh.md").write_text("正文", encoding="utf-8")
    (folder / "prose.en.md").write_text("Text", encoding="utf-8")
    return folder


def test_good_lesson_passes(tmp_path: Path) -> None:
    goal = "{kind: service_endpoints, service: my-first-deploy, count: 3}"
    folder = _lesson(tmp_path, goal, '["kubectl scale deployment my-first-deploy --replicas=3"]')
    lesson = load_lesson(folder)
    assert validate_lesson(lesson) == [] and check_lesson(lesson) == []


def test_goal_met_before_solution_is_reported(tmp_path: Path) -> None:
    goal = "{kind: service_endpoints, service: my-first-deploy, count: 2}"
    folder = _lesson(tmp_path, goal, '["kubectl get svc"]')
    assert check_lesson(load_lesson(folder)) == [
        "demo step 1: goal already met before the solution"
    ]


def test_solution_missing_its_goal_is_reported(tmp_path: Path) -> None:
    goal = "{kind: chain_exists, table: filter, chain: LAB-X}"
    folder = _lesson(tmp_path, goal, '["iptables -N LAB-Y"]')
    assert check_lesson(load_lesson(folder)) == ["demo step 1: goal not met after the solution"]


def test_failing_solution_command_is_reported(tmp_path: Path) -> None:
    goal = "{kind: chain_exists, table: filter, chain: LAB-X}"
    folder = _lesson(tmp_path, goal, '["iptables -A NOPE -j ACCEPT", "iptables -N LAB-X"]')
    errors = check_lesson(load_lesson(folder))
    assert len(errors) == 1 and "should succeed" in errors[0]


def test_missing_translation_and_unknown_kind(tmp_path: Path) -> None:
    folder = _lesson(tmp_path, "{kind: teleport}", '["kubectl get svc"]')
    (folder / "prose.zh.md").unlink()
    errors = validate_lesson(load_lesson(folder))
    assert "demo prose: no zh text" in errors
    assert any("unknown goal kind 'teleport'" in e for e in errors)


def test_unlisted_folder_is_an_error(tmp_path: Path) -> None:
    _lesson(tmp_path, "{kind: mode_is, mode: iptables}", '["kubectl get svc"]')
    (tmp_path / "index.yaml").write_text("tracks: []\n", encoding="utf-8")
    assert validate_course(load_course(tmp_path), tmp_path) == [
        "index: lesson folder demo is in no track"
    ]


def test_choice_needs_the_right_answer() -> None:
    lesson = load_course().lessons["iptables-commands"]
    lab = start_lab(lesson)
    step = lesson.steps[1]
    assert check(step.goal, Context(lab, step.answer, step.answer))
    for wrong in (None, 0, 2):
        assert not check(step.goal, Context(lab, wrong, step.answer))


def test_goal_traffic_leaves_the_lab_untouched() -> None:
    lesson = load_course().lessons["service-endpoints"]
    lab = start_lab(lesson)
    before = lab.to_data()
    goal = {"kind": "endpoints_reached", "from": "external", "to": "10.97.139.74:8080", "min": 2}
    assert check(goal, Context(lab))
    assert lab.to_data() == before


@pytest.mark.parametrize(
    "goal",
    [{"kind": "rule_exists", "table": "nat"}, {"kind": "endpoints_reached", "from": 3, "to": []}],
)
def test_malformed_goal_is_not_met(goal: dict[str, object]) -> None:
    assert not check(goal, Context(start_lab(load_course().lessons["service-endpoints"])))


def test_every_goal_reads_as_a_sentence_in_both_languages() -> None:
    """The "show the goal" rung never shows a placeholder or a raw regular expression."""
    from app.curriculum.goals import describe

    for lesson in load_course().ordered():
        for step in lesson.steps:
            for lang in ("en", "zh"):
                text = describe(step.goal, lang)
                assert text and "{" not in text and "\\" not in text, (lesson.id, text)
                assert ": ?" not in text and "(?" not in text, (lesson.id, text)


def test_readable_command_pattern() -> None:
    from app.curriculum.goals import readable

    assert readable(r"kubectl get (svc|services?)\b") == "kubectl get svc"
    assert readable(r"^conntrack (-L|--dump)") == "conntrack -L"
    assert readable(r"iptables .*-S KUBE-SERVICES|iptables-save") == "iptables … -S KUBE-SERVICES"


def test_missing_index_is_an_error_not_a_crash(tmp_path: Path) -> None:
    course = load_course(tmp_path)
    assert course.ordered() == [] and course.errors[0].startswith("index: index.yaml")

"""The interview question bank: `kube-proxy-lab quiz check` passes on the real bank, and the
validator catches what a broken question would show a learner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.curriculum.quiz.bank import TOPICS, TYPES, check_bank
from app.curriculum.quiz.grading import grade

REPO = Path(__file__).resolve().parents[3]


def test_quiz_check_passes_and_counts_types_and_topics() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "quiz", "check", "--generated", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "error:" not in done.stderr
    assert "by type:" in done.stdout and "by topic:" in done.stdout


def test_the_bank_is_large_and_covers_every_type_and_topic() -> None:
    questions, report = check_bank()
    assert report.errors == []
    assert len(questions) >= 80
    assert {q.type for q in questions} == set(TYPES)
    assert {q.topic for q in questions} == set(TOPICS)


def test_each_bank_answer_key_grades_right_and_a_wrong_answer_wrong() -> None:
    for question in check_bank()[0]:
        if question.type in ("single", "multiple"):
            assert grade(question, sorted(question.correct)).correct, question.id
            wrong = [i for i in range(len(question.choices)) if i not in question.correct]
            assert not grade(question, wrong[:1]).correct, question.id
        elif question.type == "order":
            n = len(question.items)
            assert grade(question, list(range(n))).correct
            assert not grade(question, list(reversed(range(n)))).correct
        elif question.type == "fill":
            assert grade(question, f"  {question.answers[0].upper()} ").correct
            assert not grade(question, "KUBE-NOPE").correct


def test_the_seed_chapters_mistakes_are_taught_right() -> None:
    by_id = {q.id: q for q in check_bank()[0]}
    right = {i: by_id[i].choices[min(by_id[i].correct)]["en"] for i in ("cmd-S", "cmd-I")}
    assert right["cmd-S"].startswith("Lists")
    assert right["cmd-I"].startswith("Inserts")
    default = by_id["mode-default"]
    assert default.choices[min(default.correct)]["en"] == "iptables"
    assert "v1.26" in by_id["mode-userspace-removed"].version["en"]


def _write(tmp: Path, body: str) -> Path:
    (tmp / "bad.yaml").write_text(body, encoding="utf-8")
    return tmp


def test_a_single_choice_with_two_right_answers_is_an_error(tmp_path: Path) -> None:
    bank = _write(
        tmp_path,
        """topic: service
questions:
  - id: two-right
    type: single
    lesson: nowhere
    prompt: {zh: 问, en: Ask}
    explain: {zh: 因为, en: Because}
    choices:
      - {zh: 甲, en: A, correct: true}
      - {zh: 乙, en: B, correct: true}
""",
    )
    _, report = check_bank(bank, tmp_path)
    assert any("exactly one right answer" in e for e in report.errors)
    assert any("nowhere" in w for w in report.warnings)  # no course index: a warning


def test_a_missing_language_and_a_dead_link_are_errors_once_the_course_is_whole(
    tmp_path: Path,
) -> None:
    (tmp_path / "index.yaml").write_text("tracks:\n  - id: t\n    lessons: [real]\n")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "lesson.yaml").write_text("id: real\n")
    bank = _write(
        tmp_path,
        """topic: service
questions:
  - id: no-english
    type: fill
    lesson: gone
    prompt: {zh: 问}
    explain: {zh: 因为, en: Because}
    answers: [x]
  - id: linked
    type: fill
    lesson: real
    prompt: {zh: 问, en: Ask}
    explain: {zh: 因为, en: Because}
    answers: [x]
""",
    )
    _, report = check_bank(bank, tmp_path)
    assert any("no-english prompt: missing en" in e for e in report.errors)
    assert any("'gone'" in e for e in report.errors)
    assert not any("'real'" in e for e in report.errors)

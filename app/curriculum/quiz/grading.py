"""Grading: one function for bank questions and generated ones, and the Leitner boxes that
bring missed questions back (spaced repetition).

An answer is what a form sends: a list of choice indexes (single, multiple, order: the
items' indexes in the order the learner put them), text (fill), or a self-grade (explain:
the number of rubric points the learner ticked). `grade` never raises on bad input: a
malformed answer is simply wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.curriculum.quiz.bank import Question
from app.curriculum.quiz.generated import Generated

#: Days until a question in box i (1-based) is due again; a miss sends it back to box 1.
BOX_DAYS = (0, 1, 3, 7, 16)


@dataclass(frozen=True)
class Verdict:
    correct: bool
    expected: str  # the right answer, as the page shows it


def _indexes(answer: object) -> list[int] | None:
    if isinstance(answer, int | str):
        answer = [answer]
    if not isinstance(answer, list | tuple):
        return None
    try:
        return [int(a) for a in answer]
    except (TypeError, ValueError):
        return None


def _fill(text: str) -> str:
    return " ".join(text.strip().lower().split())


def grade(question: Question | Generated, answer: object, lang: str = "en") -> Verdict:
    """Whether `answer` is right, and the right answer in `lang`."""
    if isinstance(question, Generated):
        return _grade_generated(question, answer)
    if question.type in ("single", "multiple"):
        picked = _indexes(answer)
        expected = " / ".join(question.choices[i][lang] for i in sorted(question.correct))
        return Verdict(picked is not None and set(picked) == question.correct, expected)
    if question.type == "order":
        picked = _indexes(answer)
        expected = " → ".join(item[lang] for item in question.items)
        return Verdict(picked == list(range(len(question.items))), expected)
    if question.type == "fill":
        given = _fill(answer) if isinstance(answer, str) else ""
        right = any(given == _fill(a) for a in question.answers)
        return Verdict(right, question.answers[0])
    points = _indexes(answer)
    # Self-graded: right when the learner ticks every rubric point.
    return Verdict(points is not None and len(set(points)) >= len(question.rubric), "")


def _grade_generated(question: Generated, answer: object) -> Verdict:
    if question.type == "fill":
        given = _fill(answer) if isinstance(answer, str) else ""
        return Verdict(any(given == _fill(a) for a in question.answers), question.answers[0])
    expected = ", ".join(question.choices[i] for i in sorted(question.correct))
    picked = _indexes(answer)
    return Verdict(picked is not None and set(picked) == question.correct, expected)


def answer_key(question: Generated) -> object:
    """The right answer of a generated question, as a form would send it."""
    return question.answers[0] if question.type == "fill" else sorted(question.correct)


def next_box(box: int, correct: bool) -> int:
    """The Leitner box after an answer: up one when right (at most the last), else box 1."""
    return min(box + 1, len(BOX_DAYS)) if correct else 1


def due_in_days(box: int) -> int:
    return BOX_DAYS[max(1, min(box, len(BOX_DAYS))) - 1]

"""Checks of a lesson's shape: both languages everywhere, known scenario, mode and goal
kinds with their parameters, and an index that lists every lesson folder exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.curriculum.goals import GOALS
from app.curriculum.model import LANGS, LESSONS_DIR, Course, Lesson, Step
from app.sim.lab.modes import MODES
from app.sim.scenarios import SCENARIOS


def _both(where: str, texts: dict[str, str]) -> list[str]:
    return [f"{where}: no {lang} text" for lang in LANGS if not texts.get(lang, "").strip()]


def _goal(where: str, step: Step) -> list[str]:
    goal: dict[str, Any] = step.goal
    kind = GOALS.get(str(goal.get("kind")))
    if kind is None:
        return [f"{where}: unknown goal kind {goal.get('kind')!r} (known: {', '.join(GOALS)})"]
    errors = [f"{where}: goal {goal['kind']} needs {p!r}" for p in kind.required if p not in goal]
    if goal["kind"] == "choice":
        options = goal.get("options") or []
        for i, option in enumerate(options):
            errors += _both(f"{where} option {i + 1}", option if isinstance(option, dict) else {})
        if not isinstance(step.answer, int) or not 0 <= step.answer < len(options):
            errors.append(f"{where}: a choice needs `answer`, the index of the right option")
    elif not step.solution:
        errors.append(f"{where}: no solution")
    return errors


def _step(where: str, step: Step) -> list[str]:
    errors = _both(f"{where} instruction", step.instruction) + _goal(where, step)
    if not step.hints:
        errors.append(f"{where}: at least one hint")
    for i, hint in enumerate(step.hints):
        errors += _both(f"{where} hint {i + 1}", hint)
    return errors


def validate_lesson(lesson: Lesson) -> list[str]:
    """Every shape error of `lesson` (an empty list when it is well formed)."""
    where = lesson.id or "?"
    errors = []
    if lesson.folder is not None and lesson.id != lesson.folder.name:
        errors.append(f"{where}: id differs from its folder {lesson.folder.name!r}")
    for name, texts in (("title", lesson.title), ("summary", lesson.summary)):
        errors += _both(f"{where} {name}", texts)
    errors += _both(f"{where} prose", lesson.prose) + _both(f"{where} recap", lesson.recap)
    if lesson.scenario not in SCENARIOS:
        errors.append(f"{where}: unknown scenario {lesson.scenario!r}")
    if lesson.mode not in MODES:
        errors.append(f"{where}: mode {lesson.mode!r} is not available in the lab")
    if not lesson.steps:
        errors.append(f"{where}: no steps")
    for i, step in enumerate(lesson.steps):
        errors += _step(f"{where} step {i + 1}", step)
    return errors


def validate_course(course: Course, root: Path = LESSONS_DIR) -> list[str]:
    """Errors of every lesson plus the index's: unlisted folders, ids listed twice."""
    errors = list(course.errors)
    listed = [i for t in course.tracks for i in t.lessons]
    errors += [f"index: {i} listed twice" for i in sorted(set(listed)) if listed.count(i) > 1]
    folders = {p.parent.name for p in root.glob("*/lesson.yaml")}
    errors += [f"index: lesson folder {f} is in no track" for f in sorted(folders - set(listed))]
    for track in course.tracks:
        errors += _both(f"track {track.id} title", track.title)
    for lesson in course.ordered():
        errors += validate_lesson(lesson)
    return errors

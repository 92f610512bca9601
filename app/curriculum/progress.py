"""A learner's way through a lesson, stored per session (`lesson_progress`): the lesson's lab
(a lab row like any other, so `/lab` opens it too), the current step, the hint ladder's rung
and the choices made. The web pages call these; goals are checked by `goals.check`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.curriculum.goals import Context, check
from app.curriculum.model import Lesson, Step
from app.curriculum.runner import start_lab
from app.sim.lab import Lab
from app.store.lessons import LessonProgress
from app.web.labs import repo, service
from app.web.labs.identity import Caller


@dataclass
class Place:
    """Where a learner is: the progress row and the lab it runs in."""

    progress: LessonProgress
    opened: service.Opened

    @property
    def lab(self) -> Lab:
        return self.opened.lab


def all_for(engine: Engine, learner: str | None) -> dict[str, LessonProgress]:
    """The learner's progress by lesson id (empty for a visitor without a session)."""
    if learner is None:
        return {}
    query = select(LessonProgress).where(col(LessonProgress.learner) == learner)
    with Session(engine, expire_on_commit=False) as session:
        return {row.lesson: row for row in session.exec(query)}


def _store(engine: Engine, row: LessonProgress) -> LessonProgress:
    with Session(engine, expire_on_commit=False) as session:
        merged = session.merge(row)
        session.commit()
        session.refresh(merged)
        return merged


def start(engine: Engine, lesson: Lesson, who: Caller, old: LessonProgress | None) -> Place:
    """A fresh lab for `lesson` (setup run) and progress at step 0, replacing `old`."""
    lab = start_lab(lesson)
    row, _token = repo.create(engine, lab.to_data(), who.session)
    progress = old or LessonProgress(learner=who.session or "", lesson=lesson.id, lab_id=row.id)
    progress.lab_id, progress.step, progress.rung = row.id, 0, 0
    progress.answers, progress.completed = {}, None
    progress.history_start = len(lab.console_history)
    return Place(_store(engine, progress), service.Opened(row, lab))


def open_place(engine: Engine, lesson: Lesson, who: Caller) -> Place:
    """The learner's place in `lesson`, starting it (or starting over when its lab is gone)."""
    progress = all_for(engine, who.session).get(lesson.id)
    if progress is not None:
        try:
            return Place(progress, service.open_lab(engine, progress.lab_id, who))
        except (service.NotFound, service.Unreadable):
            pass
    return start(engine, lesson, who, progress)


def current(lesson: Lesson, progress: LessonProgress) -> Step | None:
    return lesson.steps[progress.step] if progress.step < len(lesson.steps) else None


def goal_met(lesson: Lesson, place: Place) -> bool:
    step = current(lesson, place.progress)
    if step is None:
        return True
    answer = place.progress.answers.get(str(place.progress.step))
    context = Context(place.lab, answer, step.answer, place.progress.history_start)
    return check(step.goal, context)


def advance(engine: Engine, lesson: Lesson, place: Place) -> bool:
    """Move past every step whose goal is met now; True when at least one was."""
    moved = False
    while current(lesson, place.progress) is not None and goal_met(lesson, place):
        place.progress.step += 1
        place.progress.rung = 0
        moved = True
    if moved and place.progress.step >= len(lesson.steps) and place.progress.completed is None:
        place.progress.completed = datetime.now(UTC)
    if moved:
        place.progress = _store(engine, place.progress)
    return moved


def answer(engine: Engine, place: Place, choice: int) -> None:
    """Record the learner's choice for the current step."""
    place.progress.answers = {**place.progress.answers, str(place.progress.step): choice}
    place.progress = _store(engine, place.progress)


def climb(engine: Engine, lesson: Lesson, place: Place) -> None:
    """One rung up the ladder: the next hint, then the goal, then the solution."""
    step = current(lesson, place.progress)
    if step is not None and place.progress.rung < len(step.hints) + 2:
        place.progress.rung += 1
        place.progress = _store(engine, place.progress)


def run(engine: Engine, place: Place, line: str, lang: str) -> Any:
    """A console line in the lesson's lab, always saved: command goals read its history."""
    service.check_command(line)
    service.rate(engine, place.opened)
    return service.act(engine, place.opened, lambda lab: lab.run(line, lang), changed=True)

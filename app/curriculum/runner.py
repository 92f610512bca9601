"""Run a lesson as a learner would, from a fresh lab: setup, then each step's solution, and
prove each goal is NOT met before its solution and IS met after it (a step that passes by
itself teaches nothing). `kube-proxy-lab lessons check` and `make test` call `check_lesson`.
"""

from __future__ import annotations

from app.curriculum.goals import Context, check
from app.curriculum.model import Command, Lesson
from app.sim.lab import Lab


def start_lab(lesson: Lesson) -> Lab:
    """The lesson's lab: its scenario, mode and seed, with the setup commands run."""
    lab = Lab.new(lesson.scenario, lesson.mode, lesson.seed)
    for command in lesson.setup:
        lab.run(command.console_text())
    return lab


def _run(lab: Lab, command: Command, where: str) -> list[str]:
    result = lab.run(command.console_text())
    if result.ok == command.fails:
        want = "fail" if command.fails else "succeed"
        text = (result.error or result.output).strip().splitlines()
        return [f"{where}: `{command.line}` should {want}: {text[-1] if text else result.status}"]
    return []


def check_lesson(lesson: Lesson) -> list[str]:
    """Every failure of `lesson`'s solutions (empty when the lesson holds)."""
    lab = start_lab(lesson)
    start, errors = len(lab.console_history), []
    for i, step in enumerate(lesson.steps, 1):
        where = f"{lesson.id} step {i}"
        if check(step.goal, Context(lab, None, step.answer, start)):
            errors.append(f"{where}: goal already met before the solution")
        for command in step.solution:
            errors += _run(lab, command, where)
        if not check(step.goal, Context(lab, step.answer, step.answer, start)):
            errors.append(f"{where}: goal not met after the solution")
        if step.goal.get("kind") == "choice":
            wrong = next(a for a in range(len(step.goal["options"]) + 1) if a != step.answer)
            if check(step.goal, Context(lab, wrong, step.answer, start)):
                errors.append(f"{where}: a wrong answer passes")
    return errors

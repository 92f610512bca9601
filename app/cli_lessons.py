"""`kube-proxy-lab lessons check [LESSON_ID ...]`: validate the course and run every
lesson's solutions in a fresh lab (see app/curriculum/runner.py). Exit 0 when every lesson
holds, 1 when one fails, 2 for an unknown lesson id or sub-action."""

from __future__ import annotations

import argparse
import sys

from app.cli import Command, UsageError, register
from app.curriculum.model import load_course
from app.curriculum.runner import check_lesson
from app.curriculum.validate import validate_course, validate_lesson

HELP = "check the course: both languages, and every solution reaches every goal"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["check"], help="what to do with the lessons")
    parser.add_argument("lesson_ids", nargs="*", metavar="LESSON_ID", help="default: all")


def run(args: argparse.Namespace) -> int:
    course = load_course()
    unknown = [i for i in args.lesson_ids if i not in course.lessons]
    if unknown:
        raise UsageError(f"unknown lesson: {', '.join(unknown)} (see lessons/index.yaml)")
    if args.lesson_ids:
        lessons = [course.lessons[i] for i in args.lesson_ids]
        errors = [e for lesson in lessons for e in validate_lesson(lesson)]
    else:
        lessons, errors = course.ordered(), validate_course(course)
    for lesson in lessons:
        failures = check_lesson(lesson)
        errors += failures
        mark = "ok  " if not failures else "FAIL"
        print(f"{mark} {lesson.id} ({len(lesson.steps)} steps)")
    for error in errors:
        print(error, file=sys.stderr)
    print(f"{len(lessons)} lessons, {len(errors)} problem(s)")
    return 1 if errors else 0


register(Command("lessons", HELP, add_arguments, run))
